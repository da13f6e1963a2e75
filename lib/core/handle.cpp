// SPDX-License-Identifier: MIT
#include "core/handle.hpp"

#include <cstdio>
#include <cstdlib>

#include "core/log.hpp"

namespace kio {

bool handle_dead(HandleTag tag, HandleTag alive, const char *what, const void *p) noexcept
{
	if (__builtin_expect(tag == alive, 1))
		return false;
	const char *why = tag == HandleTag::Dead ? "destroyed twice" : "not one kio made";
	log_printf(KIO_LOG_ERROR, "%s_destroy(%p): %s", what, p, why);
#ifndef NDEBUG
	// Synchronously too: the process ends before the log thread runs.
	fprintf(stderr, "kio: FATAL: %s_destroy(%p): %s\n", what, p, why);
	abort();
#else
	return true;
#endif
}

} // namespace kio
