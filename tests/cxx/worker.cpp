// SPDX-License-Identifier: MIT
// Worker: RunTask results and exceptions, stop requests that race the
// start (200 cycles), RunLoop ticks, CPU pinning (and an unavailable CPU),
// moving Workers around in a vector.
#include "kio_cxx_test.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

namespace {

// The first CPU this process may run on, or -1.
int FirstAllowedCpu()
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			return i;
	return -1;
}

void SkipWithoutIoUring()
{
	auto probe = kxt::NewCtx();
}

Task<int> SleepThenAnswer(IoContext &c, std::thread::id main_id, std::atomic<bool> *other)
{
	co_await AsyncSleep(c, 1ms);
	other->store(std::this_thread::get_id() != main_id);
	co_return 42;
}

Task<> SleepThenThrow(IoContext &c)
{
	co_await AsyncSleep(c, 1ms);
	throw std::runtime_error("boom");
}

Task<int> SleepForAnHour(IoContext &c, std::atomic<bool> *started)
{
	started->store(true);
	co_await AsyncSleep(c, 1h);
	co_return 1;
}

} // namespace

Test(worker, run_task_delivers_the_value_from_another_thread, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	Worker w(3);
	cr_assert_eq(w.Id(), 3u);
	const auto main_id = std::this_thread::get_id();
	std::atomic<bool> other_thread{false};
	auto f = w.RunTask([&](IoContext &ctx) -> Task<int> {
		return SleepThenAnswer(ctx, main_id, &other_thread);
	});
	cr_assert_eq(f.get(), 42);
	w.Join();
	cr_assert(other_thread.load(), "the task ran on the worker's thread");
	cr_assert_not(w.StartError());
}

Test(worker, run_task_carries_exceptions, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	Worker w;
	auto f = w.RunTask([](IoContext &ctx) -> Task<> { return SleepThenThrow(ctx); });
	w.Join();
	cr_assert_throw(f.get(), std::runtime_error);
}

// A stop requested right after Start (before the thread made its loop, or
// while it runs) is never lost: each cycle must end.
Test(worker, stop_right_after_start_is_not_lost, .timeout = 60)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	Worker w;
	int runs = 0;
	for (int i = 0; i < 200; i++) {
		w.Start([&runs](IoContext &ctx) {
			ctx.Run(); // returns only through RequestStop
			runs++;
		});
		w.RequestStop();
		w.Join();
	}
	cr_assert_eq(runs, 200);
}

Test(worker, stop_before_start_applies_to_the_next_run, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	Worker w;
	w.RequestStop();
	cr_assert(w.StopToken().stop_requested());
	bool ran = false;
	w.Start([&ran](IoContext &ctx) {
		ctx.Run();
		ran = true;
	});
	w.Join();
	cr_assert(ran);
	// Join ended that run: the next one starts with a fresh stop state.
	cr_assert_not(w.StopToken().stop_requested());
}

Test(worker, stop_ends_an_unfinished_task, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	Worker w;
	std::atomic<bool> started{false};
	auto f = w.RunTask(
		[&](IoContext &ctx) -> Task<int> { return SleepForAnHour(ctx, &started); });
	while (!started.load())
		std::this_thread::sleep_for(1ms);
	w.RequestStop();
	w.Join();
	try {
		f.get();
		cr_assert_fail("a stopped task has no value");
	} catch (const std::system_error &e) {
		cr_assert(e.code() == std::errc::operation_canceled);
	}
}

Test(worker, stop_token_reaches_the_task, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	Worker w;
	kio::StopToken st = w.StopToken();
	std::atomic<int> stage{0};
	w.Start([st, &stage](IoContext &ctx) {
		stage = 1;
		while (!st.stop_requested())
			ctx.RunOnce(1ms);
		stage = 2;
	});
	while (stage.load() == 0)
		std::this_thread::sleep_for(1ms);
	w.RequestStop();
	w.Join();
	cr_assert_eq(stage.load(), 2);
}

Test(worker, run_loop_ticks_until_stopped, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	Worker w;
	std::atomic<int> ticks{0};
	w.RunLoop([&ticks] { ticks++; });
	while (ticks.load() < 5)
		std::this_thread::sleep_for(1ms);
	w.RequestStop();
	w.Join();
	const int at_stop = ticks.load();
	std::this_thread::sleep_for(20ms);
	cr_assert_eq(ticks.load(), at_stop, "no tick after Join");
}

Test(worker, pins_to_the_cpu_it_was_given, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	const int cpu = FirstAllowedCpu();
	if (cpu < 0)
		cr_skip_test("no CPU in the affinity mask");
	Worker w;
	std::atomic<int> count{-1}, where{-1};
	w.Start(
		[&](IoContext &) {
			cpu_set_t set;
			CPU_ZERO(&set);
			pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
			count = CPU_COUNT(&set);
			where = CPU_ISSET(cpu, &set) ? cpu : -1;
		},
		cpu);
	w.Join();
	cr_assert_eq(w.AffinityError(), 0);
	cr_assert_eq(count.load(), 1, "pinned to exactly one CPU");
	cr_assert_eq(where.load(), cpu);
}

namespace {

std::mutex g_log_mu;
std::string g_log_text;

void CaptureLog(void *, int level, const char *msg, size_t len)
{
	std::lock_guard lock(g_log_mu);
	if (level == KIO_LOG_WARN)
		g_log_text.append(msg, len).append("\n");
}

} // namespace

Test(worker, unavailable_cpu_runs_unpinned, .timeout = 30)
{
	SkipWithoutIoUring();
	// The log thread starts with the first message: before the leak guard.
	kio_log_set_handler(&CaptureLog, nullptr);
	kio_log_write(KIO_LOG_ERROR, "start", 5);
	cr_assert_eq(kio_log_flush(5'000'000'000), 0);
	KXT_LEAK_GUARD();
	for (int cpu : {CPU_SETSIZE - 1, CPU_SETSIZE + 5, 1 << 20}) {
		Worker w(7);
		std::atomic<bool> ran{false};
		w.Start([&ran](IoContext &) { ran = true; }, cpu);
		w.Join();
		cr_assert(ran.load(), "cpu %d: fn still runs", cpu);
		cr_assert_eq(w.AffinityError(), EINVAL, "cpu %d", cpu);
	}
	cr_assert_eq(kio_log_flush(5'000'000'000), 0);
	std::lock_guard lock(g_log_mu);
	cr_assert(g_log_text.find("kio::Worker 7: cannot pin to CPU 1023") != std::string::npos,
		  "warning missing: %s", g_log_text.c_str());
}

Test(worker, start_twice_without_join_is_refused, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	Worker w;
	w.Start([](IoContext &ctx) { ctx.Run(); });
	cr_assert_throw(w.Start([](IoContext &) {}), std::logic_error);
	w.RequestStop();
	w.Join();
}

// std::vector<Worker> reallocates while the threads run; the destructor
// stops and joins.
Test(worker, workers_move_in_a_vector_and_stop_on_destruction, .timeout = 30)
{
	KXT_LEAK_GUARD();
	SkipWithoutIoUring();
	std::atomic<int> running{0}, finished{0};
	{
		std::vector<Worker> workers;
		for (std::size_t i = 0; i < 4; i++) {
			workers.emplace_back(i);
			workers.back().Start([&](IoContext &ctx) {
				running++;
				ctx.Run();
				finished++;
			});
		}
		for (std::size_t i = 0; i < workers.size(); i++)
			cr_assert_eq(workers[i].Id(), i);
		while (running.load() < 4)
			std::this_thread::sleep_for(1ms);
	}
	cr_assert_eq(finished.load(), 4);
}
