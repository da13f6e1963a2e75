// SPDX-License-Identifier: MIT
// Handles the library gives out carry a tag that says whether they are
// alive. Destroying one twice (undefined by the contract, and a use after
// free) is then caught, where the memory was not reused yet: the tag was
// poisoned when the handle died. The second destroy touches nothing else:
// it aborts with a message in builds with assertions (NDEBUG unset), and
// logs an ERROR and returns in the others, never hangs.
#pragma once

#include <cstdint>

namespace kio {

enum class HandleTag : uint32_t {
	Ctx = 0x6b63747a,       // "kctx"
	Pool = 0x6b706f6c,      // "kpol"
	Dead = 0xdeadd1ed,
};

// Call at the top of a destroy function, before anything else is read.
// Returns true when the handle is not alive (what: its type, for the
// message).
bool handle_dead(HandleTag tag, HandleTag alive, const char *what, const void *p) noexcept;

} // namespace kio
