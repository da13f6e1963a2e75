// SPDX-License-Identifier: MIT
//
// BlockingPool + Offload: values come back to the loop thread, void works,
// an exception thrown on the pool is rethrown by the co_await, many jobs
// run side by side, and a queued job can be stopped.
#include "kio_cxx_test.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

using namespace kio;
using namespace std::chrono_literals;

namespace {

Task<int> Values(IoContext &ctx, BlockingPool &pool)
{
	auto loop_thread = std::this_thread::get_id();
	auto r = co_await Offload(ctx, pool, [loop_thread] {
		cr_assert_neq(std::this_thread::get_id(), loop_thread);
		return std::string("computed");
	});
	KXT_SKIP_IF_ENOSYS(r, "kio_pool_submit");
	cr_assert(r.has_value());
	cr_assert_eq(*r, std::string("computed"));
	cr_assert_eq(std::this_thread::get_id(), loop_thread);

	int side = 0;
	auto v = co_await Offload(ctx, pool, [&side] { side = 7; });
	cr_assert(v.has_value());
	cr_assert_eq(side, 7);

	bool caught = false;
	try {
		(void)co_await Offload(ctx, pool,
				       []() -> int { throw std::runtime_error("pool"); });
	} catch (const std::runtime_error &e) {
		caught = std::string(e.what()) == "pool";
	}
	cr_assert(caught, "the job's exception must reach the awaiter");
	co_return 1;
}

Task<> Job(IoContext &ctx, BlockingPool &pool, int i, std::atomic<int> *sum)
{
	auto r = co_await Offload(ctx, pool, [i] {
		std::this_thread::sleep_for(1ms);
		return i;
	});
	cr_assert(r.has_value());
	sum->fetch_add(*r);
}

Task<int> Many(IoContext &ctx, BlockingPool &pool)
{
	std::atomic<int> sum{0};
	TaskGroup g;
	for (int i = 1; i <= 100; i++)
		g.Spawn(Job(ctx, pool, i, &sum));
	co_await g.JoinAll(ctx);
	cr_assert_eq(sum.load(), 5050);
	co_return 1;
}

Task<int> StopQueued(IoContext &ctx, BlockingPool &pool)
{
	// The only pool thread is busy until `release`: the next job waits in
	// the queue, where a stop request removes it.
	std::atomic<bool> release{false};
	TaskGroup g;
	g.Spawn([](IoContext &c, BlockingPool &p, std::atomic<bool> *rel) -> Task<> {
		auto r = co_await Offload(c, p, [rel] {
			while (!rel->load())
				std::this_thread::sleep_for(1ms);
			return 1;
		});
		cr_assert(r.has_value());
	}(ctx, pool, &release));
	kio::StopSource src;
	bool ran = false;
	TaskGroup stopper;
	stopper.Spawn([](IoContext &c, kio::StopSource *s) -> Task<> {
		co_await AsyncSleep(c, 5ms);
		s->request_stop();
	}(ctx, &src));
	auto r = co_await Offload(ctx, pool, [&ran] { ran = true; }).WithStopToken(src.get_token());
	cr_assert(r.error() == std::errc::operation_canceled, "got %s",
		  r ? "a value" : r.error().message().c_str());
	cr_assert_not(ran);
	release = true;
	co_await g.JoinAll(ctx);
	co_await stopper.JoinAll(ctx);
	co_return 1;
}

} // namespace

Test(offload, values_void_and_exceptions, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	BlockingPool pool(2);
	cr_assert_eq(ctx->RunUntilDone(Values(*ctx, pool)), 1);
}

Test(offload, hundred_jobs_in_parallel, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	BlockingPool pool(4);
	cr_assert_eq(ctx->RunUntilDone(Many(*ctx, pool)), 1);
}

Test(offload, stop_removes_a_queued_job, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	BlockingPool pool(1);
	cr_assert_eq(ctx->RunUntilDone(StopQueued(*ctx, pool)), 1);
}

Test(offload, bad_pool_size_throws)
{
	bool threw = false;
	try {
		BlockingPool pool(0);
	} catch (const std::system_error &e) {
		threw = e.code() == std::errc::invalid_argument;
	}
	cr_assert(threw);
}
