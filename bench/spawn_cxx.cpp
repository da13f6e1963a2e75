// SPDX-License-Identifier: MIT
//
// kio-bench-spawn-cxx - the cost of spawning a short task and joining it,
// the per-connection / per-request pattern: a TaskGroup spawns a task, the
// task finishes, the group is joined. Compared with Asio's co_spawn by
// bench/spawn_asio.cpp (same modes, same output).
//
//   --mode empty   the task returns at once (spawn, run, free, join)
//   --mode yield   the task goes once through the loop first (a post)
//   --count N      exactly N spawn+join, one result line, no repetition
//                  (for callgrind: difference two counts for a per-spawn cost)
//   --quick, --reps N   timed runs (ns per spawn+join)
//
// Prints result lines (bench/README.md): workload "spawn", impl "kio-cxx".
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <kio/kio.hpp>

#include "bench_util.h"

namespace {

// One trip through the loop, on the public kio_ctx_post().
struct Yield {
	kio_ctx *ctx;
	std::coroutine_handle<> h{};
	bool await_ready() const noexcept
	{
		return false;
	}
	bool await_suspend(std::coroutine_handle<> awaiting) noexcept
	{
		h = awaiting;
		return kio_ctx_post(ctx, &Resume, this) == 0;
	}
	void await_resume() const noexcept
	{
	}
	static void Resume(void *ud, int32_t res, uint32_t) noexcept
	{
		if (res == 0)
			static_cast<Yield *>(ud)->h.resume();
	}
};

uint64_t g_done = 0;

kio::Task<> Empty()
{
	g_done++;
	co_return;
}

kio::Task<> Yielding(kio::IoContext &ctx)
{
	co_await Yield{ctx.Native()};
	g_done++;
}

kio::Task<> Driver(kio::IoContext &ctx, bool yield, uint64_t n)
{
	kio::TaskGroup tasks;
	for (uint64_t i = 0; i < n; i++) {
		if (yield)
			tasks.Spawn(Yielding(ctx));
		else
			tasks.Spawn(Empty());
		co_await tasks.JoinAll(ctx);
	}
}

// Seconds for n spawn+join, or < 0 on error.
double Run(kio::IoContext &ctx, bool yield, uint64_t n)
{
	g_done = 0;
	double t0 = bench_now_s();
	ctx.RunUntilDone(Driver(ctx, yield, n));
	double t = bench_now_s() - t0;
	if (g_done != n) {
		std::fprintf(stderr, "kio-bench-spawn-cxx: %llu of %llu tasks ran\n",
			     (unsigned long long)g_done, (unsigned long long)n);
		return -1;
	}
	return t;
}

int Usage()
{
	std::fprintf(stderr, "usage: kio-bench-spawn-cxx [--mode empty|yield] [--count N | "
			     "[--quick] [--reps N]]\n");
	return 2;
}

} // namespace

int main(int argc, char **argv)
{
	bool quick = false, yield = false;
	int reps = 0;
	uint64_t count = 0;
	for (int i = 1; i < argc; i++) {
		if (std::strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (std::strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			const char *m = argv[++i];
			if (std::strcmp(m, "yield") == 0)
				yield = true;
			else if (std::strcmp(m, "empty") != 0)
				return Usage();
		} else if (std::strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = std::strtoull(argv[++i], nullptr, 10);
		else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = std::atoi(argv[++i]);
			if (reps < 1 || reps > BENCH_MAX_REPS)
				return Usage();
		} else
			return Usage();
	}
	if (reps == 0)
		reps = quick ? 3 : 7;
	const char *mode = yield ? "yield" : "empty";
	char params[48];
	std::snprintf(params, sizeof(params), "{\"mode\":\"%s\"}", mode);
	try {
		kio::IoContext ctx;
		if (count > 0) {
			double t = Run(ctx, yield, count);
			if (t < 0)
				return 1;
			double ns = t * 1e9 / (double)count;
			bench_emit("spawn", "kio-cxx", params, "ns_per_spawn", "ns", false, &ns, 1,
				   "one run of --count");
			return 0;
		}
		uint64_t n = 1000;
		double t = Run(ctx, yield, n); // warms the frame cache too
		double target_s = quick ? 0.03 : 0.2;
		while (t >= 0 && t < target_s / 10) {
			n *= 2;
			t = Run(ctx, yield, n);
		}
		if (t < 0)
			return 1;
		n = (uint64_t)((double)n * target_s / t) + 1;
		double ns[BENCH_MAX_REPS];
		for (int r = 0; r < reps; r++) {
			t = Run(ctx, yield, n);
			if (t < 0)
				return 1;
			ns[r] = t * 1e9 / (double)n;
		}
		bench_emit("spawn", "kio-cxx", params, "ns_per_spawn", "ns", false, ns, reps,
			   "TaskGroup::Spawn + JoinAll, one task at a time");
	} catch (const std::system_error &e) {
		if (e.code() == std::errc::operation_not_permitted ||
		    e.code() == std::errc::function_not_supported) {
			std::fprintf(stderr, "kio-bench-spawn-cxx: io_uring unavailable: skipped\n");
			return 77;
		}
		std::fprintf(stderr, "kio-bench-spawn-cxx: %s\n", e.what());
		return 1;
	}
	return 0;
}
