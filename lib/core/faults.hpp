// SPDX-License-Identifier: MIT
// Fault injection (KIO_FAULTS, kio(7) "Fault injection"): a context created
// with the variable set makes, at a chosen rate, the things kio promises to
// survive happen on purpose, so programs can test their error paths and
// kio its contract:
//
//   short     read/write/recv/send on streams and files asks the kernel for
//             1..len-1 bytes (before submission: nothing read is ever lost)
//   nomem     an op start call fails with -ENOMEM, having started nothing
//   eagain    taking an SQE meets a kernel that wants its CQ drained first
//             (-EAGAIN/-EBUSY from io_uring_enter): kio parks and retries
//   eintr     the loop's wait is interrupted (-EINTR): kio goes round again
//   cancel    a started op is cancelled, through kio_op_cancel(), in the next
//             round: it ends -ECANCELED, or with its result if that won
//   delay     a final completion is held back for a round
//   overflow  tiny rings (8 entries) that overflow for real, and reap
//             passes that stop early and leave CQEs for later
//
// Off (the default) it costs nothing per op: no injection point sits on the
// inline fast path. A context with faults makes its SQ look full to that
// path (Ring::force_slow_start()), so every start takes start_op_slow(),
// and the loop takes one branch per round on c->faults.
//
// Decisions come from two deterministic generators per context, seeded
// from seed + the number of the context (0 for the first one created with
// faults in the process): one for what happens at calls (short, nomem,
// cancel), which therefore repeats exactly for the same sequence of calls,
// and one for what depends on the kernel's timing (eagain, eintr, delay,
// overflow).
#pragma once

#include <cstdint>
#include <vector>

#include "core/ctx.hpp"

namespace kio {

enum FaultKind : uint32_t {
	kFaultShort = 1u << 0,
	kFaultNomem = 1u << 1,
	kFaultEagain = 1u << 2,
	kFaultEintr = 1u << 3,
	kFaultCancel = 1u << 4,
	kFaultDelay = 1u << 5,
	kFaultOverflow = 1u << 6,
	kFaultAll = (1u << 7) - 1,
};

// The ring size the overflow kind caps both queues at.
inline constexpr uint32_t kFaultRingEntries = 8;

struct Faults {
	uint32_t kinds = 0;
	uint64_t threshold = 0; // a draw below it injects (rate * 2^64)
	uint64_t call_rng = 0;
	uint64_t loop_rng = 0;
	std::vector<int64_t> cancels; // ids to cancel at the next round
	std::vector<Ready> held;      // completions held back for a round

	// splitmix64: tiny, fast, and every seed gives a full-period stream.
	static uint64_t next(uint64_t &s) noexcept
	{
		uint64_t z = (s += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		return z ^ (z >> 31);
	}
	// Whether to inject kind k now. A kind that is off draws nothing, so
	// turning one kind on or off leaves the others' sequences alone only
	// per generator; that is fine, the spec is part of the seed.
	bool at_call(uint32_t k) noexcept { return (kinds & k) && next(call_rng) < threshold; }
	bool in_loop(uint32_t k) noexcept { return (kinds & k) && next(loop_rng) < threshold; }
	// A number in [0, n) from the call generator (n > 0).
	uint64_t call_below(uint64_t n) noexcept { return next(call_rng) % n; }
};

// Reads KIO_FAULTS for a context being created. Unset or empty: 0, no
// faults. Valid: 0, c->faults set and opts adjusted (the overflow kind
// shrinks the rings). Invalid: logs an ERROR and returns -EINVAL, so a test
// run that asked for faults never passes silently without them.
int faults_setup(kio_ctx *c, kio_ctx_opts *opts) noexcept;

// After the ring is set up: route every op start through the slow path.
void faults_arm(kio_ctx *c) noexcept;

// An op just started (slow path): maybe queue a cancel of it.
void faults_started(kio_ctx *c, int64_t id) noexcept;

} // namespace kio
