// SPDX-License-Identifier: MIT
//
// kio-bench-nop-cxx - NOP round trips through the C++ layer: what a
// co_await adds on top of kio's C loop (bench/nop.c measures that loop
// against plain liburing).
//
// For each batch size B, B coroutines each co_await a NOP in a loop. Every
// loop round then reaps B completions, resumes the B coroutines, and each
// queues its next NOP: the same B-per-round rhythm as nop.c's kio side,
// with a coroutine resumption in place of a C callback.
//
//   kio-bench-nop-cxx [--quick] [--reps N]
//   kio-bench-nop-cxx --instr BATCH ROUNDS
//
// --instr: one run of ROUNDS rounds of BATCH NOPs, no output (for the
// instruction counts of bench/workloads/instr.sh).
//
// Prints result lines (bench/README.md): workload "nop", impl "kio-cxx",
// metric ops_per_s. Exit 77: no io_uring on this machine.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <kio/kio.hpp>

#include "bench_util.h"

namespace {

// cxx/kio has no NOP awaitable: build one the way cxx/kio/file.hpp builds
// its ops, on the public kio_nop().
auto AsyncNop(kio::IoContext &ctx)
{
	return kio::detail::MakeOp<kio::detail::AsVoid>(
		ctx.Native(),
		[](kio_ctx *c, kio_cb cb, void *ud) noexcept { return kio_nop(c, cb, ud); });
}

struct Tally {
	uint64_t done = 0;
	uint64_t errors = 0;
};

kio::Task<> Worker(kio::IoContext &ctx, uint64_t iters, Tally &tally)
{
	for (uint64_t i = 0; i < iters; i++) {
		auto r = co_await AsyncNop(ctx);
		tally.done++;
		if (!r)
			tally.errors++;
	}
}

kio::Task<> Batch(kio::IoContext &ctx, unsigned batch, uint64_t iters, Tally &tally)
{
	kio::TaskGroup group;
	for (unsigned j = 0; j < batch; j++)
		group.Spawn(Worker(ctx, iters, tally));
	co_await group.JoinAll(ctx);
}

// Seconds for iters rounds of batch NOPs, or < 0 on error.
double RunCxx(kio::IoContext &ctx, unsigned batch, uint64_t iters)
{
	Tally tally;
	double t0 = bench_now_s();
	ctx.RunUntilDone(Batch(ctx, batch, iters, tally));
	double t = bench_now_s() - t0;
	if (tally.done != iters * batch || tally.errors != 0) {
		std::fprintf(stderr, "kio-cxx: %llu of %llu NOPs completed, %llu errors\n",
			     (unsigned long long)tally.done, (unsigned long long)(iters * batch),
			     (unsigned long long)tally.errors);
		return -1;
	}
	return t;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc == 4 && std::strcmp(argv[1], "--instr") == 0) {
		unsigned batch = (unsigned)std::atoi(argv[2]);
		uint64_t rounds = std::strtoull(argv[3], nullptr, 10);
		if (batch < 1 || batch > 256 || rounds < 1)
			return 2;
		try {
			kio::IoContext ctx;
			return RunCxx(ctx, batch, rounds) < 0;
		} catch (const std::system_error &e) {
			std::fprintf(stderr, "kio-bench-nop-cxx: %s\n", e.what());
			return 77;
		}
	}
	bool quick = false;
	int reps = 0;
	for (int i = 1; i < argc; i++) {
		if (std::strcmp(argv[i], "--quick") == 0) {
			quick = true;
		} else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = std::atoi(argv[++i]);
			if (reps < 1 || reps > BENCH_MAX_REPS) {
				std::fprintf(stderr, "kio-bench-nop-cxx: --reps must be 1..%d\n",
					     BENCH_MAX_REPS);
				return 2;
			}
		} else {
			std::fprintf(stderr, "usage: kio-bench-nop-cxx [--quick] [--reps N]\n");
			return 2;
		}
	}
	if (reps == 0)
		reps = quick ? 3 : 5;
	double target_s = quick ? 0.03 : 0.2; // per run

	static const unsigned batches[] = {1, 8, 32, 128};
	try {
		kio::IoContext ctx;
		for (unsigned batch : batches) {
			// Size the runs so each takes about target_s (this also warms up).
			uint64_t iters = 16;
			double t;
			for (;;) {
				t = RunCxx(ctx, batch, iters);
				if (t < 0 || t >= target_s / 10)
					break;
				iters *= 2;
			}
			if (t < 0)
				return 1;
			iters = (uint64_t)((double)iters * target_s / t);
			if (iters == 0)
				iters = 1;
			double rate[BENCH_MAX_REPS];
			for (int r = 0; r < reps; r++) {
				t = RunCxx(ctx, batch, iters);
				if (t < 0)
					return 1;
				rate[r] = (double)(iters * batch) / t;
			}
			char params[32];
			std::snprintf(params, sizeof(params), "{\"batch\":%u}", batch);
			bench_emit("nop", "kio-cxx", params, "ops_per_s", "ops/s", true, rate, reps,
				   "co_await per NOP");
		}
	} catch (const std::system_error &e) {
		if (e.code() == std::errc::operation_not_permitted ||
		    e.code() == std::errc::function_not_supported) {
			std::fprintf(stderr, "kio-bench-nop-cxx: io_uring unavailable: skipped\n");
			return 77;
		}
		std::fprintf(stderr, "kio-bench-nop-cxx: %s\n", e.what());
		return 1;
	}
	return 0;
}
