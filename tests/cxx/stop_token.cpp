// SPDX-License-Identifier: MIT
//
// kio::StopSource / StopToken / StopCallback: std::stop_* where the
// standard library has them (then std::stop_token passes wherever kio
// takes a StopToken), kio's own otherwise (libc++ without
// -fexperimental-library). Both behave the same: a callback runs on
// request_stop() or at once when the stop already happened, never after
// its destructor, which waits for a run on another thread and may be
// called from the callback itself.
#include "kio_cxx_test.hpp"

#include <atomic>
#include <functional>
#include <optional>
#include <thread>
#include <type_traits>

#if KIO_STD_STOP_TOKEN
#include <stop_token>
static_assert(std::is_same_v<kio::StopToken, std::stop_token>);
static_assert(std::is_same_v<kio::StopSource, std::stop_source>);
static_assert(std::is_same_v<kio::StopCallback<void (*)()>, std::stop_callback<void (*)()>>);
#endif

using namespace kio;
using namespace std::chrono_literals;

namespace {

struct Count {
	int *n;
	void operator()() const noexcept
	{
		++*n;
	}
};

Task<int> SleepStopped(IoContext &ctx, StopToken st)
{
	auto r = co_await AsyncSleep(ctx, 10s).WithStopToken(st);
	co_return !r && r.error() == std::errc::operation_canceled ? 1 : 0;
}

Task<int> StopSoonAndSleep(IoContext &ctx)
{
	StopSource src;
	TaskGroup g;
	g.Spawn([](IoContext &c, StopSource s) -> Task<> {
		co_await AsyncSleep(c, 5ms);
		s.request_stop();
	}(ctx, src));
	int cancelled = co_await SleepStopped(ctx, src.get_token());
	co_await g.JoinAll(ctx);
	co_return cancelled;
}

} // namespace

Test(stop_token, states)
{
	StopToken none;
	cr_assert(!none.stop_possible());
	cr_assert(!none.stop_requested());

	StopSource src;
	StopToken st = src.get_token();
	cr_assert(src.stop_possible());
	cr_assert(st.stop_possible());
	cr_assert(!st.stop_requested());
	cr_assert(st == src.get_token());

	StopSource copy = src;
	cr_assert(copy == src);
	cr_assert(copy.request_stop());
	cr_assert(!src.request_stop(), "a second request_stop() reports false");
	cr_assert(st.stop_requested());
	cr_assert(src.stop_requested());

	StopToken orphan;
	{
		StopSource gone;
		orphan = gone.get_token();
		cr_assert(orphan.stop_possible());
	}
	cr_assert(!orphan.stop_possible(), "no source left, no stop requested");
}

Test(stop_token, callbacks)
{
	StopSource src;
	int n = 0, gone = 0;
	{
		StopCallback<Count> c1(src.get_token(), Count{&n});
		StopCallback<Count> c2(src.get_token(), Count{&n});
		std::optional<StopCallback<Count>> c3;
		c3.emplace(src.get_token(), Count{&gone});
		c3.reset(); // deregistered: never runs
		cr_assert_eq(n, 0);
		src.request_stop();
		cr_assert_eq(n, 2);
		StopCallback<Count> late(src.get_token(), Count{&n});
		cr_assert_eq(n, 3, "registered after the stop: runs at once");
	}
	src.request_stop();
	cr_assert_eq(n, 3);
	cr_assert_eq(gone, 0);

	StopToken none;
	StopCallback<Count> never(none, Count{&n});
	cr_assert_eq(n, 3);
}

Test(stop_token, callback_destroys_itself)
{
	StopSource src;
	std::optional<StopCallback<std::function<void()>>> self;
	int ran = 0;
	self.emplace(src.get_token(), std::function<void()>([&] {
			     ran++;
			     self.reset();
		     }));
	src.request_stop();
	cr_assert_eq(ran, 1);
	cr_assert(!self.has_value());
}

Test(stop_token, destructor_waits_for_a_running_callback, .timeout = 30)
{
	for (int round = 0; round < 50; round++) {
		StopSource src;
		std::atomic<int> state{0}; // 1: the callback started, 2: it ended
		auto fn = [&state]() noexcept {
			state.store(1);
			std::this_thread::sleep_for(2ms);
			state.store(2);
		};
		std::optional<StopCallback<decltype(fn)>> cb;
		cb.emplace(src.get_token(), fn);
		std::thread t([&src] { src.request_stop(); });
		while (state.load() == 0)
			std::this_thread::yield();
		cb.reset();
		cr_assert_eq(state.load(), 2, "the destructor returned while the callback ran");
		t.join();
	}
}

Test(stop_token, many_threads_request_once, .timeout = 30)
{
	for (int round = 0; round < 50; round++) {
		StopSource src;
		std::atomic<int> wins{0}, runs{0};
		auto fn = [&runs]() noexcept { runs++; };
		StopCallback<decltype(fn)> cb(src.get_token(), fn);
		std::thread a([&] { wins += src.request_stop(); });
		std::thread b([&] { wins += src.request_stop(); });
		a.join();
		b.join();
		cr_assert_eq(wins.load(), 1);
		cr_assert_eq(runs.load(), 1);
	}
}

Test(stop_token, cancels_an_op)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(StopSoonAndSleep(*ctx)), 1);
}
