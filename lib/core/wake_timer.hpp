// SPDX-License-Identifier: MIT
// The loop's wake-up timer on io_uring: one kernel timeout
// (IORING_OP_TIMEOUT, absolute, CLOCK_MONOTONIC) kept armed no later than
// the timer wheel's nearest deadline, so a round with deadlines pending
// waits like one without: no clock read and no timed io_uring_enter()
// (which arms and cancels a kernel hrtimer on every wait it sleeps in).
//
// An idle timeout re-armed per message moves the wheel's nearest deadline
// later, never earlier, so the armed timeout keeps covering it and the
// loop arms again only when it fires (then the round reads the clock,
// expires what is due and arms at the new nearest) or when a deadline
// earlier than the armed one appears (it is moved with
// IORING_TIMEOUT_UPDATE). Firing early is harmless: the round finds
// nothing due. The epoll backend keeps the timed wait.
//
// Each arming gets a new generation in its user_data, so a CQE of an
// earlier arming (fired while its update was on the way) is told apart.
#pragma once

#include <cstdint>

#include <liburing.h>

#include "core/clock.hpp"

namespace kio {

struct WakeTimer {
	// Deadline the armed timeout fires at (kNever: none the loop can
	// count on). The loop may wait without a timeout while the wheel's
	// next deadline is >= at.
	uint64_t at = kNever;
	uint32_t gen = 0;     // generation of the armed timeout
	bool armed = false;   // its SQE went out and its CQE has not come back
	bool off = false;     // the kernel refused: timed waits, as on epoll
	__kernel_timespec ts{}; // read by the kernel when it takes the SQE
};

// user_data of the timeout (kUdWakeTimer | gen) and of its updates
// (kUdWakeTimerUpd | gen of the timeout they move); kInternal is set in
// both (ctx.hpp).
inline constexpr uint64_t kWakeTimerBit = uint64_t(1) << 61;
inline constexpr uint64_t kWakeTimerUpdBit = uint64_t(1) << 60;

} // namespace kio
