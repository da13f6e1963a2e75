// SPDX-License-Identifier: MIT
//
// kio-bench-spawn-asio - Asio's peer of bench/spawn_cxx.cpp: a parent
// coroutine co_spawns a short awaitable and awaits its completion
// (co_spawn(..., use_awaitable)), one at a time. Same modes and output:
//
//   --mode empty   the child returns at once
//   --mode yield   the child goes once through the loop first (asio::post)
//   --count N      exactly N spawn+join, one result line (for callgrind)
//   --quick, --reps N   timed runs (ns per spawn+join)
//
// The io_context is made with the "unsafe" concurrency hint (one thread,
// no locking), Asio's fastest single-threaded configuration.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "bench_util.h"

namespace asio = boost::asio;

namespace {

uint64_t g_done = 0;

asio::awaitable<void> Empty()
{
	g_done++;
	co_return;
}

asio::awaitable<void> Yielding()
{
	co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
	g_done++;
}

asio::awaitable<void> Driver(bool yield, uint64_t n)
{
	auto ex = co_await asio::this_coro::executor;
	for (uint64_t i = 0; i < n; i++) {
		if (yield)
			co_await asio::co_spawn(ex, Yielding(), asio::use_awaitable);
		else
			co_await asio::co_spawn(ex, Empty(), asio::use_awaitable);
	}
}

double Run(asio::io_context &io, bool yield, uint64_t n)
{
	g_done = 0;
	double t0 = bench_now_s();
	bool failed = false;
	asio::co_spawn(io, Driver(yield, n), [&](std::exception_ptr e) { failed = e != nullptr; });
	io.run();
	io.restart();
	double t = bench_now_s() - t0;
	if (failed || g_done != n) {
		std::fprintf(stderr, "kio-bench-spawn-asio: %llu of %llu tasks ran\n",
			     (unsigned long long)g_done, (unsigned long long)n);
		return -1;
	}
	return t;
}

int Usage()
{
	std::fprintf(stderr, "usage: kio-bench-spawn-asio [--mode empty|yield] [--count N | "
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
	char params[48];
	std::snprintf(params, sizeof(params), "{\"mode\":\"%s\"}", yield ? "yield" : "empty");
	asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
	if (count > 0) {
		double t = Run(io, yield, count);
		if (t < 0)
			return 1;
		double ns = t * 1e9 / (double)count;
		bench_emit("spawn", "asio", params, "ns_per_spawn", "ns", false, &ns, 1,
			   "one run of --count");
		return 0;
	}
	uint64_t n = 1000;
	double t = Run(io, yield, n);
	double target_s = quick ? 0.03 : 0.2;
	while (t >= 0 && t < target_s / 10) {
		n *= 2;
		t = Run(io, yield, n);
	}
	if (t < 0)
		return 1;
	n = (uint64_t)((double)n * target_s / t) + 1;
	double ns[BENCH_MAX_REPS];
	for (int r = 0; r < reps; r++) {
		t = Run(io, yield, n);
		if (t < 0)
			return 1;
		ns[r] = t * 1e9 / (double)n;
	}
	bench_emit("spawn", "asio", params, "ns_per_spawn", "ns", false, ns, reps,
		   "co_spawn(use_awaitable), one task at a time");
	return 0;
}
