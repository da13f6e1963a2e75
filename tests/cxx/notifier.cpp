// SPDX-License-Identifier: MIT
//
// Notifier: Signal() from other threads wakes Wait(); signals made before
// a wait are kept; several coalesce into one wake; a waiting Notifier can
// time out or be stopped.
#include "kio_cxx_test.hpp"

#include <atomic>
#include <thread>

using namespace kio;
using namespace std::chrono_literals;

namespace {

Task<int> FromThread(IoContext &ctx, Notifier &n)
{
	std::thread t([&n] {
		std::this_thread::sleep_for(10ms);
		n.Signal();
	});
	auto r = co_await n.Wait(ctx).WithTimeout(10s);
	t.join();
	cr_assert(r.has_value(), "wait: %s", r ? "" : r.error().message().c_str());
	co_return 1;
}

Task<int> PingPong(IoContext &ctx, Notifier &n, int rounds)
{
	std::atomic<int> acked{0};
	std::thread t([&] {
		for (int i = 0; i < rounds; i++) {
			n.Signal();
			while (acked.load(std::memory_order_acquire) <= i)
				std::this_thread::yield();
		}
	});
	int woke = 0;
	for (int i = 0; i < rounds; i++) {
		auto r = co_await n.Wait(ctx).WithTimeout(10s);
		if (r)
			woke++;
		acked.store(i + 1, std::memory_order_release);
	}
	t.join();
	cr_assert_eq(woke, rounds);
	co_return 1;
}

Task<int> KeptAndCoalesced(IoContext &ctx, Notifier &n)
{
	n.Signal();
	n.Signal();
	n.Signal();
	cr_assert(co_await n.Wait(ctx).WithTimeout(1s));
	auto again = co_await n.Wait(ctx).WithTimeout(5ms);
	cr_assert(again.error() == std::errc::timed_out, "three signals gave more than one wake");
	kio::StopSource src;
	src.request_stop();
	auto stopped = co_await n.Wait(ctx).WithStopToken(src.get_token());
	cr_assert(stopped.error() == std::errc::operation_canceled);
	co_return 1;
}

} // namespace

Test(notifier, signal_from_another_thread, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Notifier n;
	cr_assert_eq(ctx->RunUntilDone(FromThread(*ctx, n)), 1);
}

Test(notifier, ping_pong_with_a_thread, .timeout = 60)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Notifier n;
	cr_assert_eq(ctx->RunUntilDone(PingPong(*ctx, n, 200)), 1);
}

Test(notifier, signals_are_kept_and_coalesce)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Notifier n;
	cr_assert_eq(ctx->RunUntilDone(KeptAndCoalesced(*ctx, n)), 1);
}
