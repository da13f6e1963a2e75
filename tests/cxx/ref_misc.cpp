// SPDX-License-Identifier: MIT
//
// The reference's smaller shapes: Notifier::Notify() / WaitReady(),
// SignalSet::fd() with AsyncWaitSignal(ctx, fd), Worker(id, stop_token),
// BlockingPool(size_t) and FDGuard.
#include "kio_cxx_test.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

namespace {

Task<> WaitOnce(IoContext &ctx, Notifier &n, int &woken)
{
	auto r = co_await n.Wait(ctx);
	cr_assert(r.has_value());
	woken++;
}

Task<> NotifyFromLoop(IoContext &ctx, Notifier &n, bool &answer)
{
	co_await kxt::YieldTo(ctx); // the waiter is suspended by now
	answer = n.Notify();
}

Task<> NotifyScenario(IoContext &ctx, Notifier &n, int &woken, bool &answer)
{
	TaskGroup tasks;
	tasks.Spawn(WaitOnce(ctx, n, woken));
	tasks.Spawn(NotifyFromLoop(ctx, n, answer));
	co_await tasks.JoinAll(ctx);
}

Task<int> WaitSignalFd(IoContext &ctx, int fd)
{
	auto sig = co_await AsyncWaitSignal(ctx, fd);
	cr_assert(sig.has_value(), "%s", sig ? "" : sig.error().message().c_str());
	co_return *sig;
}

Task<int> WaitBadFd(IoContext &ctx)
{
	auto sig = co_await AsyncWaitSignal(ctx, -1);
	cr_assert(!sig.has_value());
	co_return sig.error().value();
}

Task<> RunForever(IoContext &ctx)
{
	auto r = co_await AsyncSleep(ctx, 1h);
	(void)r;
}

Task<int> Offloaded(IoContext &ctx, BlockingPool &pool)
{
	auto r = co_await Offload(ctx, pool, [] { return 6 * 7; });
	cr_assert(r.has_value());
	co_return *r;
}

} // namespace

Test(ref_misc, notify_says_whether_a_waiter_was_woken)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Notifier n;
	// Nobody waits: false, and the signal is kept for the next Wait().
	cr_assert(!n.Notify());
	int woken = 0;
	ctx->RunUntilDone(WaitOnce(*ctx, n, woken));
	cr_assert_eq(woken, 1);
	// A waiter suspended on the Notifier: true.
	bool answer = false;
	ctx->RunUntilDone(NotifyScenario(*ctx, n, woken, answer));
	cr_assert(answer);
	cr_assert_eq(woken, 2);
	cr_assert(!n.Notify()); // the waiter is gone again
}

Test(ref_misc, wait_ready_blocks_a_thread_until_notified)
{
	KXT_LEAK_GUARD();
	Notifier n;
	std::atomic<int> state{0}; // 1: returned with a value, 2: with an error
	std::thread t([&] { state.store(n.WaitReady().has_value() ? 1 : 2); });
	n.Signal();
	t.join();
	cr_assert_eq(state.load(), 1);
	// A signal made before the call is not lost: WaitReady returns at once.
	cr_assert(!n.Notify()); // nobody waits now
	cr_assert(n.WaitReady().has_value());
}

Test(ref_misc, signal_set_fd_and_wait_on_it)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	{
		SignalSet signals{SIGUSR1, SIGUSR2};
		int fd = signals.fd();
		cr_assert_geq(fd, 0);
		cr_assert_eq(signals.fd(), fd); // made once
		cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		cr_assert_eq(kill(getpid(), SIGUSR2), 0);
		cr_assert_eq(ctx->RunUntilDone(WaitSignalFd(*ctx, fd)), SIGUSR2);
	} // the set closes its fd
	cr_assert_eq(ctx->RunUntilDone(WaitBadFd(*ctx)), EBADF);
}

Test(ref_misc, worker_follows_a_stop_token)
{
	KXT_LEAK_GUARD();
	kio::StopSource stop;
	std::vector<Worker> workers;
	for (std::size_t i = 0; i < 2; i++) {
		workers.emplace_back(i, stop.get_token());
		workers.back().Start([](IoContext &ctx) { ctx.RunUntilDone(RunForever(ctx)); });
	}
	stop.request_stop(); // stops both loops, as RequestStop() would
	for (auto &w : workers)
		w.Join();
	for (auto &w : workers)
		cr_assert(w.StopToken().stop_requested());
	// Stopped for good: a new run stops at once as well.
	workers[0].Start([](IoContext &ctx) { ctx.RunUntilDone(RunForever(ctx)); });
	workers[0].Join();
}

Test(ref_misc, worker_with_a_token_already_stopped)
{
	KXT_LEAK_GUARD();
	kio::StopSource stop;
	stop.request_stop();
	Worker w(7, stop.get_token());
	cr_assert_eq(w.Id(), 7u);
	w.Start([](IoContext &ctx) { ctx.RunUntilDone(RunForever(ctx)); });
	w.Join();
}

Test(ref_misc, blocking_pool_from_a_size_t)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	const std::size_t threads = std::vector<int>(2).size();
	{
		BlockingPool pool(threads);
		BlockingPool braced{threads}; // no narrowing
		cr_assert_eq(ctx->RunUntilDone(Offloaded(*ctx, pool)), 42);
		cr_assert_eq(ctx->RunUntilDone(Offloaded(*ctx, braced)), 42);
	}
	bool threw = false;
	try {
		BlockingPool huge(std::size_t(UINT32_MAX) + 1);
	} catch (const std::system_error &e) {
		threw = e.code() == std::errc::invalid_argument;
	}
	cr_assert(threw);
}

Test(ref_misc, fd_guard_closes_releases_and_resets)
{
	KXT_LEAK_GUARD();
	int p[2];
	kxt::Pipe(p);
	{
		FDGuard r(p[0]), w(p[1]);
		cr_assert(r && w);
		cr_assert_eq(r.Get(), p[0]);
		cr_assert_eq(w.get(), p[1]);
		FDGuard moved(std::move(r));
		cr_assert(!r);
		cr_assert_eq(moved.Get(), p[0]);
		int raw = w.release();
		cr_assert_eq(raw, p[1]);
		cr_assert(!w);
		w.Reset(raw); // owned again
		w.Reset(raw); // the same fd: kept open
		cr_assert_neq(fcntl(raw, F_GETFD), -1);
	} // both closed here
	cr_assert_eq(fcntl(p[0], F_GETFD), -1);
	cr_assert_eq(fcntl(p[1], F_GETFD), -1);
	FDGuard empty;
	cr_assert_eq(empty.Get(), -1);
	empty.reset(); // nothing to close
}
