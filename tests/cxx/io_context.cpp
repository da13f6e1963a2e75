// SPDX-License-Identifier: MIT
//
// IoContext: Run until Stop (also from another thread, also a Stop issued
// before Run), Run(tick), Notify, RunUntilIdle, RunOnce, Stats, and the
// guard against running the loop from inside itself.
#include "kio_cxx_test.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace kio;
using namespace std::chrono_literals;

namespace {

Task<> Sleep(IoContext &ctx, std::chrono::milliseconds d, int *done)
{
	co_await AsyncSleep(ctx, d);
	(*done)++;
}

Task<> NestedRun(IoContext &ctx)
{
	ctx.Run();
	co_return;
}

Task<int> TimedOut(IoContext &ctx)
{
	int p[2];
	kxt::Pipe(p);
	char b[4];
	auto r = co_await AsyncRead(ctx, p[0], b).WithTimeout(1ms);
	close(p[0]);
	close(p[1]);
	co_return r.error() == std::errc::timed_out ? 1 : 0;
}

} // namespace

Test(io_context, create_with_sizes_and_native)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx(1024);
	cr_assert_not_null(ctx->Native());
	cr_assert_eq(ctx->Pending(), 0u);
	kio_ctx_opts opts;
	kio_ctx_opts_init(&opts, sizeof opts);
	opts.sq_entries = 64;
	IoContext other(opts);
	cr_assert_neq(other.Native(), ctx->Native());
}

// Backend() names what kio_ctx_backend() says, and a context asked for
// epoll gets it and runs ops the same way.
Test(io_context, backend_is_reported_and_epoll_can_be_asked_for)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	int native = kio_ctx_backend(ctx->Native());
	cr_assert(native == KIO_BACKEND_IO_URING || native == KIO_BACKEND_EPOLL);
	cr_assert_eq(static_cast<int>(ctx->Backend()), native);

	kio_ctx_opts opts;
	kio_ctx_opts_init(&opts, sizeof opts);
	opts.flags = KIO_CTX_BACKEND_EPOLL;
	IoContext epoll(opts);
	cr_assert(epoll.Backend() == BackendKind::Epoll);
	cr_assert_eq(epoll.RunUntilDone(TimedOut(epoll)), 1);
}

Test(io_context, bad_options_throw_system_error)
{
	kio_ctx_opts opts;
	kio_ctx_opts_init(&opts, sizeof opts);
	opts.flags = 0x80000000u; // unknown flag
	bool threw = false;
	try {
		IoContext bad(opts);
	} catch (const std::system_error &e) {
		threw = e.code() == std::errc::invalid_argument;
	}
	cr_assert(threw);
}

Test(io_context, stop_before_run_is_not_lost)
{
	auto ctx = kxt::NewCtx();
	ctx->Stop();
	ctx->Run(); // returns at once: nothing else would end it
	cr_assert_eq(ctx->Pending(), 0u);
}

Test(io_context, stop_from_another_thread_ends_run, .timeout = 20)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	std::atomic<bool> stopped{false};
	std::thread t([&] {
		std::this_thread::sleep_for(20ms);
		stopped = true;
		ctx->Stop();
	});
	ctx->Run(); // idle: only Stop() ends it
	cr_assert(stopped.load());
	t.join();
}

Test(io_context, run_with_tick_calls_tick_until_stop)
{
	auto ctx = kxt::NewCtx();
	int ticks = 0;
	auto t0 = std::chrono::steady_clock::now();
	ctx->Run(
		[&] {
			if (++ticks == 5)
				ctx->Stop();
		},
		2ms);
	auto took = std::chrono::steady_clock::now() - t0;
	cr_assert_eq(ticks, 5);
	// Idle rounds end after the period: five of them take about 10 ms.
	cr_assert(took >= 8ms, "ticks came faster than their period");
	cr_assert(took < 2s);
}

Test(io_context, run_until_idle_runs_everything)
{
	auto ctx = kxt::NewCtx();
	int done = 0;
	TaskGroup g;
	g.Spawn(Sleep(*ctx, 1ms, &done));
	g.Spawn(Sleep(*ctx, 3ms, &done));
	cr_assert_eq(ctx->Pending(), 2u);
	ctx->RunUntilIdle();
	cr_assert_eq(done, 2);
	cr_assert_eq(g.Size(), 0u);
}

Test(io_context, notify_wakes_a_waiting_round, .timeout = 20)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	std::thread t([&] {
		std::this_thread::sleep_for(20ms);
		ctx->Notify();
	});
	int n = ctx->RunOnce(); // would wait forever without the wake
	cr_assert_eq(n, 0);
	t.join();
	cr_assert_eq(ctx->RunOnce(0ns), 0);
}

Test(io_context, run_inside_the_loop_throws)
{
	auto ctx = kxt::NewCtx();
	bool threw = false;
	try {
		ctx->RunUntilDone(NestedRun(*ctx));
	} catch (const std::logic_error &) {
		threw = true;
	}
	cr_assert(threw);
}

Test(io_context, stats_snapshot)
{
	auto ctx = kxt::NewCtx();
	auto before = ctx->Stats().GetSnapshot();
	int done = 0;
	ctx->RunUntilDone(Sleep(*ctx, 0ms, &done));
	cr_assert_eq(ctx->RunUntilDone(TimedOut(*ctx)), 1);
	auto s = ctx->Stats().GetSnapshot();
	cr_assert_eq(s.ops_submitted, before.ops_submitted + 2);
	cr_assert_eq(s.ops_completed, before.ops_completed + 2);
	cr_assert_eq(s.ops_timeouts, before.ops_timeouts + 1);
	cr_assert_eq(s.timeouts, s.ops_timeouts);
	cr_assert(s.loop_iterations > before.loop_iterations);
	cr_assert(s.ops_max_inflight >= 1);
}
