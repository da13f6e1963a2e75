// SPDX-License-Identifier: MIT
// What kio_ctx_stats() adds to the plain counters: where the loop's time
// goes (blocked in the wait, or running), CQ overflows, and the copy of the
// counters the loop publishes for readers on other threads.
//
// Cost: nothing per op; per round a few tests of `mode` and the count of
// SQEs handed over (18 instructions for a round of one nop, 305 before).
// With kObsTiming (KIO_CTX_STATS_TIME), per kio_ctx_run()/kio_ctx_run_once()
// call two clock reads and per wait that may block two more (about 20 ns
// each through the vDSO): a round of one nop then costs a third more, too
// much to be the default. With kObsPublish, a copy per round (about 60). The TSC would be cheaper,
// but on virtual machines it can stand still while CLOCK_MONOTONIC moves
// (seen: 25 ms of one against under 1 ms of the other), and a wait's time
// is exactly what such a pause would distort.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/clock.hpp"

struct kio_ctx;

namespace kio {

inline constexpr uint8_t kObsTiming = 1;
inline constexpr uint8_t kObsPublish = 2;

// The counters as published for other threads, in kio_stats order up to
// ops_max_inflight plus the fields kio_ctx_stats() derives.
enum PubField : unsigned {
	kPubSubmitted,
	kPubErrors,
	kPubTimeouts,
	kPubCancelled,
	kPubMaxInflight,
	kPubLoops,
	kPubEnters,
	kPubInflight,
	kPubOverflows,
	kPubDropped,
	kPubSqes,
	kPubWait,
	kPubRun,
	kPubAt,
	kPubCount
};

struct Obs {
	uint64_t wait_ns = 0;      // blocked in a wait
	uint64_t run_ns = 0;       // in the loop otherwise, up to run_mark
	uint64_t run_mark = 0;     // mono_ns() at the start of the running stretch under way (in_run)
	uint64_t cq_overflows = 0; // rounds that found the CQ overflowed

	// kObsTiming (KIO_CTX_STATS_TIME: keep wait_ns and run_ns), set at
	// creation; kObsPublish, raised by the first kio_ctx_stats() from
	// another thread: from then on the loop publishes at the end of every
	// round. One byte for both.
	std::atomic<uint8_t> mode{0};
	std::atomic<bool> wake_req{false}; // what signal_wake() raises; unread

	// The published copy, a seqlock: seq odd while the loop writes it,
	// 0 until the first publication. Its own cache line, away from the
	// loop's fields, so readers polling it do not slow the loop down.
	alignas(64) std::atomic<uint64_t> seq{0};
	std::atomic<uint64_t> pub[kPubCount] = {};
};

// stats.cpp: writes the published copy (the loop thread, publish raised).
[[gnu::noinline, gnu::cold]] void publish_stats(kio_ctx *c) noexcept;

// A CQ overflow seen by the loop: counted, and logged (rate-limited).
[[gnu::noinline, gnu::cold]] void note_cq_overflow(kio_ctx *c) noexcept;

} // namespace kio
