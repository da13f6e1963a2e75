// SPDX-License-Identifier: MIT
//
// Task<T>::Start(), resume(), Done() and Result(), the reference's manual
// driving: the caller keeps the Task and runs the loop itself.
#include "kio_cxx_test.hpp"

#include <memory>
#include <stdexcept>
#include <string>

using namespace kio;
using namespace std::chrono_literals;

namespace {

int g_runs = 0;

Task<int> Answer()
{
	g_runs++;
	co_return 42;
}

Task<std::string> Later(IoContext &ctx)
{
	g_runs++;
	co_await AsyncSleep(ctx, 1ms);
	co_return std::string("later");
}

Task<> Fails(IoContext &ctx)
{
	co_await AsyncSleep(ctx, 1ms);
	throw std::runtime_error("fails");
}

Task<std::unique_ptr<int>> MoveOnly()
{
	co_return std::make_unique<int>(5);
}

} // namespace

Test(ref_task_start, start_runs_to_the_end_when_nothing_suspends)
{
	g_runs = 0;
	auto t = Answer();
	cr_assert(!t.Done());
	cr_assert_eq(g_runs, 0); // lazy
	t.Start();
	cr_assert(t.Done());
	cr_assert_eq(t.Result(), 42);
	cr_assert_eq(g_runs, 1);
}

Test(ref_task_start, start_then_run_the_loop)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	g_runs = 0;
	auto t = Later(*ctx);
	t.Start();
	cr_assert(!t.Done());
	while (!t.Done())
		ctx->RunOnce();
	cr_assert_eq(t.Result(), "later");
	cr_assert_eq(g_runs, 1);
	cr_assert_eq(ctx->Pending(), 0u);
}

Test(ref_task_start, start_and_resume_again_do_nothing)
{
	auto ctx = kxt::NewCtx();
	g_runs = 0;
	auto t = Later(*ctx);
	t.resume(); // the reference's name: starts it
	cr_assert_eq(g_runs, 1);
	t.Start();
	t.resume(); // suspended on its sleep: the loop resumes it, not this
	cr_assert_eq(g_runs, 1);
	ctx->RunUntilIdle();
	cr_assert(t.Done());
	cr_assert_eq(t.Result(), "later");
}

Test(ref_task_start, result_before_done_throws)
{
	auto ctx = kxt::NewCtx();
	auto t = Later(*ctx);
	cr_assert_throw((void)t.Result(), std::logic_error);
	t.Start();
	cr_assert_throw((void)t.Result(), std::logic_error);
	ctx->RunUntilIdle();
	cr_assert_eq(t.Result(), "later");
}

Test(ref_task_start, result_rethrows)
{
	auto ctx = kxt::NewCtx();
	auto t = Fails(*ctx);
	t.Start();
	ctx->RunUntilIdle();
	cr_assert(t.Done());
	cr_assert_throw(t.Result(), std::runtime_error);
}

Test(ref_task_start, rvalue_result_moves_out)
{
	auto t = MoveOnly();
	t.Start();
	std::unique_ptr<int> p = std::move(t).Result();
	cr_assert(p != nullptr);
	cr_assert_eq(*p, 5);
}

Test(ref_task_start, empty_task_refuses_start)
{
	Task<int> t;
	cr_assert(!t.Done());
	cr_assert_throw(t.Start(), std::logic_error);
}

Test(ref_task_start, started_task_destroyed_before_done_detaches)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	{
		auto t = Later(*ctx);
		t.Start();
	} // suspended on its sleep: detached, finishes on its own
	ctx->RunUntilIdle();
	cr_assert_eq(ctx->Pending(), 0u);
}
