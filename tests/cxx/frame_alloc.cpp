// SPDX-License-Identifier: MIT
//
// The recycling allocator of Task frames (kio/detail/frame_alloc.hpp):
// spawning and joining short tasks in a steady state allocates nothing;
// the per-thread cache stays under its limit; frames freed on another
// thread than the one that made them are reused or released there; a
// thread's cache is released when the thread ends; address-sanitizer
// builds bypass the cache so frame misuse is still reported.
//
// operator new/delete are replaced here to count calls on the test's
// thread (t_news) and blocks alive in the process (g_live).
#include "kio_cxx_test.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

namespace {
thread_local bool t_counting = false;
thread_local unsigned long t_news = 0;
std::atomic<long> g_live{0};
} // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void *operator new(std::size_t n)
{
	if (t_counting)
		t_news++;
	if (void *p = std::malloc(n ? n : 1)) {
		g_live.fetch_add(1, std::memory_order_relaxed);
		return p;
	}
	throw std::bad_alloc();
}
void *operator new[](std::size_t n)
{
	return ::operator new(n);
}
void *operator new(std::size_t n, const std::nothrow_t &) noexcept
{
	if (t_counting)
		t_news++;
	void *p = std::malloc(n ? n : 1);
	if (p)
		g_live.fetch_add(1, std::memory_order_relaxed);
	return p;
}
void *operator new[](std::size_t n, const std::nothrow_t &t) noexcept
{
	return ::operator new(n, t);
}
void operator delete(void *p) noexcept
{
	if (p)
		g_live.fetch_sub(1, std::memory_order_relaxed);
	std::free(p);
}
void operator delete[](void *p) noexcept
{
	::operator delete(p);
}
void operator delete(void *p, std::size_t) noexcept
{
	::operator delete(p);
}
void operator delete[](void *p, std::size_t) noexcept
{
	::operator delete(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

using namespace kio;
using namespace std::chrono_literals;

namespace {

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

int g_finished = 0;

// A request handler's shape: one await, then done.
Task<> Handler(IoContext &ctx, int i)
{
	co_await AsyncSleep(ctx, 0ns);
	g_finished += i >= 0;
}

Task<int> Child(int v)
{
	co_return v + 1;
}

Task<> Caller(int &sum)
{
	sum += co_await Child(sum);
}

Task<unsigned long> SpawnJoin(IoContext &ctx, int warm, int n)
{
	TaskGroup tasks;
	for (int i = 0; i < warm; i++) {
		tasks.Spawn(Handler(ctx, i));
		if (i % 64 == 63)
			co_await tasks.JoinAll(ctx);
	}
	co_await tasks.JoinAll(ctx);
	unsigned long news;
	{
		Counting c;
		for (int i = 0; i < n; i++) {
			tasks.Spawn(Handler(ctx, i));
			if (i % 64 == 63)
				co_await tasks.JoinAll(ctx);
		}
		co_await tasks.JoinAll(ctx);
		news = t_news;
	}
	co_return news;
}

Task<int> ManyHandlers(IoContext &ctx)
{
	TaskGroup tasks;
	for (int i = 0; i < 1000; i++)
		tasks.Spawn(Handler(ctx, i));
	co_await tasks.JoinAll(ctx);
	co_return 1;
}

// Keeps an array's address beyond the compiler's sight, so the array has
// to live in the frame across the suspension.
char *volatile g_escape = nullptr;
[[gnu::noinline]] void Escape(char *p)
{
	g_escape = p;
}

Task<> Big()
{
	char big[20000];
	Escape(big);
	co_await std::suspend_always{};
	Escape(big);
}

} // namespace

#if KIO_CXX_FRAME_CACHE

Test(frame_alloc, steady_state_spawn_join_allocates_nothing)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	g_finished = 0;
	unsigned long news = ctx->RunUntilDone(SpawnJoin(*ctx, 1000, 100000));
	cr_assert_eq(news, 0ul, "%lu allocations in 100,000 spawn+join", news);
	cr_assert_eq(g_finished, 101000);
}

Test(frame_alloc, awaited_child_tasks_allocate_nothing)
{
	int sum = 1;
	for (int i = 0; i < 100; i++) {
		auto t = Caller(sum);
		t.Start();
	}
	Counting c;
	for (int i = 0; i < 10000; i++) {
		auto t = Caller(sum);
		t.Start();
		cr_assert(t.Done());
	}
	cr_assert_eq(t_news, 0ul);
}

Test(frame_alloc, a_freed_frame_is_the_next_one)
{
	void *first;
	{
		auto t = Child(1);
		first = t.Handle().address();
	}
	auto again = Child(2);
	cr_assert_eq(again.Handle().address(), first);
}

Test(frame_alloc, cache_is_bounded)
{
	std::size_t old = FrameCacheLimit();
	cr_assert_eq(old, std::size_t(1) << 20);
	SetFrameCacheLimit(4096);
	cr_assert_eq(FrameCacheLimit(), 4096u);
	{
		std::vector<Task<int>> many;
		for (int i = 0; i < 1000; i++)
			many.push_back(Child(i));
		long live_before = g_live.load();
		many.clear(); // 1000 frames freed: most go back to the system
		cr_assert_leq(FrameCacheBytes(), 4096u);
		cr_assert_gt(FrameCacheBytes(), 0u);
		cr_assert_lt(g_live.load(), live_before - 900);
	}
	SetFrameCacheLimit(0); // nothing kept, and what was kept is released
	cr_assert_eq(FrameCacheBytes(), 0u);
	{
		auto t = Child(1);
	}
	cr_assert_eq(FrameCacheBytes(), 0u);
	SetFrameCacheLimit(old);
	ReleaseFrameCache();
}

Test(frame_alloc, large_frames_bypass_the_cache)
{
	ReleaseFrameCache();
	long live = g_live.load();
	{
		auto t = Big();
		t.Start();
		cr_assert_eq(g_live.load(), live + 1);
	} // destroyed while suspended, no IoContext: freed at once
	cr_assert_eq(FrameCacheBytes(), 0u);
	cr_assert_eq(g_live.load(), live);
}

Test(frame_alloc, frames_freed_on_another_thread)
{
	KXT_LEAK_GUARD();
	ReleaseFrameCache();
	std::vector<Task<int>> made;
	for (int i = 0; i < 200; i++)
		made.push_back(Child(i));
	long live = g_live.load();
	std::size_t other_cached = 0;
	std::thread t([&] {
		// Made here, freed there: they join that thread's cache...
		made.clear();
		other_cached = FrameCacheBytes();
		// ...and new frames there reuse them without allocating.
		Counting c;
		for (int i = 0; i < 100; i++) {
			auto x = Child(i);
			x.Start();
		}
		other_cached = t_news == 0 ? other_cached : 0;
	});
	t.join();
	cr_assert_gt(other_cached, 0u);
	cr_assert_eq(FrameCacheBytes(), 0u); // this thread's cache untouched
	// ...and that thread's cache went back to the system when it ended.
	cr_assert_leq(g_live.load(), live - 200);
}

Test(frame_alloc, tasks_run_on_a_worker_thread)
{
	KXT_LEAK_GUARD();
	long live = g_live.load();
	{
		Worker w(0);
		auto f = w.RunTask(&ManyHandlers);
		w.Join();
		cr_assert_eq(f.get(), 1);
	}
	// The worker thread's cache was released when it ended.
	cr_assert_leq(g_live.load(), live);
}

#else // the cache is compiled out (address sanitizer)

Test(frame_alloc, sanitizer_build_bypasses_the_cache)
{
	cr_assert_eq(FrameCacheLimit(), 0u);
	long live = g_live.load();
	{
		auto t = Child(1);
		cr_assert_eq(g_live.load(), live + 1);
	}
	// Each frame is its own allocation, freed at once: the sanitizer sees
	// a use after free of a frame.
	cr_assert_eq(g_live.load(), live);
	cr_assert_eq(FrameCacheBytes(), 0u);
}

#endif
