// SPDX-License-Identifier: MIT
// Monotonic nanoseconds: every deadline inside kio is on this clock.
#pragma once

#include <cstdint>
#include <ctime>

namespace kio {

inline constexpr uint64_t kNever = UINT64_MAX;

inline uint64_t clock_ns(clockid_t clock) noexcept
{
	timespec ts;
	clock_gettime(clock, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t mono_ns() noexcept { return clock_ns(CLOCK_MONOTONIC); }

// now + delta without wrapping past kNever.
inline uint64_t deadline_after(uint64_t now, uint64_t delta) noexcept
{
	return delta >= kNever - now ? kNever - 1 : now + delta;
}

} // namespace kio
