// SPDX-License-Identifier: MIT
//
// kio-bench-fileread-cxx - bench/fileread.c through the C++ layer: QD
// coroutines each co_await AsyncRead() of 4 KiB at random aligned offsets
// (the same fixed-seed sequence) until an AsyncSleep() of the run's length
// ends.
//
//   kio-bench-fileread-cxx --file PATH [--qd N] [--seconds S] [--reps R]
//
// Prints one result line (bench/README.md): workload "fileread", impl
// "kio-cxx" ("kio-cxx-epoll" when kio runs on its epoll backend:
// KIO_BACKEND=epoll), params {"qd":N}, metric iops. Every run reads the same
// offsets in the same order.
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <kio/kio.hpp>

#include "bench_args.h"
#include "bench_util.h"

namespace {

constexpr unsigned kBlock = 4096;
constexpr unsigned kMaxQd = 256;
constexpr uint64_t kSeed = 0x6b696f7265616473ull;

struct Run {
	int fd = -1;
	uint64_t blocks = 0;
	uint64_t rng = kSeed;
	uint64_t done = 0;
	uint64_t errors = 0;
	bool stop = false;
};

kio::Task<> Reader(kio::IoContext &ctx, Run &run)
{
	alignas(64) std::array<std::byte, kBlock> buf;
	while (!run.stop) {
		uint64_t off = (bench_rand(&run.rng) % run.blocks) * kBlock;
		auto r = co_await kio::AsyncRead(ctx, run.fd, buf, off);
		run.done++;
		if (!r || *r != kBlock)
			run.errors++;
	}
}

kio::Task<> Deadline(kio::IoContext &ctx, Run &run, std::chrono::nanoseconds d)
{
	co_await kio::AsyncSleep(ctx, d);
	run.stop = true;
}

kio::Task<> All(kio::IoContext &ctx, Run &run, unsigned qd, std::chrono::nanoseconds d)
{
	kio::TaskGroup group;
	group.Spawn(Deadline(ctx, run, d));
	for (unsigned i = 0; i < qd; i++)
		group.Spawn(Reader(ctx, run));
	co_await group.JoinAll(ctx);
}

double RunOnce(kio::IoContext &ctx, Run &run, unsigned qd, double seconds)
{
	run.done = run.errors = 0;
	run.stop = false;
	run.rng = kSeed;
	double t0 = bench_now_s();
	ctx.RunUntilDone(All(ctx, run, qd, std::chrono::nanoseconds((int64_t)(seconds * 1e9))));
	double t = bench_now_s() - t0;
	if (run.errors) {
		std::fprintf(stderr, "kio-bench-fileread-cxx: %llu errors\n",
			     (unsigned long long)run.errors);
		return -1;
	}
	return (double)run.done / t;
}

} // namespace

int main(int argc, char **argv)
{
	bench_fileread_args args;
	if (!bench_fileread_parse(argc, argv, kMaxQd, &args))
		return 2;
	Run run;
	run.fd = open(args.path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (run.fd < 0 || fstat(run.fd, &st) < 0 || st.st_size < (off_t)kBlock) {
		std::fprintf(stderr, "kio-bench-fileread-cxx: %s: %s\n", args.path,
			     run.fd < 0 ? std::strerror(errno) : "too small");
		return 1;
	}
	run.blocks = (uint64_t)st.st_size / kBlock;
	double iops[BENCH_MAX_REPS];
	const char *impl = "kio-cxx";
	try {
		kio::IoContext ctx;
		if (kio_ctx_backend(ctx.Native()) == KIO_BACKEND_EPOLL)
			impl = "kio-cxx-epoll";
		if (RunOnce(ctx, run, args.qd, args.seconds / 10) < 0) // warm-up
			return 1;
		for (int r = 0; r < args.reps; r++) {
			iops[r] = RunOnce(ctx, run, args.qd, args.seconds);
			if (iops[r] < 0)
				return 1;
		}
	} catch (const std::system_error &e) {
		std::fprintf(stderr, "kio-bench-fileread-cxx: %s\n", e.what());
		return e.code() == std::errc::operation_not_permitted ||
				       e.code() == std::errc::function_not_supported ?
			       77 :
			       1;
	}
	close(run.fd);
	char params[24];
	std::snprintf(params, sizeof(params), "{\"qd\":%u}", args.qd);
	bench_emit("fileread", impl, params, "iops", "IOPS", true, iops, args.reps, nullptr);
	return 0;
}
