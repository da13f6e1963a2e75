// SPDX-License-Identifier: MIT
//
// No allocation per await: global operator new/delete are replaced to count
// the calls made on the test's thread, and 100,000 awaits of each kind of
// op (a timer, a pipe read, one with a timeout, one with a stop token that
// is never stopped) must make none once warmed up.
#include "count_new.hpp"
#include "kio_cxx_test.hpp"

#include <cstdlib>
#include <new>

using namespace kio;
using namespace std::chrono_literals;

namespace {

constexpr int kAwaits = 100000;

struct Counting {
	Counting()
	{
		t_news = 0, t_counting = true;
	}
	~Counting()
	{
		t_counting = false;
	}
};

Task<unsigned long> Sleeps(IoContext &ctx, int n)
{
	for (int i = 0; i < 1000; i++)
		co_await AsyncSleep(ctx, 0ns);
	Counting c;
	for (int i = 0; i < n; i++) {
		auto r = co_await AsyncSleep(ctx, 0ns);
		cr_assert(r.has_value());
	}
	co_return t_news;
}

Task<unsigned long> PipeReads(IoContext &ctx, int n)
{
	int p[2];
	kxt::Pipe(p);
	char b;
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(write(p[1], "x", 1), 1);
		co_await AsyncRead(ctx, p[0], std::span(&b, 1));
	}
	unsigned long news;
	{
		Counting c;
		for (int i = 0; i < n; i++) {
			if (write(p[1], "x", 1) != 1)
				break;
			auto r = co_await AsyncRead(ctx, p[0], std::span(&b, 1));
			cr_assert_eq(*r, 1u);
		}
		news = t_news;
	}
	close(p[0]);
	close(p[1]);
	co_return news;
}

Task<unsigned long> Decorated(IoContext &ctx, int n)
{
	kio::StopSource src;
	kio::StopToken st = src.get_token();
	for (int i = 0; i < 1000; i++)
		co_await AsyncSleep(ctx, 0ns).WithTimeout(1s).WithStopToken(st);
	Counting c;
	for (int i = 0; i < n; i++) {
		auto r = co_await AsyncSleep(ctx, 0ns).WithTimeout(1s);
		cr_assert(r.has_value());
		auto s = co_await AsyncSleep(ctx, 0ns).WithStopToken(st);
		cr_assert(s.has_value());
	}
	co_return t_news;
}

} // namespace

Test(alloc, no_allocation_per_await_timer)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Sleeps(*ctx, kAwaits)), 0ul);
}

Test(alloc, no_allocation_per_await_pipe_read)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(PipeReads(*ctx, kAwaits)), 0ul);
}

Test(alloc, no_allocation_with_timeout_or_stop_token)
{
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Decorated(*ctx, kAwaits)), 0ul);
}

Test(alloc, the_counter_counts)
{
	// Proves the replacement is in effect (an explicit call cannot be
	// elided the way a new-expression can).
	unsigned long news;
	{
		Counting c;
		void *p = ::operator new(16);
		news = t_news;
		::operator delete(p);
	}
	cr_assert_eq(news, 1ul, "operator new is not the counting one");
}
