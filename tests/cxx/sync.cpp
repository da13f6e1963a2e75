// SPDX-License-Identifier: MIT
// AsyncMutex: mutual exclusion across suspensions, FIFO hand-off, no
// barging, stop tokens, long hand-off chains on a flat stack, and sharing
// one mutex between loops on two threads.
#include "count_new.hpp"
#include "kio_cxx_test.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <latch>
#include <new>
#include <thread>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

namespace {

using kxt::YieldTo;

struct Shared {
	AsyncMutex mutex;
	int inside = 0;
	int max_inside = 0;
	long counter = 0;
	std::vector<int> order;
};

Task<> Increment(IoContext &ctx, Shared *s, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		auto guard = co_await s->mutex.Lock(ctx);
		s->inside++;
		if (s->inside > s->max_inside)
			s->max_inside = s->inside;
		long seen = s->counter;
		co_await YieldTo(ctx); // others run here; none may enter
		s->counter = seen + 1;
		s->inside--;
	}
}

Task<> Acquire(IoContext &ctx, Shared *s, int id)
{
	auto guard = co_await s->mutex.Lock(ctx);
	s->order.push_back(id);
	co_await YieldTo(ctx);
}

} // namespace

namespace {

Task<> MutualExclusionAcrossSuspensions(IoContext &c, Shared *sh)
{
	TaskGroup g;
	for (int i = 0; i < 8; i++)
		g.Spawn(Increment(c, sh, 50));
	cr_assert(co_await g.JoinAllTimeout(c, 10s), "a waiter was never woken");
}

Task<> WaitersGetTheLockInFifoOrder(IoContext &c, Shared *sh)
{
	auto guard = co_await sh->mutex.Lock(c);
	TaskGroup g;
	// Each Spawn runs until the task suspends in Lock(): they queue
	// in this order.
	for (int id = 1; id <= 6; id++)
		g.Spawn(Acquire(c, sh, id));
	co_await YieldTo(c);
	cr_assert(sh->order.empty(), "nobody may get a held lock");
	guard.Unlock();
	// Handed to waiter 1 (resumption posted): still locked, no
	// barging by a newcomer.
	cr_assert(sh->mutex.IsLocked());
	cr_assert_not(sh->mutex.TryLock());
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
}

Task<> UncontendedLockDoesNotSuspend(IoContext &c, AsyncMutex *mu)
{
	for (int i = 0; i < 1000; i++) {
		auto g = co_await mu->Lock(c);
		cr_assert(g.OwnsLock());
	}
}

Task<> BoundMutexLocksWithoutACtxArgument(IoContext &c, AsyncMutex *mu, int *count)
{
	auto outer = co_await mu->Lock();
	TaskGroup g;
	g.Spawn([](AsyncMutex *mx, int *cn) -> Task<> {
		auto inner = co_await mx->Lock();
		(*cn)++;
	}(mu, count));
	cr_assert_eq(*count, 0);
	outer.Unlock();
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
}

Task<> StopTokenCancelsAWaitingLock(IoContext &c, Shared *sh)
{
	auto guard = co_await sh->mutex.Lock(c);
	kio::StopSource stop;
	int cancelled = 0, acquired_after = 0;
	TaskGroup g;
	g.Spawn([](IoContext &cx, AsyncMutex *m, kio::StopToken st, int *out) -> Task<> {
		auto r = co_await m->Lock(cx, st);
		cr_assert_not(r.has_value());
		cr_assert(r.error() == std::errc::operation_canceled);
		(*out)++;
	}(c, &sh->mutex, stop.get_token(), &cancelled));
	g.Spawn([](IoContext &cx, AsyncMutex *m, kio::StopToken st, int *out) -> Task<> {
		// Queued behind the cancelled one; must still get the lock.
		auto r = co_await m->Lock(cx).WithStopToken(st);
		cr_assert(r.has_value());
		cr_assert((*r).OwnsLock());
		(*out)++;
	}(c, &sh->mutex, kio::StopToken{}, &acquired_after));
	stop.request_stop();
	co_await YieldTo(c);
	cr_assert_eq(cancelled, 1, "the cancelled waiter resumed with an error");
	cr_assert_eq(acquired_after, 0);
	guard.Unlock();
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
	cr_assert_eq(acquired_after, 1);
}

Task<> StopAlreadyRequestedFailsAtOnce(IoContext &c, AsyncMutex *mu)
{
	kio::StopSource stop;
	stop.request_stop();
	auto r = co_await mu->Lock(c, stop.get_token());
	cr_assert(!r && r.error() == std::errc::operation_canceled);
	cr_assert_not(mu->IsLocked());
}

Task<> LongHandOffChainsDoNotGrowTheStack(IoContext &c, Shared *sh)
{
	auto guard = co_await sh->mutex.Lock(c);
	TaskGroup g;
	for (int i = 0; i < 20000; i++)
		g.Spawn([](IoContext &cx, Shared *x) -> Task<> {
			auto gd = co_await x->mutex.Lock(cx);
			x->counter++;
		}(c, sh));
	guard.Unlock();
	cr_assert(co_await g.JoinAllTimeout(c, 30s));
}

Task<> TwoThreadsShareOneMutex(IoContext &c, Shared *sh, std::atomic<int> *in, std::atomic<int> *ov)
{
	for (int i = 0; i < 2000; i++) {
		auto g = co_await sh->mutex.Lock(c);
		if (in->fetch_add(1) != 0)
			ov->fetch_add(1);
		sh->counter++;
		if (i % 8 == 0)
			co_await YieldTo(c);
		in->fetch_sub(1);
	}
}

} // namespace

Test(sync, mutual_exclusion_across_suspensions, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Shared s;
	ctx->RunUntilDone(MutualExclusionAcrossSuspensions(*ctx, &s));
	cr_assert_eq(s.counter, 8 * 50);
	cr_assert_eq(s.max_inside, 1);
	cr_assert_not(s.mutex.IsLocked());
}

Test(sync, waiters_get_the_lock_in_fifo_order, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Shared s;
	ctx->RunUntilDone(WaitersGetTheLockInFifoOrder(*ctx, &s));
	std::vector<int> want{1, 2, 3, 4, 5, 6};
	cr_assert(s.order == want, "lock order was not FIFO");
	cr_assert_not(s.mutex.IsLocked());
}

Test(sync, uncontended_lock_does_not_suspend, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	AsyncMutex m;
	ctx->RunUntilDone(UncontendedLockDoesNotSuspend(*ctx, &m));
	cr_assert(m.TryLock());
	m.Unlock();
}

Test(sync, bound_mutex_locks_without_a_ctx_argument, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	AsyncMutex m(*ctx);
	int n = 0;
	ctx->RunUntilDone(BoundMutexLocksWithoutACtxArgument(*ctx, &m, &n));
	cr_assert_eq(n, 1);
}

Test(sync, stop_token_cancels_a_waiting_lock, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Shared s;
	ctx->RunUntilDone(StopTokenCancelsAWaitingLock(*ctx, &s));
	cr_assert_not(s.mutex.IsLocked());
}

Test(sync, stop_already_requested_fails_at_once, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	AsyncMutex m;
	ctx->RunUntilDone(StopAlreadyRequestedFailsAtOnce(*ctx, &m));
}

// 20000 waiters handed the lock one after another: each hand-off is a post,
// so the stack stays flat (a recursive resume chain would overflow it).
Test(sync, long_hand_off_chains_do_not_grow_the_stack, .timeout = 60)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	Shared s;
	ctx->RunUntilDone(LongHandOffChainsDoNotGrowTheStack(*ctx, &s));
	cr_assert_eq(s.counter, 20000);
}

// Two loops on two threads share a mutex that guards a plain counter:
// exact count, never two inside (TSan checks the hand-offs too).
Test(sync, two_threads_share_one_mutex, .timeout = 60)
{
	KXT_LEAK_GUARD();
	auto probe = kxt::NewCtx(); // skip early without io_uring
	probe.reset();
	Shared s;
	std::atomic<int> inside{0};
	std::atomic<int> overlap{0};
	// Both rings exist at the same time: liburing maps and unmaps them with
	// raw syscalls TSan does not see, so a ring mapped where the other
	// thread's old one was would look like shared memory.
	std::latch created(2), finished(2);
	auto body = [&] {
		IoContext ctx;
		created.arrive_and_wait();
		ctx.RunUntilDone(TwoThreadsShareOneMutex(ctx, &s, &inside, &overlap));
		finished.arrive_and_wait();
	};
	std::thread a(body), b(body);
	a.join();
	b.join();
	cr_assert_eq(s.counter, 4000);
	cr_assert_eq(overlap.load(), 0);
	cr_assert_not(s.mutex.IsLocked());
}

namespace {

Task<> Contender(IoContext &ctx, AsyncMutex *m, long *count, int rounds, int warm_up)
{
	for (int i = 0; i < rounds; i++) {
		if (i == warm_up)
			t_counting = true; // every contender runs on this thread
		auto g = co_await m->Lock(ctx);
		co_await YieldTo(ctx); // hold it across a suspension: others queue
		(*count)++;
	}
}

Task<> Contend(IoContext &ctx, AsyncMutex *m, long *count)
{
	TaskGroup g;
	g.SpawnAll(Contender(ctx, m, count, 5100, 100), Contender(ctx, m, count, 5100, 100),
		   Contender(ctx, m, count, 5100, 100));
	co_await g.JoinAll(ctx);
}

} // namespace

// Contended hand-offs (each a queued waiter and a posted resume) allocate
// nothing once warmed up.
Test(sync, no_allocation_per_hand_off, .timeout = 60)
{
	if (!KXT_COUNT_NEW)
		cr_skip_test("operator new belongs to the sanitizer runtime");
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	AsyncMutex m;
	long count = 0;
	t_news = 0;
	ctx->RunUntilDone(Contend(*ctx, &m, &count));
	t_counting = false;
	cr_assert_eq(count, 3 * 5100);
	cr_assert_eq(t_news, 0ul, "%lu allocations", t_news);
}
