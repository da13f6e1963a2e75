// SPDX-License-Identifier: MIT
//
// kio/io_context.hpp - IoContext: the event loop (one kio_ctx, one thread).
//
//   IoContext ctx;             // 256 SQ entries; IoContext ctx(1024);
//   IoContext ctx(opts);       // a filled kio_ctx_opts (kio_ctx_opts_init)
//   ctx.Run();                 // runs until Stop(), even when idle
//   ctx.Run(tick);             // same; tick() after every loop round and at
//   ctx.Run(tick, 50ms);       //   least every 10 ms (or the given period)
//   ctx.RunUntilIdle();        // kio_ctx_run(): until nothing is pending
//   T v = ctx.RunUntilDone(F(ctx));  // starts the Task, runs the loop until
//                              //   it finishes, returns its value or
//                              //   rethrows its exception
//   ctx.RunUntilDone(task);    // an lvalue Task too (the reference's shape);
//                              //   it may have been Start()ed already
//   ctx.CancelAllPending();    // every pending op ends (-ECANCELED)
//   ctx.Stop();                // thread-safe; never lost: a Stop() before a
//                              //   Run*() makes that Run return at once
//   ctx.Notify();              // thread-safe: wakes a loop blocked in the kernel
//   ctx.Stats().GetSnapshot(); // kio_ctx_stats() counters, from any thread
//   ctx.Native();              // the kio_ctx*, for the C API
//   ctx.Pending();             // kio_ctx_pending()
//   ctx.Backend();             // BackendKind::IoUring or ::Epoll (kio_ctx_backend())
//
// Create, run and destroy an IoContext on one thread. Where the system
// refuses io_uring (a container's seccomp profile, kernel.io_uring_disabled)
// the context runs on the epoll backend instead, with the same behaviour.
// The constructor throws std::system_error when no context can be made
// (std::errc::operation_not_permitted / function_not_supported when
// io_uring was required - KIO_CTX_NO_FALLBACK, KIO_BACKEND=io_uring - and
// the kernel refuses it).
//
// RunUntilDone() returning because of Stop() (the task has not finished):
// Task<void> returns, Task<T> throws std::system_error(operation_canceled).
// The unfinished task is detached (see task.hpp).
//
// Destruction: kio_ctx_destroy() cancels every pending op and waits for the
// kernel; coroutines suspended on those ops are NOT resumed (a resumed loop
// would only meet -ESHUTDOWN again). When the last IoContext of the thread
// goes, detached frames are destroyed (their ops have all ended by then).
#ifndef KIO_CXX_IO_CONTEXT_HPP
#define KIO_CXX_IO_CONTEXT_HPP

#include "detail/abi.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include <kio/kio.h>

#include "result.hpp"
#include "task.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

namespace detail {

// The kio_ctx being destroyed on this thread: its callbacks must not resume
// coroutines.
inline kio_ctx *&ClosingCtx() noexcept
{
	static thread_local kio_ctx *closing = nullptr;
	return closing;
}

inline bool IsClosing(const kio_ctx *ctx) noexcept
{
	return ctx != nullptr && ClosingCtx() == ctx;
}

inline uint64_t ToNs(std::chrono::nanoseconds d) noexcept
{
	return d.count() <= 0 ? 0 : static_cast<uint64_t>(d.count());
}

} // namespace detail

// The backend serving an IoContext (kio_ctx_backend()).
enum class BackendKind : int {
	IoUring = KIO_BACKEND_IO_URING,
	Epoll = KIO_BACKEND_EPOLL,
};

// The counters of a context (kio_ctx_stats(3)), in the reference's shape:
// IoContextStats::Snapshot from ctx.Stats().GetSnapshot(). StatsView and
// StatsSnapshot are kio's earlier names for the same types.
class IoContextStats {
public:
	// kio_stats, plus `timeouts` (the same value as ops_timeouts) for code
	// written against the reference API. ops_completed + ops_inflight ==
	// ops_submitted in every snapshot.
	struct Snapshot {
		uint64_t ops_submitted = 0;
		uint64_t ops_completed = 0;
		uint64_t ops_errors = 0;
		uint64_t ops_timeouts = 0;
		uint64_t ops_cancelled = 0;
		uint64_t ops_max_inflight = 0;
		uint64_t loop_iterations = 0;
		uint64_t enter_calls = 0;
		uint64_t ops_inflight = 0;   // started, final callback not run yet
		uint64_t cq_overflows = 0;   // rounds that found the CQ overflowed
		uint64_t cq_dropped = 0;     // completions the kernel dropped
		uint64_t sqes_submitted = 0; // SQEs handed over (per enter: / enter_calls)
		uint64_t wait_ns = 0;        // blocked waiting (KIO_CTX_STATS_TIME)
		uint64_t run_ns = 0;         // in the loop otherwise (KIO_CTX_STATS_TIME)
		uint64_t snapshot_ns = 0;    // CLOCK_MONOTONIC time the values held
		uint64_t timeouts = 0;
	};

	explicit IoContextStats(const kio_ctx *ctx) noexcept
		: ctx_(ctx)
	{
	}

	// Any thread. On the loop's thread, the live counters; on another, the
	// copy the loop publishes, consistent as a whole, as of its last round.
	// The first call from another thread only asks the loop to publish:
	// it returns std::nullopt (so do calls until the loop ran a round).
	std::optional<Snapshot> TryGetSnapshot() const noexcept
	{
		kio_stats s{};
		if (kio_ctx_stats(ctx_, &s, sizeof s) != 0)
			return std::nullopt;
		Snapshot out;
		out.ops_submitted = s.ops_submitted;
		out.ops_completed = s.ops_completed;
		out.ops_errors = s.ops_errors;
		out.ops_timeouts = s.ops_timeouts;
		out.ops_cancelled = s.ops_cancelled;
		out.ops_max_inflight = s.ops_max_inflight;
		out.loop_iterations = s.loop_iterations;
		out.enter_calls = s.enter_calls;
		out.ops_inflight = s.ops_inflight;
		out.cq_overflows = s.cq_overflows;
		out.cq_dropped = s.cq_dropped;
		out.sqes_submitted = s.sqes_submitted;
		out.wait_ns = s.wait_ns;
		out.run_ns = s.run_ns;
		out.snapshot_ns = s.snapshot_ns;
		out.timeouts = s.ops_timeouts;
		return out;
	}

	// TryGetSnapshot(), with all zeros where it has none.
	Snapshot GetSnapshot() const noexcept
	{
		return TryGetSnapshot().value_or(Snapshot{});
	}

private:
	const kio_ctx *ctx_;
};

using StatsView = IoContextStats;
using StatsSnapshot = IoContextStats::Snapshot;

class IoContext {
public:
	explicit IoContext(uint32_t sq_entries = 256)
	{
		kio_ctx_opts opts;
		kio_ctx_opts_init(&opts, sizeof opts);
		opts.sq_entries = sq_entries;
		Create(opts);
	}
	explicit IoContext(const kio_ctx_opts &opts)
	{
		Create(opts);
	}
	IoContext(const IoContext &) = delete;
	IoContext &operator=(const IoContext &) = delete;

	~IoContext()
	{
		detail::FrameRegistry &reg = detail::FrameRegistry::Get();
		kio_ctx *&closing = detail::ClosingCtx();
		kio_ctx *outer = closing;
		closing = ctx_;
		kio_ctx_destroy(ctx_);
		closing = outer;
		if (reg.live_contexts > 0)
			reg.live_contexts--;
		if (reg.live_contexts == 0)
			reg.Sweep();
	}

	kio_ctx *Native() const noexcept
	{
		return ctx_;
	}
	uint32_t Pending() const noexcept
	{
		return kio_ctx_pending(ctx_);
	}
	// Which backend serves the loop: io_uring, or epoll where io_uring is
	// not allowed.
	BackendKind Backend() const noexcept
	{
		return kio_ctx_backend(ctx_) == KIO_BACKEND_EPOLL ? BackendKind::Epoll : BackendKind::IoUring;
	}
	IoContextStats Stats() const noexcept
	{
		return IoContextStats(ctx_);
	}

	// Thread-safe. Makes the current (or next) Run*() return.
	void Stop() noexcept
	{
		stop_.store(true, std::memory_order_release);
		kio_ctx_stop(ctx_);
	}
	// Thread-safe. Wakes the loop if it is blocked in the kernel.
	void Notify() noexcept
	{
		kio_ctx_wake(ctx_);
	}

	// Runs the loop until Stop().
	void Run()
	{
		Enter guard(this);
		while (!TakeStop())
			Check(kio_ctx_run_once(ctx_, -1), "kio_ctx_run_once");
	}

	// Runs the loop until Stop(), calling tick() after every round and at
	// least every `period` while idle.
	template <class F>
	requires std::is_invocable_v<F &>
	void Run(F &&tick, std::chrono::nanoseconds period = std::chrono::milliseconds(10))
	{
		Enter guard(this);
		const int64_t wait = period.count() > 0 ? static_cast<int64_t>(period.count()) : 0;
		while (!TakeStop()) {
			Check(kio_ctx_run_once(ctx_, wait), "kio_ctx_run_once");
			tick();
		}
	}

	// kio_ctx_run(): until nothing is pending (no op, timer or post) or Stop().
	void RunUntilIdle()
	{
		Enter guard(this);
		Check(kio_ctx_run(ctx_), "kio_ctx_run");
		stop_.store(false, std::memory_order_relaxed);
	}

	// One round: waits up to `timeout` (negative: no limit, 0: poll) and
	// runs what is ready. Returns the number of callbacks run.
	int RunOnce(std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1))
	{
		Enter guard(this);
		int rc = kio_ctx_run_once(ctx_, timeout.count() < 0 ? -1 : timeout.count());
		Check(rc, "kio_ctx_run_once");
		return rc;
	}

	// Starts task and runs the loop until it finishes; returns its value or
	// rethrows its exception. See the top of this file for Stop().
	template <class T>
	T RunUntilDone(Task<T> &&task)
	{
		return Drive(task);
	}
	// The same for a Task the caller keeps (the reference's shape): it may
	// already have been started (Task::Start()); a finished one returns its
	// value at once. The value is moved out of the task; Done() stays true.
	template <class T>
	T RunUntilDone(Task<T> &task)
	{
		return Drive(task);
	}

	// Asks every op pending on this context to end (kio_ctx_cancel_all()):
	// each one's callback runs once, with -ECANCELED unless it had already
	// finished. Coroutines awaiting them resume with
	// std::errc::operation_canceled from the next loop round. Returns how
	// many ops were asked (>= 0). Call on the loop's thread.
	int CancelAllPending()
	{
		int rc = kio_ctx_cancel_all(ctx_);
		Check(rc, "kio_ctx_cancel_all");
		return rc;
	}

private:
	struct Enter {
		IoContext *c;
		explicit Enter(IoContext *ctx)
			: c(ctx)
		{
			if (c->running_)
				KIO_CXX_THROW(std::logic_error(
					"kio::IoContext: Run*() called inside the loop"));
			c->running_ = true;
		}
		~Enter()
		{
			c->running_ = false;
		}
		Enter(const Enter &) = delete;
		Enter &operator=(const Enter &) = delete;
	};

	void Create(const kio_ctx_opts &opts)
	{
		int rc = kio_ctx_create(&ctx_, &opts, sizeof opts);
		if (rc < 0)
			KIO_CXX_THROW(std::system_error(ErrorFromNeg(rc), "kio_ctx_create"));
		detail::FrameRegistry::Get().live_contexts++;
	}

	template <class T>
	T Drive(Task<T> &task)
	{
		if (!task)
			KIO_CXX_THROW(std::logic_error("kio::IoContext::RunUntilDone: empty Task"));
		auto h = task.Handle();
		if (!h.done()) {
			Enter guard(this);
			// Unhooked on every way out: a frame left running is detached
			// by ~Task and must not report to this stack frame.
			struct Done {
				typename Task<T>::handle_type h;
				bool done = false;
				static std::coroutine_handle<> Fn(void *arg) noexcept
				{
					static_cast<Done *>(arg)->done = true;
					return std::noop_coroutine();
				}
				~Done()
				{
					if (!done)
						h.promise().on_done = nullptr;
				}
			} d{h};
			if (h.promise().on_done || h.promise().continuation)
				KIO_CXX_THROW(std::logic_error(
					"kio::IoContext::RunUntilDone: Task already awaited"));
			h.promise().on_done = &Done::Fn;
			h.promise().on_done_arg = &d;
			if (!h.promise().started)
				h.resume();
			while (!d.done) {
				if (TakeStop())
					break;
				Check(kio_ctx_run_once(ctx_, -1), "kio_ctx_run_once");
			}
			if (!d.done) {
				if constexpr (std::is_void_v<T>)
					return;
				else
					KIO_CXX_THROW(std::system_error(
						std::make_error_code(std::errc::operation_canceled),
						"kio::IoContext::RunUntilDone: stopped before the "
						"task finished"));
			}
		}
		if constexpr (std::is_void_v<T>)
			h.promise().Value();
		else
			return std::move(h.promise()).Value();
	}

	bool TakeStop() noexcept
	{
		return stop_.load(std::memory_order_relaxed) &&
		       stop_.exchange(false, std::memory_order_acquire);
	}

	static void Check(int rc, const char *what)
	{
		if (rc < 0)
			KIO_CXX_THROW(std::system_error(ErrorFromNeg(rc), what));
	}

	kio_ctx *ctx_ = nullptr;
	std::atomic<bool> stop_{false};
	bool running_ = false;
};

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_IO_CONTEXT_HPP
