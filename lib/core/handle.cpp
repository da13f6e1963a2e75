// SPDX-License-Identifier: MIT
#include "core/handle.hpp"

#include <cstdio>
#include <cstdlib>

#include "core/log.hpp"

namespace kio {

void misuse(const char *fn, const void *p, const char *why) noexcept
{
	log_printf(KIO_LOG_ERROR, "%s(%p): %s", fn, p, why);
#ifndef NDEBUG
	// Synchronously too: the process ends before the log thread runs.
	fprintf(stderr, "kio: FATAL: %s(%p): %s\n", fn, p, why);
	abort();
#endif
}

bool handle_dead(HandleTag tag, HandleTag alive, const char *what, const void *p) noexcept
{
	if (__builtin_expect(tag == alive, 1))
		return false;
	char fn[64];
	snprintf(fn, sizeof(fn), "%s_destroy", what);
	misuse(fn, p, tag == HandleTag::Dead ? "destroyed twice" : "not one kio made");
	return true;
}

} // namespace kio
