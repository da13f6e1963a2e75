// SPDX-License-Identifier: MIT
//
// IoContext::CancelAllPending(): every op pending on the context ends,
// once, with std::errc::operation_canceled; the loop keeps running.
#include "kio_cxx_test.hpp"

#include <sys/socket.h>

#include <array>
#include <span>

using namespace kio;
using namespace std::chrono_literals;

namespace {

int g_cancelled = 0;
int g_resumed = 0;

Task<> Sleeper(IoContext &ctx)
{
	auto r = co_await AsyncSleep(ctx, 1h);
	g_resumed++;
	if (!r && r.error() == std::errc::operation_canceled)
		g_cancelled++;
}

Task<> Reader(IoContext &ctx, int fd)
{
	std::array<char, 16> buf{};
	// A timeout far away: the cancel, not the timeout, ends it.
	auto r = co_await AsyncRecv(ctx, fd, std::span(buf)).WithTimeout(1h);
	g_resumed++;
	if (!r && r.error() == std::errc::operation_canceled)
		g_cancelled++;
}

Task<> Canceller(IoContext &ctx, int expected)
{
	co_await AsyncSleep(ctx, 0ns); // let the others start
	cr_assert_eq(ctx.CancelAllPending(), expected);
	// Nothing new pending: a second call asks nothing.
	cr_assert_eq(ctx.CancelAllPending(), 0);
}

Task<> AfterwardsStillWorks(IoContext &ctx)
{
	auto r = co_await AsyncSleep(ctx, 1ms);
	cr_assert(r.has_value());
}

Task<> Scenario(IoContext &ctx, int fd_a, int fd_b)
{
	TaskGroup tasks;
	tasks.Spawn(Sleeper(ctx));
	tasks.Spawn(Sleeper(ctx));
	tasks.Spawn(Reader(ctx, fd_a));
	tasks.Spawn(Reader(ctx, fd_b));
	tasks.Spawn(Canceller(ctx, 4));
	co_await tasks.JoinAll(ctx);
	cr_assert_eq(g_resumed, 4);
	cr_assert_eq(g_cancelled, 4);
	co_await AfterwardsStillWorks(ctx);
}

} // namespace

Test(ref_cancel_all, every_pending_op_ends_once)
{
	KXT_LEAK_GUARD();
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	{
		net::Socket a(sv[0]), b(sv[1]);
		auto ctx = kxt::NewCtx();
		g_cancelled = g_resumed = 0;
		ctx->RunUntilDone(Scenario(*ctx, a.Get(), b.Get()));
		cr_assert_eq(g_resumed, 4);
		cr_assert_eq(ctx->Pending(), 0u);
	}
}

Test(ref_cancel_all, nothing_pending)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->CancelAllPending(), 0);
	ctx->RunUntilIdle();
}

Test(ref_cancel_all, outside_the_loop_then_run)
{
	auto ctx = kxt::NewCtx();
	g_cancelled = g_resumed = 0;
	auto a = Sleeper(*ctx), b = Sleeper(*ctx);
	a.Start();
	b.Start();
	cr_assert_eq(ctx->CancelAllPending(), 2);
	cr_assert_eq(g_resumed, 0); // asynchronous: from the loop only
	ctx->RunUntilIdle();
	cr_assert(a.Done() && b.Done());
	cr_assert_eq(g_cancelled, 2);
}
