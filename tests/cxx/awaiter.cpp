// SPDX-License-Identifier: MIT
//
// The paths of detail::OpAwaiter that the plain await skips: the stop-token
// state exists only once .WithStopToken() was called, and it must survive
// being replaced, copied with the awaitable, a failed start, and a context
// destroyed while the op is in flight.
#include "kio_cxx_test.hpp"

#include <cstring>
#include <span>

using namespace kio;
using namespace std::chrono_literals;

namespace {

Task<int> EmptyAndReplacedTokens(IoContext &ctx)
{
	// An empty token (no stop source) arms nothing: the op runs as usual.
	auto plain = co_await AsyncSleep(ctx, 1ms).WithStopToken(kio::StopToken{});
	cr_assert(plain.has_value());

	// The last token given is the one that counts.
	kio::StopSource first, second;
	first.request_stop();
	auto op = AsyncSleep(ctx, 1ms);
	op.WithStopToken(first.get_token());
	op.WithStopToken(second.get_token());
	auto r = co_await op;
	cr_assert(r.has_value(), "a replaced token still cancelled the op");
	cr_assert_geq(op.Id(), 0);

	kio::StopSource stopped;
	stopped.request_stop();
	auto before = ctx.Stats().GetSnapshot().ops_submitted;
	auto c = co_await AsyncSleep(ctx, 10s)
			 .WithStopToken(second.get_token())
			 .WithStopToken(stopped.get_token());
	cr_assert(c.error() == std::errc::operation_canceled);
	cr_assert_eq(ctx.Stats().GetSnapshot().ops_submitted, before,
		     "a stopped token started the op");
	co_return 1;
}

// A copy of an awaitable carries its timeout and its token.
Task<int> CopiesCarryTimeoutAndToken(IoContext &ctx)
{
	kio::StopSource quiet;
	auto timed = AsyncSleep(ctx, 10s).WithStopToken(quiet.get_token()).WithTimeout(2ms);
	auto timed_copy = timed;
	auto t = co_await timed_copy;
	cr_assert(t.error() == std::errc::timed_out, "the copy lost its timeout");
	cr_assert_eq(ctx.Pending(), 0u);

	int p[2];
	kxt::Pipe(p);
	char buf[8];
	std::memset(buf, '.', sizeof buf);
	kio::StopSource src;
	// The timeout only bounds the test should the token be lost.
	auto read = AsyncRead(ctx, p[0], buf).WithStopToken(src.get_token()).WithTimeout(5s);
	auto moved = std::move(read);
	TaskGroup g;
	g.Spawn([](IoContext &c, kio::StopSource s) -> Task<> {
		co_await AsyncSleep(c, 2ms);
		s.request_stop(); // on the loop thread: cancels at once
	}(ctx, src));
	auto r = co_await moved;
	cr_assert(r.error() == std::errc::operation_canceled, "the copy lost its token");
	cr_assert_eq(buf[0], '.');
	co_await g.JoinAll(ctx);
	close(p[0]);
	close(p[1]);
	co_return 1;
}

// A start that fails gives its error; the timeout and token attached to it
// leave nothing behind.
Task<int> FailedStartWithExtras(IoContext &ctx)
{
	char buf[8];
	auto bare = co_await AsyncRead(ctx, -1, buf);
	cr_assert(bare.error() == std::errc::bad_file_descriptor);

	kio::StopSource src;
	auto op = AsyncRead(ctx, -1, buf).WithTimeout(1ms).WithStopToken(src.get_token());
	auto r = co_await op;
	cr_assert(r.error() == std::errc::bad_file_descriptor);
	cr_assert_eq(op.Id(), -1);
	cr_assert_eq(ctx.Pending(), 0u);
	src.request_stop(); // no callback may be registered any more
	co_return 1;
}

Task<> SleepWithToken(IoContext &ctx, kio::StopToken st, int *after)
{
	co_await AsyncSleep(ctx, 10s).WithStopToken(std::move(st));
	(*after)++;
}

} // namespace

Test(awaiter, empty_and_replaced_tokens)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(EmptyAndReplacedTokens(*ctx)), 1);
}

Test(awaiter, copies_carry_timeout_and_token)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(CopiesCarryTimeoutAndToken(*ctx)), 1);
}

Test(awaiter, failed_start_with_timeout_and_token)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(FailedStartWithExtras(*ctx)), 1);
}

// ~IoContext ends the op without resuming the frame; the stop callback is
// gone by then, so a later stop request touches nothing (ASan checks it).
Test(awaiter, ctx_destroyed_with_a_token_armed)
{
	KXT_LEAK_GUARD();
	kio::StopSource src;
	int after = 0;
	{
		auto ctx = kxt::NewCtx();
		ctx->Stop(); // RunUntilDone starts the task and returns
		ctx->RunUntilDone(SleepWithToken(*ctx, src.get_token(), &after));
		cr_assert_eq(ctx->Pending(), 1u);
	}
	cr_assert_eq(after, 0);
	cr_assert(src.request_stop());
}
