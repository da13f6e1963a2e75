// SPDX-License-Identifier: MIT
//
// TaskGroup: 1,000 concurrent tasks, frames freed as tasks finish, the
// exception policy (first rethrown by JoinAll, the others logged), timed
// joins, and a group destroyed while its tasks still run.
#include "kio_cxx_test.hpp"

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

namespace {

int g_alive = 0;
struct Probe {
	Probe()
	{
		g_alive++;
	}
	~Probe()
	{
		g_alive--;
	}
};

Task<> Work(IoContext &ctx, int i, int *done)
{
	Probe p;
	co_await AsyncSleep(ctx, std::chrono::microseconds(i % 7 * 300));
	(*done)++;
}

Task<int> Value(IoContext &ctx)
{
	co_await AsyncSleep(ctx, 1ms);
	co_return 5;
}

Task<> Sync(int *done)
{
	(*done)++;
	co_return;
}

Task<> Boom(IoContext &ctx, const char *what)
{
	co_await AsyncSleep(ctx, 2ms);
	throw std::runtime_error(what);
}

Task<> SleepUntilStopped(IoContext &ctx, kio::StopToken st, int *done)
{
	Probe p;
	auto r = co_await AsyncSleep(ctx, 30s).WithStopToken(st);
	if (r.error() == std::errc::operation_canceled)
		(*done)++;
}

Task<int> Thousand(IoContext &ctx)
{
	int done = 0;
	g_alive = 0;
	TaskGroup g;
	for (int i = 0; i < 1000; i++)
		g.Spawn(Work(ctx, i, &done));
	cr_assert_eq(g.Size(), 1000u);
	cr_assert_eq(g_alive, 1000);
	co_await g.JoinAll(ctx);
	cr_assert_eq(done, 1000);
	cr_assert_eq(g.Size(), 0u);
	cr_assert_eq(g_alive, 0, "finished frames must be freed");
	co_await g.JoinAll(ctx); // empty: returns at once
	co_return 1;
}

Task<int> Mixed(IoContext &ctx)
{
	int done = 0;
	TaskGroup g;
	g.SpawnAll(Value(ctx), Sync(&done), Work(ctx, 3, &done));
	cr_assert_eq(done, 1, "Spawn starts the task at once");
	cr_assert_eq(g.Size(), 2u, "a task that finished synchronously is gone");
	co_await g.JoinAll(ctx);
	cr_assert_eq(done, 2);
	co_return 1;
}

Task<int> OneThrows(IoContext &ctx)
{
	int done = 0;
	TaskGroup g;
	for (int i = 0; i < 10; i++)
		g.Spawn(Work(ctx, i, &done));
	g.Spawn(Boom(ctx, "first"));
	std::string caught;
	try {
		co_await g.JoinAll(ctx);
	} catch (const std::runtime_error &e) {
		caught = e.what();
	}
	cr_assert_eq(caught, std::string("first"));
	cr_assert_eq(done, 10, "the other tasks must run to completion");
	// Rethrown once: the group is clean again.
	g.Spawn(Work(ctx, 1, &done));
	co_await g.JoinAll(ctx);
	cr_assert_eq(done, 11);
	co_return 1;
}

Task<int> Timed(IoContext &ctx)
{
	int done = 0;
	g_alive = 0;
	kio::StopSource src;
	TaskGroup g;
	for (int i = 0; i < 5; i++)
		g.Spawn(SleepUntilStopped(ctx, src.get_token(), &done));
	auto t0 = std::chrono::steady_clock::now();
	bool all = co_await g.JoinAllTimeout(ctx, 10ms);
	cr_assert_not(all);
	cr_assert(std::chrono::steady_clock::now() - t0 >= 10ms);
	cr_assert_eq(g.Size(), 5u);
	src.request_stop();
	all = co_await g.JoinAllTimeout(ctx, 10s);
	cr_assert(all);
	cr_assert_eq(done, 5);
	cr_assert_eq(g_alive, 0);
	// The join's own timer was cancelled: nothing is left pending.
	cr_assert_eq(ctx.Pending(), 0u);
	co_return 1;
}

std::mutex g_log_mu;
std::vector<std::string> g_log;

void Capture(void *, int, const char *msg, size_t len)
{
	std::lock_guard<std::mutex> lk(g_log_mu);
	g_log.emplace_back(msg, len);
}

Task<int> TwoThrow(IoContext &ctx)
{
	TaskGroup g;
	g.Spawn(Boom(ctx, "one"));
	g.Spawn(Boom(ctx, "two"));
	int caught = 0;
	try {
		co_await g.JoinAll(ctx);
	} catch (const std::runtime_error &) {
		caught++;
	}
	cr_assert_eq(caught, 1);
	co_return 1;
}

Task<> SleepLong(IoContext &ctx, int *after)
{
	Probe p;
	co_await AsyncSleep(ctx, 30s);
	(*after)++;
}

} // namespace

Test(task_group, group_outliving_its_context)
{
	KXT_LEAK_GUARD();
	int after = 0;
	g_alive = 0;
	{
		TaskGroup g;
		{
			auto ctx = kxt::NewCtx();
			g.Spawn(SleepLong(*ctx, &after));
			g.Spawn(SleepLong(*ctx, &after));
			cr_assert_eq(ctx->Pending(), 2u);
		}
		// The ctx cancelled both sleeps without resuming the frames.
		cr_assert_eq(after, 0);
		cr_assert_eq(g_alive, 2);
		cr_assert_eq(g.Size(), 2u);
	}
	// No IoContext is left to resume them: ~TaskGroup freed the frames.
	cr_assert_eq(g_alive, 0);
	cr_assert_eq(after, 0);
}

Test(task_group, thousand_tasks)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Thousand(*ctx)), 1);
	cr_assert_eq(ctx->Pending(), 0u);
}

Test(task_group, spawn_all_and_synchronous_tasks)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Mixed(*ctx)), 1);
}

Test(task_group, exception_rethrown_by_join)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(OneThrows(*ctx)), 1);
}

Test(task_group, join_with_timeout)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Timed(*ctx)), 1);
}

Test(task_group, further_exceptions_are_logged)
{
	kio_log_set_handler(&Capture, nullptr);
	{
		auto ctx = kxt::NewCtx();
		cr_assert_eq(ctx->RunUntilDone(TwoThrow(*ctx)), 1);
	}
	cr_assert_eq(kio_log_flush(5000000000ull), 0);
	kio_log_set_handler(nullptr, nullptr);
	std::lock_guard<std::mutex> lk(g_log_mu);
	bool found = false;
	for (auto &m : g_log)
		found |= m.find("TaskGroup") != std::string::npos &&
			 (m.find("one") != std::string::npos || m.find("two") != std::string::npos);
	cr_assert(found, "the second exception was not logged");
}

Test(task_group, destroyed_group_detaches_running_tasks)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	int done = 0;
	g_alive = 0;
	{
		TaskGroup g;
		for (int i = 0; i < 20; i++)
			g.Spawn(Work(*ctx, i, &done));
	}
	cr_assert_eq(g_alive, 20, "running tasks must survive their group");
	ctx->RunUntilIdle();
	cr_assert_eq(done, 20);
	cr_assert_eq(g_alive, 0, "detached tasks free themselves when they finish");
}
