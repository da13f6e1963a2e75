// SPDX-License-Identifier: MIT
//
// TaskGroup in the reference's shape: `TaskGroup<> tasks(1024);`, Sweep(),
// SetSweepInterval(n), ActiveCount().
#include "kio_cxx_test.hpp"

using namespace kio;
using namespace std::chrono_literals;

namespace {

int g_done = 0;

Task<> Short(IoContext &ctx, int ms)
{
	co_await AsyncSleep(ctx, std::chrono::milliseconds(ms));
	g_done++;
}

Task<int> Valued(IoContext &ctx)
{
	co_await AsyncSleep(ctx, 1ms);
	g_done++;
	co_return 1;
}

// A group passed by reference, as the reference's servers do.
void SpawnMany(TaskGroup<> &tasks, IoContext &ctx, int n)
{
	for (int i = 0; i < n; i++)
		tasks.Spawn(Short(ctx, 1 + i % 3));
}

Task<> Run(IoContext &ctx)
{
	TaskGroup<> tasks(1024);
	tasks.SetSweepInterval(64);
	cr_assert_eq(tasks.SweepInterval(), 64u);
	SpawnMany(tasks, ctx, 100);
	cr_assert_eq(tasks.ActiveCount(), 100u);
	cr_assert_eq(tasks.Size(), 100u);
	co_await AsyncSleep(ctx, 2ms);
	// Finished tasks already left the group: nothing for Sweep to free.
	std::size_t before = tasks.ActiveCount();
	cr_assert_eq(tasks.Sweep(), 0u);
	cr_assert_eq(tasks.ActiveCount(), before);
	cr_assert_eq(before, static_cast<std::size_t>(100 - g_done));
	co_await tasks.JoinAll(ctx);
	cr_assert_eq(tasks.ActiveCount(), 0u);
	cr_assert_eq(g_done, 100);
}

Task<> Deduced(IoContext &ctx)
{
	TaskGroup tasks(16); // TaskGroup<void>
	TaskGroup plain;
	static_assert(std::is_same_v<decltype(tasks), TaskGroup<>>);
	static_assert(std::is_same_v<decltype(plain), TaskGroup<void>>);
	tasks.Spawn(Valued(ctx)); // any value type; values are dropped
	plain.Spawn(Short(ctx, 1));
	cr_assert_eq(tasks.ActiveCount() + plain.ActiveCount(), 2u);
	co_await tasks.JoinAll(ctx);
	co_await plain.JoinAll(ctx);
}

} // namespace

Test(ref_task_group, capacity_hint_sweep_and_active_count)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	g_done = 0;
	ctx->RunUntilDone(Run(*ctx));
	cr_assert_eq(ctx->Pending(), 0u);
}

Test(ref_task_group, deduced_forms)
{
	auto ctx = kxt::NewCtx();
	g_done = 0;
	ctx->RunUntilDone(Deduced(*ctx));
	cr_assert_eq(g_done, 2);
}

Test(ref_task_group, zero_capacity_hint_still_holds_tasks)
{
	auto ctx = kxt::NewCtx();
	g_done = 0;
	{
		TaskGroup<> tasks(0);
		SpawnMany(tasks, *ctx, 10);
		cr_assert_eq(tasks.ActiveCount(), 10u);
		ctx->RunUntilIdle();
		cr_assert_eq(tasks.ActiveCount(), 0u);
	}
	cr_assert_eq(g_done, 10);
}
