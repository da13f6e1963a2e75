// SPDX-License-Identifier: MIT
//
// Task<T>: laziness, values, exceptions through co_await, symmetric
// transfer (deep chains without stack growth), move-only ownership, and
// Tasks destroyed without being awaited.
#include "kio_cxx_test.hpp"

#include <stdexcept>
#include <string>

using namespace kio;
using namespace std::chrono_literals;

namespace {

int g_started = 0;
int g_alive = 0; // Probe objects living in frames

struct Probe {
	Probe()
	{
		g_alive++;
	}
	Probe(const Probe &)
	{
		g_alive++;
	}
	~Probe()
	{
		g_alive--;
	}
};

Task<int> Answer()
{
	g_started++;
	co_return 42;
}

Task<std::string> Dash(std::string s)
{
	co_return s + "-";
}

Task<std::string> Concat(std::string a, std::string b)
{
	std::string x = co_await Dash(a);
	co_return x + b;
}

Task<int> Thrower()
{
	throw std::runtime_error("thrown in a task");
	co_return 0;
}

Task<int> CatchIt()
{
	try {
		co_await Thrower();
	} catch (const std::runtime_error &e) {
		co_return std::string(e.what()) == "thrown in a task" ? 1 : 2;
	}
	co_return 3;
}

Task<int> Depth(int n)
{
	if (n == 0)
		co_return 0;
	co_return 1 + co_await Depth(n - 1);
}

Task<long> SumSync(int n)
{
	long sum = 0;
	for (int i = 0; i < n; i++)
		sum += co_await Answer();
	co_return sum;
}

struct NoDefault {
	explicit NoDefault(int v)
		: v(v)
	{
	}
	NoDefault(NoDefault &&) = default;
	int v;
};

Task<NoDefault> MakeNoDefault()
{
	co_return NoDefault(9);
}

Task<int> UseLvalue()
{
	Task<int> a = Answer();
	Task<int> b = std::move(a);
	cr_assert_not(static_cast<bool>(a));
	int &ref = co_await b; // lvalue: a reference into b's frame
	cr_assert(b.IsReady());
	co_return ref + 1;
}

Task<> Unit()
{
	Probe p;
	co_return;
}

Task<> AwaitEmpty()
{
	Task<int> empty;
	co_await std::move(empty);
}

Task<int> SleepThenOne(IoContext &c)
{
	Probe p;
	co_await AsyncSleep(c, 10s);
	co_return 1;
}

Task<> Sleeper(IoContext &ctx, int *after)
{
	Probe p;
	co_await AsyncSleep(ctx, 10s);
	(*after)++;
}

} // namespace

Test(task, lazy_until_awaited)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	g_started = 0;
	Task<int> t = Answer();
	cr_assert_eq(g_started, 0, "a Task must not start before it is awaited");
	cr_assert_not(t.IsReady());
	cr_assert_eq(ctx->RunUntilDone(std::move(t)), 42);
	cr_assert_eq(g_started, 1);
}

Test(task, values_and_strings)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Concat("a", "b")), std::string("a-b"));
	cr_assert_eq(ctx->RunUntilDone(MakeNoDefault()).v, 9);
}

Test(task, exception_propagates_through_co_await)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(CatchIt()), 1);
	bool caught = false;
	try {
		ctx->RunUntilDone(Thrower());
	} catch (const std::runtime_error &) {
		caught = true;
	}
	cr_assert(caught, "RunUntilDone must rethrow the task's exception");
}

Test(task, deep_chains_do_not_grow_the_stack)
{
	auto ctx = kxt::NewCtx();
	// 100,000 nested frames that complete synchronously: symmetric transfer
	// resumes each awaiter without a nested call.
	cr_assert_eq(ctx->RunUntilDone(Depth(100000)), 100000);
	cr_assert_eq(ctx->RunUntilDone(SumSync(1000000)), 42000000L);
}

Test(task, lvalue_await_and_move)
{
	auto ctx = kxt::NewCtx();
	int v = ctx->RunUntilDone(UseLvalue());
	cr_assert_eq(v, 43);
}

Test(task, destroyed_without_being_awaited)
{
	KXT_LEAK_GUARD();
	g_alive = 0;
	g_started = 0;
	{
		Task<int> t = Answer();
		Task<> s = Unit();
	}
	cr_assert_eq(g_started, 0);
	cr_assert_eq(g_alive, 0);
	// Move-assigning over a Task frees the old frame too.
	Task<int> a = Answer();
	a = Answer();
	cr_assert_eq(g_started, 0);
}

Test(task, awaiting_an_empty_task_throws)
{
	auto ctx = kxt::NewCtx();
	bool threw = false;
	try {
		ctx->RunUntilDone(AwaitEmpty());
	} catch (const std::logic_error &) {
		threw = true;
	}
	cr_assert(threw);
}

Test(task, stopped_run_detaches_and_ctx_destroy_frees_the_frame)
{
	KXT_LEAK_GUARD();
	g_alive = 0;
	int after = 0;
	{
		auto ctx = kxt::NewCtx();
		ctx->Stop(); // not lost: RunUntilDone starts the task and returns
		ctx->RunUntilDone(Sleeper(*ctx, &after));
		cr_assert_eq(g_alive, 1, "the suspended frame must stay alive (detached)");
		cr_assert_eq(ctx->Pending(), 1u);
		bool threw = false;
		ctx->Stop();
		try {
			(void)ctx->RunUntilDone(SleepThenOne(*ctx));
		} catch (const std::system_error &e) {
			threw = e.code() == std::errc::operation_canceled;
		}
		cr_assert(threw, "a stopped RunUntilDone of Task<int> throws operation_canceled");
		cr_assert_eq(g_alive, 2);
	}
	// ~IoContext cancelled the sleep without resuming the coroutine, then
	// destroyed the detached frame.
	cr_assert_eq(after, 0);
	cr_assert_eq(g_alive, 0);
}
