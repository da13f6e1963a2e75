// SPDX-License-Identifier: MIT
//
// IoContext::RunUntilDone with an lvalue Task, as the reference's programs
// write it: `auto task = Server(ctx); ctx.RunUntilDone(task);`.
#include "kio_cxx_test.hpp"

#include <stdexcept>

using namespace kio;
using namespace std::chrono_literals;

namespace {

int g_runs = 0;

Task<int> Compute(IoContext &ctx)
{
	g_runs++;
	co_await AsyncSleep(ctx, 1ms);
	co_return 42;
}

Task<> Nothing(IoContext &ctx)
{
	g_runs++;
	co_await AsyncSleep(ctx, 1ms);
}

Task<int> Throws(IoContext &ctx)
{
	co_await AsyncSleep(ctx, 1ms);
	throw std::runtime_error("boom");
}

// Stops the loop in the middle, then carries on when driven again.
Task<int> StopsHalfway(IoContext &ctx)
{
	co_await AsyncSleep(ctx, 1ms);
	ctx.Stop();
	co_await AsyncSleep(ctx, 1ms);
	co_return 7;
}

} // namespace

Test(ref_run_until_done, lvalue_task_returns_its_value)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	g_runs = 0;
	auto task = Compute(*ctx);
	int v = ctx->RunUntilDone(task);
	cr_assert_eq(v, 42);
	cr_assert(task.Done());
	cr_assert_eq(g_runs, 1);
	cr_assert_eq(ctx->Pending(), 0u);
}

Test(ref_run_until_done, lvalue_void_task)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	g_runs = 0;
	Task<> task = Nothing(*ctx);
	ctx->RunUntilDone(task);
	cr_assert(task.Done());
	cr_assert_eq(g_runs, 1);
}

Test(ref_run_until_done, lvalue_task_rethrows)
{
	auto ctx = kxt::NewCtx();
	auto task = Throws(*ctx);
	cr_assert_throw(ctx->RunUntilDone(task), std::runtime_error);
	cr_assert(task.Done());
}

Test(ref_run_until_done, rvalue_still_works)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Compute(*ctx)), 42);
}

Test(ref_run_until_done, finished_task_answers_without_running_again)
{
	auto ctx = kxt::NewCtx();
	g_runs = 0;
	Task<> task = Nothing(*ctx);
	ctx->RunUntilDone(task);
	ctx->RunUntilDone(task); // done already: nothing runs
	cr_assert_eq(g_runs, 1);
}

Test(ref_run_until_done, started_task_is_driven_to_the_end)
{
	auto ctx = kxt::NewCtx();
	g_runs = 0;
	auto task = Compute(*ctx);
	task.Start(); // suspended on its sleep
	cr_assert_eq(g_runs, 1);
	cr_assert(!task.Done());
	cr_assert_eq(ctx->RunUntilDone(task), 42);
	cr_assert_eq(g_runs, 1);
}

Test(ref_run_until_done, stopped_lvalue_task_can_be_driven_again)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	auto task = StopsHalfway(*ctx);
	bool threw = false;
	try {
		(void)ctx->RunUntilDone(task);
	} catch (const std::system_error &e) {
		threw = e.code() == std::errc::operation_canceled;
	}
	cr_assert(threw);
	cr_assert(!task.Done());
	cr_assert_eq(ctx->RunUntilDone(task), 7);
}

Test(ref_run_until_done, empty_task_is_refused)
{
	auto ctx = kxt::NewCtx();
	Task<int> empty;
	cr_assert_throw((void)ctx->RunUntilDone(empty), std::logic_error);
}
