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

// A misuse that kio caught before it could corrupt anything: fn(p) why.
// Aborts with the message in builds with assertions; logs an ERROR and
// returns in NDEBUG builds, where the caller then does nothing.
void misuse(const char *fn, const void *p, const char *why) noexcept;

} // namespace kio
