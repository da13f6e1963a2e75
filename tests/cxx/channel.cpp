// SPDX-License-Identifier: MIT
// Channel<T>: buffered and unbuffered hand-off, close semantics, stop
// tokens, FIFO service, and many producers/consumers (on one loop and on
// several threads) where every message arrives exactly once.
#include "count_new.hpp"
#include "kio_cxx_test.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <latch>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

namespace {

using kxt::YieldTo;

bool IsBrokenPipe(const std::error_code &ec)
{
	return ec == std::errc::broken_pipe;
}

} // namespace

namespace {

Task<> BufferedSendWaitsOnlyWhenFull(IoContext &c, Channel<int> *q)
{
	cr_assert(co_await q->Send(c, 1));
	cr_assert(co_await q->Send(c, 2));
	cr_assert_eq(q->Size(), 2u);
	bool third_done = false;
	TaskGroup g;
	g.Spawn([](IoContext &cx, Channel<int> *qq, bool *done) -> Task<> {
		cr_assert(co_await qq->Send(cx, 3));
		*done = true;
	}(c, q, &third_done));
	co_await YieldTo(c);
	cr_assert_not(third_done, "a Send into a full buffer must wait");
	auto v = co_await q->Recv(c);
	cr_assert(v && *v == 1);
	// The waiting sender's value moved into the freed slot.
	cr_assert_eq(q->Size(), 2u);
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
	cr_assert(third_done);
	for (int want = 2; want <= 3; want++) {
		auto r = co_await q->Recv(c);
		cr_assert(r && *r == want);
	}
}

Task<> UnbufferedSendWaitsForAReceiver(IoContext &c, Channel<std::string> *q)
{
	std::string s = "x";
	cr_assert_not(q->TrySend(s), "no receiver: TrySend must fail");
	cr_assert_eq(s, "x", "a failed TrySend leaves the value alone");
	std::vector<std::string> log;
	TaskGroup g;
	g.Spawn([](IoContext &cx, Channel<std::string> *qq, std::vector<std::string> *l) -> Task<> {
		l->push_back("send start");
		cr_assert(co_await qq->Send(cx, std::string("hello")));
		l->push_back("send done");
	}(c, q, &log));
	co_await YieldTo(c);
	co_await YieldTo(c);
	cr_assert_eq(log.size(), 1u, "rendezvous: the sender waits");
	auto v = co_await q->Recv(c);
	cr_assert(v && *v == "hello");
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
	cr_assert_eq(log.size(), 2u);
	cr_assert_eq(q->Size(), 0u);
}

Task<> ReceiverWaitsForASenderUnbuffered(IoContext &c, Channel<int> *q)
{
	int got = 0;
	TaskGroup g;
	g.Spawn([](IoContext &cx, Channel<int> *qq, int *out) -> Task<> {
		auto v = co_await qq->Recv(cx);
		cr_assert(v.has_value());
		*out = *v;
	}(c, q, &got));
	int v = 77;
	cr_assert(q->TrySend(v), "a waiting receiver takes the value");
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
	cr_assert_eq(got, 77);
}

Task<> CloseDrainsBufferThenEnds(IoContext &c, Channel<int> *q)
{
	cr_assert(co_await q->Send(c, 1));
	cr_assert(co_await q->Send(c, 2));
	q->Close();
	q->Close(); // idempotent
	cr_assert(q->IsClosed());
	auto s = co_await q->Send(c, 3);
	cr_assert(!s && IsBrokenPipe(s.error()), "Send after Close fails");
	int v = 4;
	cr_assert_not(q->TrySend(v));
	std::vector<int> got;
	while (auto r = co_await q->Recv(c))
		got.push_back(*r);
	cr_assert(got == std::vector<int>({1, 2}), "buffered values survive Close");
	auto end = co_await q->Recv(c);
	cr_assert(!end && IsBrokenPipe(end.error()));
	cr_assert_not(q->TryRecv().has_value());
}

Task<> CloseWakesEveryWaiter(IoContext &c, Channel<int> *e, Channel<int> *f)
{
	cr_assert(co_await f->Send(c, 0));
	int ended = 0, refused = 0;
	TaskGroup g;
	for (int i = 0; i < 3; i++) {
		g.Spawn([](IoContext &cx, Channel<int> *q, int *n) -> Task<> {
			auto r = co_await q->Recv(cx);
			if (!r && IsBrokenPipe(r.error()))
				(*n)++;
		}(c, e, &ended));
		g.Spawn([](IoContext &cx, Channel<int> *q, int *n) -> Task<> {
			auto r = co_await q->Send(cx, 5);
			if (!r && IsBrokenPipe(r.error()))
				(*n)++;
		}(c, f, &refused));
	}
	co_await YieldTo(c);
	cr_assert_eq(ended + refused, 0);
	e->Close();
	f->Close();
	cr_assert(co_await g.JoinAllTimeout(c, 10s), "a waiter missed the Close");
	cr_assert_eq(ended, 3);
	cr_assert_eq(refused, 3);
	auto r = co_await f->Recv(c);
	cr_assert(r && *r == 0, "the value buffered before Close is kept");
	auto end = co_await f->Recv(c);
	cr_assert(!end, "refused senders' values were not delivered");
}

Task<> WaitingReceiversAreServedInOrder(IoContext &c, Channel<int> *q)
{
	std::vector<std::pair<int, int>> got; // (receiver, value)
	TaskGroup g;
	for (int id = 0; id < 4; id++)
		g.Spawn([](IoContext &cx, Channel<int> *qq, int me,
			   std::vector<std::pair<int, int>> *out) -> Task<> {
			auto v = co_await qq->Recv(cx);
			cr_assert(v.has_value());
			out->emplace_back(me, *v);
		}(c, q, id, &got));
	for (int v = 100; v < 104; v++)
		cr_assert(co_await q->Send(c, v));
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
	cr_assert_eq(got.size(), 4u);
	for (auto [who, val] : got)
		cr_assert_eq(val, 100 + who, "receiver %d got %d", who, val);
}

Task<> StopTokenCancelsWaits(IoContext &c, Channel<int> *e, Channel<int> *n)
{
	kio::StopSource stop;
	int cancelled = 0;
	TaskGroup g;
	g.Spawn([](IoContext &cx, Channel<int> *qq, kio::StopToken st, int *k) -> Task<> {
		auto r = co_await qq->Recv(cx, st);
		if (!r && r.error() == std::errc::operation_canceled)
			(*k)++;
	}(c, e, stop.get_token(), &cancelled));
	g.Spawn([](IoContext &cx, Channel<int> *qq, kio::StopToken st, int *k) -> Task<> {
		auto r = co_await qq->Send(cx, 9).WithStopToken(st);
		if (!r && r.error() == std::errc::operation_canceled)
			(*k)++;
	}(c, n, stop.get_token(), &cancelled));
	co_await YieldTo(c);
	cr_assert_eq(cancelled, 0);
	stop.request_stop();
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
	cr_assert_eq(cancelled, 2);
	int v = 1;
	cr_assert_not(e->TrySend(v), "the cancelled receiver left the queue");
	cr_assert_not(n->TryRecv().has_value(), "the cancelled send delivered nothing");
}

} // namespace

Test(channel, buffered_send_waits_only_when_full, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Channel<int> ch(2);
	cr_assert_eq(ch.Capacity(), 2u);
	ctx->RunUntilDone(BufferedSendWaitsOnlyWhenFull(*ctx, &ch));
	cr_assert_eq(ch.Size(), 0u);
}

Test(channel, unbuffered_send_waits_for_a_receiver, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Channel<std::string> ch; // capacity 0
	ctx->RunUntilDone(UnbufferedSendWaitsForAReceiver(*ctx, &ch));
}

Test(channel, receiver_waits_for_a_sender_unbuffered, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Channel<int> ch;
	ctx->RunUntilDone(ReceiverWaitsForASenderUnbuffered(*ctx, &ch));
}

Test(channel, close_drains_buffer_then_ends, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Channel<int> ch(4);
	ctx->RunUntilDone(CloseDrainsBufferThenEnds(*ctx, &ch));
}

Test(channel, close_wakes_every_waiter, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Channel<int> empty;   // receivers wait here
	Channel<int> full(1); // senders wait here
	ctx->RunUntilDone(CloseWakesEveryWaiter(*ctx, &empty, &full));
}

Test(channel, waiting_receivers_are_served_in_order, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Channel<int> ch(8);
	ctx->RunUntilDone(WaitingReceiversAreServedInOrder(*ctx, &ch));
}

Test(channel, stop_token_cancels_waits, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Channel<int> empty;  // a Recv waits here
	Channel<int> nobody; // a Send waits here (no receiver, no buffer)
	ctx->RunUntilDone(StopTokenCancelsWaits(*ctx, &empty, &nobody));
}

namespace {

constexpr int kPerProducer = 20000;

Task<> Produce(IoContext &ctx, Channel<int> *q, int producer)
{
	for (int i = 0; i < kPerProducer; i++) {
		auto r = co_await q->Send(ctx, producer * kPerProducer + i);
		cr_assert(r.has_value());
	}
}

Task<> Consume(IoContext &ctx, Channel<int> *q, std::vector<int> *seen)
{
	// What this consumer got from each producer comes in send order.
	int last[2] = {-1, -1};
	while (auto v = co_await q->Recv(ctx)) {
		(*seen)[*v]++;
		const int p = *v / kPerProducer;
		cr_assert_gt(*v, last[p], "consumer saw %d after %d", *v, last[p]);
		last[p] = *v;
	}
}

Task<> ProduceAndConsume(IoContext &c, Channel<int> *q, std::vector<int> *s)
{
	TaskGroup consumers, producers;
	consumers.Spawn(Consume(c, q, s));
	consumers.Spawn(Consume(c, q, s));
	producers.Spawn(Produce(c, q, 0));
	producers.Spawn(Produce(c, q, 1));
	cr_assert(co_await producers.JoinAllTimeout(c, 30s), "producers stuck");
	q->Close();
	cr_assert(co_await consumers.JoinAllTimeout(c, 30s), "consumers stuck");
}

Task<> ProduceFromThread(IoContext &c, Channel<int> *q, int id, std::atomic<int> *f)
{
	for (int i = 0; i < kPerProducer; i++)
		if (!co_await q->Send(c, id * kPerProducer + i))
			f->fetch_add(1);
}

void RunOneLoop(std::size_t capacity)
{
	auto ctx = kxt::NewCtx();
	Channel<int> ch(capacity);
	std::vector<int> seen(2 * kPerProducer, 0);
	ctx->RunUntilDone(ProduceAndConsume(*ctx, &ch, &seen));
	for (int i = 0; i < 2 * kPerProducer; i++)
		cr_assert_eq(seen[i], 1, "message %d received %d times", i, seen[i]);
}

} // namespace

Test(channel, two_producers_two_consumers_buffered, .timeout = 60)
{
	KXT_LEAK_GUARD();
	RunOneLoop(16);
}

Test(channel, two_producers_two_consumers_unbuffered, .timeout = 60)
{
	KXT_LEAK_GUARD();
	RunOneLoop(0);
}

// Producers on two worker threads (each its own loop), the consumer on
// this thread: waiters are resumed on their own loops through posts.
static void RunAcrossThreads(std::size_t capacity)
{
	auto ctx = kxt::NewCtx();
	Channel<int> ch(capacity);
	std::vector<int> seen(2 * kPerProducer, 0);
	std::vector<std::unique_ptr<std::thread>> producers;
	std::atomic<int> failures{0};
	// Both producer rings exist at the same time (see sync.cpp: liburing's
	// raw mmap/munmap would make a reused address look shared to TSan).
	std::latch created(2), finished(2);
	for (int p = 0; p < 2; p++)
		producers.push_back(std::make_unique<std::thread>([&, p] {
			IoContext pctx;
			created.arrive_and_wait();
			pctx.RunUntilDone(ProduceFromThread(pctx, &ch, p, &failures));
			finished.arrive_and_wait();
		}));
	std::atomic<bool> closer_done{false};
	std::thread closer([&] {
		for (auto &t : producers)
			t->join();
		ch.Close(); // from a third thread
		closer_done = true;
	});
	ctx->RunUntilDone(Consume(*ctx, &ch, &seen));
	closer.join();
	cr_assert(closer_done.load());
	cr_assert_eq(failures.load(), 0);
	for (int i = 0; i < 2 * kPerProducer; i++)
		cr_assert_eq(seen[i], 1, "message %d received %d times", i, seen[i]);
}

Test(channel, producers_on_other_threads_buffered, .timeout = 90)
{
	KXT_LEAK_GUARD();
	RunAcrossThreads(8);
}

Test(channel, producers_on_other_threads_unbuffered, .timeout = 90)
{
	KXT_LEAK_GUARD();
	RunAcrossThreads(0);
}

namespace {

constexpr int kWarmUp = 200;
constexpr int kCounted = 20000;

Task<> PingSender(IoContext &ctx, Channel<int> *q)
{
	for (int i = 0; i < kWarmUp + kCounted; i++) {
		if (i == kWarmUp)
			t_counting = true; // both coroutines run on this thread
		cr_assert(co_await q->Send(ctx, i));
	}
	q->Close();
}

Task<> PingReceiver(IoContext &ctx, Channel<int> *q, long *sum)
{
	while (auto v = co_await q->Recv(ctx))
		*sum += *v;
}

Task<> PingPong(IoContext &ctx, Channel<int> *q, long *sum)
{
	TaskGroup g;
	g.SpawnAll(PingReceiver(ctx, q, sum), PingSender(ctx, q));
	co_await g.JoinAll(ctx);
}

} // namespace

// Every message of an unbuffered channel is a suspension and a posted
// wake-up; once warmed up, none of that allocates.
Test(channel, no_allocation_per_message, .timeout = 60)
{
	if (!KXT_COUNT_NEW)
		cr_skip_test("operator new belongs to the sanitizer runtime");
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	for (std::size_t capacity : {0, 4}) {
		Channel<int> ch(capacity);
		long sum = 0;
		t_news = 0;
		ctx->RunUntilDone(PingPong(*ctx, &ch, &sum));
		t_counting = false;
		const long n = kWarmUp + kCounted;
		cr_assert_eq(sum, n * (n - 1) / 2);
		cr_assert_eq(t_news, 0ul, "capacity %zu: %lu allocations in %d messages", capacity,
			     t_news, kCounted);
	}
}
