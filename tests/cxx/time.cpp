// SPDX-License-Identifier: MIT
//
// AsyncSleep and AsyncSleepUntil: never early, not absurdly late (< 1 s:
// the machine is shared), deadlines on steady and system clocks, past
// deadlines, and a stop token waking a sleeper early.
#include "kio_cxx_test.hpp"


using namespace kio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

Task<int> Sleeps(IoContext &ctx)
{
	auto t0 = Clock::now();
	cr_assert(co_await AsyncSleep(ctx, 20ms));
	auto dt = Clock::now() - t0;
	cr_assert(dt >= 20ms, "slept %lld ns", (long long)dt.count());
	cr_assert(dt < 20ms + 1s);

	t0 = Clock::now();
	cr_assert(co_await AsyncSleep(ctx, 0ms));
	cr_assert(co_await AsyncSleep(ctx, -5ms)); // negative: next round
	cr_assert(Clock::now() - t0 < 1s);
	co_return 1;
}

Task<int> Deadlines(IoContext &ctx)
{
	auto deadline = Clock::now() + 15ms;
	cr_assert(co_await AsyncSleepUntil(ctx, deadline));
	cr_assert(Clock::now() >= deadline);

	auto wall = std::chrono::system_clock::now() + 15ms;
	cr_assert(co_await AsyncSleepUntil(ctx, wall));
	cr_assert(std::chrono::system_clock::now() >= wall);

	auto t0 = Clock::now();
	cr_assert(co_await AsyncSleepUntil(ctx, Clock::now() - 1s)); // past
	cr_assert(co_await AsyncSleepUntil(ctx, Clock::time_point{}));
	cr_assert(Clock::now() - t0 < 1s);

	// Another clock is converted through its now().
	auto hr = std::chrono::high_resolution_clock::now() + 10ms;
	cr_assert(co_await AsyncSleepUntil(ctx, hr));
	cr_assert(std::chrono::high_resolution_clock::now() >= hr);
	co_return 1;
}

Task<> Waker(IoContext &ctx, kio::StopSource *src)
{
	co_await AsyncSleep(ctx, 5ms);
	src->request_stop();
}

Task<int> StopWakesSleeper(IoContext &ctx)
{
	kio::StopSource src;
	TaskGroup g;
	g.Spawn(Waker(ctx, &src));
	auto t0 = Clock::now();
	auto r = co_await AsyncSleepUntil(ctx, Clock::now() + 10s).WithStopToken(src.get_token());
	cr_assert(r.error() == std::errc::operation_canceled);
	cr_assert(Clock::now() - t0 < 5s);
	co_await g.JoinAll(ctx);
	co_return 1;
}

} // namespace

Test(time, sleep_durations)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Sleeps(*ctx)), 1);
}

Test(time, sleep_until_deadlines)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Deadlines(*ctx)), 1);
}

Test(time, stop_token_wakes_a_sleeper)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(StopWakesSleeper(*ctx)), 1);
	cr_assert_eq(ctx->Pending(), 0u);
}
