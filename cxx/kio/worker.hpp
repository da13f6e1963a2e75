// SPDX-License-Identifier: MIT
//
// kio/worker.hpp - Worker: one thread running its own IoContext, for the
// thread-per-core shape (one Worker per CPU, each with its own listener).
//
//   Worker w(id);
//   Worker w(id, token);    // the reference's shape: a stop requested on
//                           //   token (kio::StopToken, i.e. std::stop_token
//                           //   where the library has it) does RequestStop()
//   w.Start([](IoContext &ctx) { ctx.Run(); }, cpu);   // any callable
//   auto f = w.RunTask([](IoContext &ctx) -> Task<int> { ... }, cpu);
//   w.RunLoop([] { tick(); }, cpu);                     // ctx.Run(tick)
//   w.RequestStop();                                    // any thread
//   w.Join();                                           // f.get() is ready
//
// Life of a run: Start() creates the thread. On it, the Worker pins itself
// to `cpu` (if >= 0), creates an IoContext, calls fn(ctx), and destroys the
// IoContext when fn returns (cancelling whatever is still pending).
//
// Stopping: RequestStop() requests stop on StopToken() and calls
// IoContext::Stop(), which makes Run(), Run(tick) and RunUntilDone() return.
// A stop is never lost: requested before the thread created its IoContext
// (even before Start()), it is applied as soon as the IoContext exists, so
// the loop returns at once. Join() ends a run; the next Start() begins with
// a fresh stop state. Coroutines that should finish cleanly watch
// StopToken() (e.g. stop accepting, close connections, return).
//
// CPU pinning: cpu < 0 leaves the thread where the scheduler puts it. A cpu
// the process may not run on (beyond the machine, outside the affinity mask
// set by taskset/cgroups) does not fail the Worker: the thread runs
// unpinned, AffinityError() reports the errno (EINVAL) and a warning goes to
// kio's log.
//
// Errors: an IoContext that cannot be created (no io_uring) ends the run
// without calling fn; StartError() has the error, RunTask()'s future holds
// the std::system_error. An exception escaping Start()'s fn terminates the
// program, as with std::thread; RunTask() stores it in the future instead.
//
// Threads: Start, RunTask, RunLoop and Join from the owner's thread;
// RequestStop, StopToken and the error getters from any thread. The
// destructor requests stop and joins. Worker is movable (std::vector<Worker>
// works); its state lives on the heap and does not move.
#ifndef KIO_WORKER_HPP
#define KIO_WORKER_HPP

#include "detail/abi.hpp"

#include <kio/kio.h>

#include "io_context.hpp"
#include "result.hpp"
#include "task.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <sched.h>
#include <stdexcept>
#include "detail/stop_token.hpp"
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace kio {
inline namespace KIO_CXX_ABI {

class Worker {
public:
	explicit Worker(std::size_t id = 0)
		: state_(std::make_unique<State>(id))
	{
	}
	// Stops with token as well as with RequestStop(): a stop requested on
	// it (before or after Start()) stops every run of this Worker.
	Worker(std::size_t id, kio::StopToken token)
		: state_(std::make_unique<State>(id))
	{
		state_->Follow(std::move(token));
	}

	Worker(Worker &&) noexcept = default;

	Worker &operator=(Worker &&other) noexcept
	{
		if (this != &other) {
			Stop();
			thread_ = std::move(other.thread_);
			state_ = std::move(other.state_);
		}
		return *this;
	}

	Worker(const Worker &) = delete;
	Worker &operator=(const Worker &) = delete;

	~Worker()
	{
		Stop();
	}

	std::size_t Id() const noexcept
	{
		return state_->id;
	}

	// Runs fn(IoContext &) on a new thread pinned to cpu (< 0: not pinned).
	// fn may be move-only. std::logic_error if a run was started and not
	// joined yet.
	template <class F>
	requires std::is_invocable_v < std::decay_t<F>
	&, IoContext & > void Start(F &&fn, int cpu = -1)
	{
		if (thread_.joinable())
			throw std::logic_error("kio::Worker::Start: already running (Join first)");
		State *st = state_.get();
		thread_ =
			std::thread([st, cpu, fn = std::decay_t<F>(std::forward<F>(fn))]() mutable {
				st->Body(cpu, [&](IoContext &ctx) { fn(ctx); });
			});
	}

	// Runs the coroutine fn(ctx) to completion with RunUntilDone on the
	// worker's IoContext. The future receives its value or exception (a
	// stop before it finished: std::system_error(operation_canceled) for a
	// value-returning task, a plain return for Task<void>).
	template <class F>
	requires std::is_invocable_v < std::decay_t<F>
	&, IoContext & > auto RunTask(F &&fn, int cpu = -1)
	{
		using TaskType = std::invoke_result_t<std::decay_t<F> &, IoContext &>;
		using T = typename TaskType::value_type;
		std::promise<T> promise;
		std::future<T> future = promise.get_future();
		Start(
			[fn = std::decay_t<F>(std::forward<F>(fn)),
			 promise = std::move(promise)](IoContext &ctx) mutable {
				try {
					if constexpr (std::is_void_v<T>) {
						ctx.RunUntilDone(fn(ctx));
						promise.set_value();
					} else {
						promise.set_value(ctx.RunUntilDone(fn(ctx)));
					}
				} catch (...) {
					promise.set_exception(std::current_exception());
				}
			},
			cpu);
		return future;
	}

	// ctx.Run(tick) until RequestStop().
	template <class F>
	requires std::is_invocable_v < std::decay_t<F>
	& > void RunLoop(F &&tick, int cpu = -1)
	{
		Start([tick = std::decay_t<F>(std::forward<F>(tick))](
			      IoContext &ctx) mutable { ctx.Run(tick); },
		      cpu);
	}

	// Thread-safe; see the top of this file.
	void RequestStop() noexcept
	{
		state_->RequestStop();
	}

	// Requested by RequestStop() (and the destructor).
	kio::StopToken StopToken() const noexcept
	{
		std::lock_guard lock(state_->mu);
		return state_->stop.get_token();
	}

	// Waits for the thread; then a new Start() may follow.
	void Join()
	{
		if (thread_.joinable())
			thread_.join();
		state_->Reset();
	}

	bool Joinable() const noexcept
	{
		return thread_.joinable();
	}

	// 0, or the errno of pthread_setaffinity_np of the last run (valid once
	// fn started; final after Join).
	int AffinityError() const noexcept
	{
		return state_->affinity_error.load(std::memory_order_acquire);
	}

	// The IoContext creation error of the last run, if any (after Join).
	std::error_code StartError() const noexcept
	{
		std::lock_guard lock(state_->mu);
		return state_->start_error;
	}

private:
	struct State {
		explicit State(std::size_t worker_id)
			: id(worker_id)
		{
		}

		template <class Fn>
		void Body(int cpu, Fn &&fn)
		{
			{
				std::lock_guard lock(mu);
				start_error = {};
			}
			Pin(cpu);
			char name[16];
			std::snprintf(name, sizeof(name), "kio-worker-%zu", id % 10000);
			pthread_setname_np(pthread_self(), name);

			std::unique_ptr<IoContext> ctx;
			try {
				ctx = std::make_unique<IoContext>();
			} catch (const std::system_error &e) {
				std::lock_guard lock(mu);
				start_error = e.code();
				return;
			}
			{
				std::lock_guard lock(mu);
				live = ctx.get();
				if (stop_requested)
					live->Stop();
			}
			fn(*ctx);
			{
				// RequestStop() must not touch a context being destroyed.
				std::lock_guard lock(mu);
				live = nullptr;
			}
			ctx.reset();
		}

		void Pin(int cpu) noexcept
		{
			affinity_error.store(0, std::memory_order_release);
			if (cpu < 0)
				return;
			int err = EINVAL;
			if (cpu < CPU_SETSIZE) {
				cpu_set_t set;
				CPU_ZERO(&set);
				CPU_SET(cpu, &set);
				err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
			}
			affinity_error.store(err, std::memory_order_release);
			if (err != 0) {
				char msg[128];
				int n = std::snprintf(msg, sizeof(msg),
						      "kio::Worker %zu: cannot pin to CPU %d (%s); "
						      "running unpinned",
						      id, cpu, kio_strerror(-err));
				if (n > 0)
					kio_log_write(KIO_LOG_WARN, msg,
						      static_cast<std::size_t>(n) < sizeof(msg) ?
							      static_cast<std::size_t>(n) :
							      sizeof(msg) - 1);
			}
		}

		void RequestStop() noexcept
		{
			std::lock_guard lock(mu);
			stop_requested = true;
			stop.request_stop();
			if (live)
				live->Stop();
		}

		// An outside token's stop forwards to RequestStop(). Set once, in
		// the constructor; the callback may run at once (already stopped).
		struct Forward {
			State *s;
			void operator()() noexcept
			{
				s->RequestStop();
			}
		};
		void Follow(kio::StopToken token)
		{
			external = token;
			follow.emplace(std::move(token), Forward{this});
		}
		// After a joined run: a fresh stop state for the next Start()
		// (unless the outside token asked to stop for good).
		void Reset()
		{
			std::lock_guard lock(mu);
			if (stop_requested && !external.stop_requested()) {
				stop_requested = false;
				stop = StopSource();
			}
		}

		const std::size_t id;
		mutable std::mutex mu;
		StopSource stop;       // guarded by mu (replaced by Reset)
		bool stop_requested = false; // guarded by mu
		IoContext *live = nullptr;   // guarded by mu
		std::error_code start_error; // guarded by mu
		std::atomic<int> affinity_error{0};
		kio::StopToken external;
		// Last: destroyed first, while the rest of the state is still whole.
		std::optional<StopCallback<Forward>> follow;
	};

	void Stop() noexcept
	{
		if (!state_)
			return;
		state_->RequestStop();
		if (thread_.joinable())
			thread_.join();
	}

	std::thread thread_;
	std::unique_ptr<State> state_;
};

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_WORKER_HPP
