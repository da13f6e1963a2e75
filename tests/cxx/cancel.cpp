// SPDX-License-Identifier: MIT
//
// .WithTimeout() and .WithStopToken(): the op is cancelled through the C
// API, the coroutine resumes only after the op's C callback ran (so the
// kernel no longer owns the buffer), and stop requests from another thread
// reach the loop through kio_ctx_post without touching a finished awaiter.
#include "kio_cxx_test.hpp"

#include <atomic>
#include <cstring>
#include <thread>

using namespace kio;
using namespace std::chrono_literals;

namespace {

// A read whose C callback is wrapped to count its calls: the coroutine
// checks the count when it resumes.
class CountedRead final : public detail::OpAwaiter<CountedRead> {
public:
	CountedRead(IoContext &ctx, int fd, char *buf, size_t len, int *calls)
		: detail::OpAwaiter<CountedRead>(ctx)
		, fd_(fd)
		, buf_(buf)
		, len_(len)
		, calls_(calls)
	{
	}
	int64_t Start(kio_ctx *c, kio_cb cb, void *ud) noexcept
	{
		cb_ = cb;
		ud_ = ud;
		return kio_read(c, fd_, buf_, len_, KIO_OFFSET_CURRENT, &Counting, this);
	}
	Result<size_t> Finish(int32_t res, uint32_t)
	{
		cr_assert_eq(*calls_, 1, "resumed before the C callback ran");
		return ResultFromNeg<size_t>(res);
	}

private:
	static void Counting(void *ud, int32_t res, uint32_t flags) noexcept
	{
		auto *self = static_cast<CountedRead *>(ud);
		(*self->calls_)++;
		self->cb_(self->ud_, res, flags);
	}

	int fd_;
	char *buf_;
	size_t len_;
	int *calls_;
	kio_cb cb_ = nullptr;
	void *ud_ = nullptr;
};

// After a cancelled read resumed: the op is gone from the ctx, and bytes
// written now are still in the pipe (the kernel read nothing into buf).
void AssertReleased(IoContext &ctx, int64_t id, int p[2], const char *buf)
{
	cr_assert_eq(kio_op_cancel(ctx.Native(), id), -ENOENT, "op still pending at resumption");
	cr_assert_eq(ctx.Pending(), 0u);
	cr_assert_eq(write(p[1], "zz", 2), 2);
	char check[4] = {};
	cr_assert_eq(read(p[0], check, sizeof check), 2);
	cr_assert_eq(std::memcmp(check, "zz", 2), 0);
	cr_assert_eq(buf[0], '.', "the cancelled read wrote into the buffer");
}

Task<int> TimeoutRead(IoContext &ctx)
{
	int p[2];
	kxt::Pipe(p);
	char buf[8];
	std::memset(buf, '.', sizeof buf);
	int calls = 0;
	auto t0 = std::chrono::steady_clock::now();
	auto op = CountedRead(ctx, p[0], buf, sizeof buf, &calls).WithTimeout(10ms);
	auto r = co_await op;
	cr_assert(std::chrono::steady_clock::now() - t0 >= 10ms, "timed out early");
	cr_assert_not(r.has_value());
	cr_assert(r.error() == std::errc::timed_out, "got %s", r.error().message().c_str());
	cr_assert_eq(calls, 1);
	AssertReleased(ctx, op.Id(), p, buf);
	close(p[0]);
	close(p[1]);
	co_return 1;
}

Task<int> TimeoutNotReached(IoContext &ctx)
{
	int p[2];
	kxt::Pipe(p);
	cr_assert_eq(write(p[1], "data", 4), 4);
	char buf[8];
	auto r = co_await AsyncRead(ctx, p[0], buf).WithTimeout(5s);
	cr_assert_eq(*r, 4u);
	// The timer went with the op: nothing is left to keep the loop busy.
	cr_assert_eq(ctx.Pending(), 0u);
	auto s = co_await AsyncSleep(ctx, 10s).WithTimeout(2ms);
	cr_assert(s.error() == std::errc::timed_out);
	auto z = co_await AsyncSleep(ctx, 10s).WithTimeout(0ms); // expires next round
	cr_assert(z.error() == std::errc::timed_out);
	close(p[0]);
	close(p[1]);
	co_return 1;
}

Task<int> StopFromThread(IoContext &ctx)
{
	int p[2];
	kxt::Pipe(p);
	char buf[8];
	std::memset(buf, '.', sizeof buf);
	int calls = 0;
	kio::StopSource src;
	std::thread t([&src] {
		std::this_thread::sleep_for(20ms);
		src.request_stop();
	});
	auto op = CountedRead(ctx, p[0], buf, sizeof buf, &calls).WithStopToken(src.get_token());
	auto r = co_await op;
	t.join();
	cr_assert(r.error() == std::errc::operation_canceled, "got %s",
		  r ? "a value" : r.error().message().c_str());
	cr_assert_eq(calls, 1);
	AssertReleased(ctx, op.Id(), p, buf);
	close(p[0]);
	close(p[1]);
	co_return 1;
}

Task<> RequestStopLater(IoContext &ctx, kio::StopSource *src)
{
	co_await AsyncSleep(ctx, 2ms);
	src->request_stop();
}

Task<int> StopFromSibling(IoContext &ctx)
{
	int p[2];
	kxt::Pipe(p);
	char buf[8];
	std::memset(buf, '.', sizeof buf);
	int calls = 0;
	kio::StopSource src;
	TaskGroup g;
	g.Spawn(RequestStopLater(ctx, &src));
	auto op = CountedRead(ctx, p[0], buf, sizeof buf, &calls).WithStopToken(src.get_token());
	auto r = co_await op;
	cr_assert(r.error() == std::errc::operation_canceled);
	cr_assert_eq(calls, 1);
	co_await g.JoinAll(ctx);
	AssertReleased(ctx, op.Id(), p, buf);
	close(p[0]);
	close(p[1]);
	co_return 1;
}

Task<int> AlreadyStopped(IoContext &ctx)
{
	kio::StopSource src;
	src.request_stop();
	auto before = ctx.Stats().GetSnapshot().ops_submitted;
	auto r = co_await AsyncSleep(ctx, 10s).WithStopToken(src.get_token());
	cr_assert(r.error() == std::errc::operation_canceled);
	cr_assert_eq(ctx.Stats().GetSnapshot().ops_submitted, before,
		     "a stopped token started the op");
	// A token that is never stopped changes nothing.
	kio::StopSource quiet;
	auto ok = co_await AsyncSleep(ctx, 1ms).WithStopToken(quiet.get_token());
	cr_assert(ok.has_value());
	// Timeout and token together: the first to fire wins.
	auto both = co_await AsyncSleep(ctx, 10s).WithStopToken(quiet.get_token()).WithTimeout(1ms);
	cr_assert(both.error() == std::errc::timed_out);
	co_return 1;
}

Task<int> CloseCancelsPendingRead(IoContext &ctx)
{
	int p[2];
	kxt::Pipe(p);
	char buf[8];
	TaskGroup g;
	int result = 0;
	g.Spawn([](IoContext &c, int fd, char *b, int *out) -> Task<> {
		auto r = co_await AsyncRead(c, fd, std::span(b, 8));
		*out = r ? 1 : (r.error() == std::errc::operation_canceled ? 2 : 3);
	}(ctx, p[0], buf, &result));
	cr_assert(co_await AsyncClose(ctx, p[0]));
	co_await g.JoinAll(ctx);
	cr_assert_eq(result, 2, "the read on a closed fd must end cancelled");
	close(p[1]);
	co_return 1;
}

// Stop requests from another thread racing ops that complete on their own:
// the posted cancel may arrive after the awaiter is gone (ASan/TSan check
// it never touches it).
Task<int> StopRace(IoContext &ctx, int rounds)
{
	int cancelled = 0, finished = 0;
	for (int i = 0; i < rounds; i++) {
		kio::StopSource src;
		std::thread t([&src] { src.request_stop(); });
		auto r = co_await AsyncSleep(ctx, std::chrono::microseconds(i % 3 * 100))
				 .WithStopToken(src.get_token());
		t.join();
		if (r)
			finished++;
		else if (r.error() == std::errc::operation_canceled)
			cancelled++;
	}
	cr_assert_eq(cancelled + finished, rounds);
	co_return 1;
}

} // namespace

Test(cancel, timeout_resumes_after_the_kernel_let_go)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(TimeoutRead(*ctx)), 1);
}

Test(cancel, timeout_not_reached_and_timed_sleeps)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(TimeoutNotReached(*ctx)), 1);
}

Test(cancel, stop_token_from_another_thread, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(StopFromThread(*ctx)), 1);
}

Test(cancel, stop_token_from_the_loop_thread)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(StopFromSibling(*ctx)), 1);
}

Test(cancel, already_stopped_token_and_combinations)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(AlreadyStopped(*ctx)), 1);
}

Test(cancel, close_cancels_a_pending_read)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(CloseCancelsPendingRead(*ctx)), 1);
}

Test(cancel, stop_requests_racing_completion, .timeout = 60)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(StopRace(*ctx, 300)), 1);
	ctx->RunUntilIdle(); // late posted cancels run and find nothing
	cr_assert_eq(ctx->Pending(), 0u);
}
