// SPDX-License-Identifier: MIT
//
// kio/task.hpp - Task<T>: the coroutine type of kio.
//
//   Task<T> F(...) { ...; co_return value; }     Task<> (= Task<void>) too.
//
//   - Lazy: the body starts when the Task is awaited (co_await F()), run by
//     IoContext::RunUntilDone(), or spawned into a TaskGroup.
//   - Move-only and [[nodiscard]]. Awaiting an rvalue Task yields T (moved
//     out); awaiting an lvalue Task yields T& (Task<void>: nothing).
//   - Symmetric transfer: a finishing Task resumes its awaiter directly, so
//     chains of any length never grow the stack.
//   - An exception escaping the body is stored and rethrown from the
//     co_await (or from RunUntilDone / TaskGroup::JoinAll).
//   - Destroying a Task that never started frees its frame (nothing runs).
//     Destroying a Task whose body is suspended DETACHES it instead: the
//     frame may be waiting for an op whose buffer lives in it, so it runs on
//     and frees itself when it finishes (an exception it then throws is
//     written to kio's log). Frames still detached when the last IoContext
//     of the thread is destroyed are destroyed then, after every op ended.
//   - Take coroutine parameters by value: a reference may dangle across a
//     suspension.
//   - IsReady(): the body has finished.
//
// The reference library's manual driving, kept as additions (the caller
// keeps the Task alive meanwhile; the loop must run for it to progress):
//   t.Start();          // runs the body now, up to its first suspension;
//   t.resume();         //   the same (a started task is resumed by the
//                       //   loop when what it awaits completes: calling
//                       //   either again does nothing)
//   t.Done();           // = IsReady()
//   t.Result();         // its value (T&; T for an rvalue Task) or rethrows
//                       //   its exception; std::logic_error before Done()
// A started task can still be handed to IoContext::RunUntilDone(task) to
// run the loop until it finishes; it cannot be co_awaited or spawned then.
#ifndef KIO_CXX_TASK_HPP
#define KIO_CXX_TASK_HPP

#include "detail/abi.hpp"

#include <coroutine>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <kio/kio.h>

#include "detail/frame_alloc.hpp"
#include "result.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

template <class T = void>
class Task;

namespace detail {

struct PromiseBase;

// Frames whose Task was destroyed while they were suspended, per thread.
// Detached frames free themselves when they finish; ~IoContext destroys
// the rest once no IoContext is left on the thread and every op ended.
struct FrameRegistry {
	PromiseBase *head = nullptr;
	unsigned live_contexts = 0; // IoContexts alive on this thread
	bool sweeping = false;      // destroy, never detach

	static FrameRegistry &Get() noexcept
	{
		static thread_local FrameRegistry r;
		return r;
	}
	inline void Add(PromiseBase *p) noexcept;
	inline void Remove(PromiseBase *p) noexcept;
	inline void Sweep() noexcept;
};

inline void ReportLostException(std::exception_ptr e, const char *who = "a detached task") noexcept
{
	char buf[256];
	const char *what = "unknown exception";
#if KIO_CXX_EXCEPTIONS
	try {
		std::rethrow_exception(e);
	} catch (const std::exception &ex) {
		what = ex.what();
	} catch (...) {
	}
#else
	(void)e;
#endif
	int n = std::snprintf(buf, sizeof buf, "%s ended with an exception: %s", who, what);
	if (n > 0)
		kio_log_write(KIO_LOG_ERROR, buf,
			      static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) :
								    sizeof buf - 1);
}

struct PromiseBase {
	std::coroutine_handle<> continuation{};
	// Called instead of resuming a continuation (RunUntilDone, TaskGroup);
	// returns the coroutine to transfer to (or std::noop_coroutine()). It
	// may destroy the finished frame.
	std::coroutine_handle<> (*on_done)(void *arg) noexcept = nullptr;
	void *on_done_arg = nullptr;
	void *owner = nullptr; // the driver's own use (TaskGroup)
	std::exception_ptr exception{};
	std::coroutine_handle<> self{};
	PromiseBase *prev = nullptr, *next = nullptr; // FrameRegistry links
	bool started = false;
	bool detached = false;

	// Frames come from a per-thread recycling cache (detail/frame_alloc.hpp):
	// a steady stream of short tasks allocates nothing.
	static void *operator new(std::size_t n)
	{
		return FrameAllocate(n);
	}
	static void operator delete(void *p, std::size_t n) noexcept
	{
		FrameDeallocate(p, n);
	}

	struct InitialAwaiter {
		PromiseBase *p;
		bool await_ready() const noexcept
		{
			return false;
		}
		void await_suspend(std::coroutine_handle<>) const noexcept
		{
		}
		void await_resume() const noexcept
		{
			p->started = true;
		}
	};

	struct FinalAwaiter {
		PromiseBase *p;
		bool await_ready() const noexcept
		{
			return false;
		}
		template <class P>
		std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept
		{
			PromiseBase &pr = h.promise();
			if (pr.detached) {
				FrameRegistry::Get().Remove(&pr);
				if (pr.exception)
					ReportLostException(pr.exception);
				h.destroy();
				return std::noop_coroutine();
			}
			if (pr.on_done)
				return pr.on_done(pr.on_done_arg);
			if (pr.continuation)
				return pr.continuation;
			return std::noop_coroutine();
		}
		void await_resume() const noexcept
		{
		}
	};

	InitialAwaiter initial_suspend() noexcept
	{
		return {this};
	}
	FinalAwaiter final_suspend() noexcept
	{
		return {this};
	}
	void unhandled_exception() noexcept
	{
		exception = std::current_exception();
	}
	void RethrowIfFailed() const
	{
		if (exception)
			std::rethrow_exception(exception);
	}
};

inline void FrameRegistry::Add(PromiseBase *p) noexcept
{
	p->prev = nullptr;
	p->next = head;
	if (head)
		head->prev = p;
	head = p;
}

inline void FrameRegistry::Remove(PromiseBase *p) noexcept
{
	if (p->prev)
		p->prev->next = p->next;
	else if (head == p)
		head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = nullptr;
}

inline void FrameRegistry::Sweep() noexcept
{
	sweeping = true;
	while (head) {
		PromiseBase *p = head;
		Remove(p);
		p->self.destroy();
	}
	sweeping = false;
}

// Destroys a frame that never ran or has finished; detaches a running one.
inline void ReleaseFrame(PromiseBase &p, std::coroutine_handle<> h) noexcept
{
	FrameRegistry &reg = FrameRegistry::Get();
	if (p.started && !h.done() && !reg.sweeping && reg.live_contexts > 0) {
		p.detached = true;
		p.continuation = {};
		p.on_done = nullptr;
		reg.Add(&p);
		return;
	}
	h.destroy();
}

template <class T>
struct Promise final : PromiseBase {
	Task<T> get_return_object() noexcept;

	template <class U = T>
	requires std::is_convertible_v<U &&, T>
	void return_value(U &&v) noexcept(std::is_nothrow_constructible_v<T, U &&>)
	{
		::new (static_cast<void *>(&storage)) T(std::forward<U>(v));
		has_value = true;
	}
	~Promise()
	{
		if (has_value)
			std::launder(reinterpret_cast<T *>(&storage))->~T();
	}
	T &Value() &
	{
		RethrowIfFailed();
		if (!has_value)
			KIO_CXX_THROW(
				std::logic_error("kio::Task: no value (the task did not finish)"));
		return *std::launder(reinterpret_cast<T *>(&storage));
	}
	T &&Value() &&
	{
		return std::move(Value());
	}

	alignas(T) unsigned char storage[sizeof(T)];
	bool has_value = false;
};

template <>
struct Promise<void> final : PromiseBase {
	Task<void> get_return_object() noexcept;
	void return_void() noexcept
	{
	}
	void Value() const
	{
		RethrowIfFailed();
	}
};

} // namespace detail

template <class T>
class [[nodiscard]] Task {
	static_assert(!std::is_reference_v<T>, "Task<T&> is not supported: return a pointer");

public:
	using promise_type = detail::Promise<T>;
	using handle_type = std::coroutine_handle<promise_type>;
	using value_type = T;

	Task() noexcept = default;
	explicit Task(handle_type h) noexcept
		: h_(h)
	{
	}
	Task(Task &&o) noexcept
		: h_(std::exchange(o.h_, {}))
	{
	}
	Task &operator=(Task &&o) noexcept
	{
		if (this != &o) {
			Reset();
			h_ = std::exchange(o.h_, {});
		}
		return *this;
	}
	Task(const Task &) = delete;
	Task &operator=(const Task &) = delete;
	~Task()
	{
		Reset();
	}

	// The body finished (returned or threw). False for an empty Task.
	bool IsReady() const noexcept
	{
		return h_ && h_.done();
	}
	explicit operator bool() const noexcept
	{
		return static_cast<bool>(h_);
	}

	// The reference's names (see the top of this file).
	void Start()
	{
		if (!h_)
			KIO_CXX_THROW(std::logic_error("kio::Task::Start: empty Task"));
		if (!h_.promise().started)
			h_.resume();
	}
	void resume()
	{
		Start();
	}
	bool Done() const noexcept
	{
		return IsReady();
	}
	decltype(auto) Result() &
	{
		CheckDone();
		return h_.promise().Value();
	}
	decltype(auto) Result() &&
	{
		CheckDone();
		if constexpr (std::is_void_v<T>)
			return h_.promise().Value();
		else
			return T(std::move(h_.promise()).Value());
	}

	auto operator co_await() &noexcept
	{
		return Awaiter<false>{h_};
	}
	auto operator co_await() &&noexcept
	{
		return Awaiter<true>{h_};
	}

	// For the layer's drivers (RunUntilDone, TaskGroup): the frame, and
	// taking ownership of it (the Task is left empty).
	handle_type Handle() const noexcept
	{
		return h_;
	}
	handle_type Release() noexcept
	{
		return std::exchange(h_, {});
	}

private:
	template <bool Move>
	struct Awaiter {
		handle_type h;
		bool await_ready() const noexcept
		{
			return !h || h.done();
		}
		std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept
		{
			h.promise().continuation = awaiting;
			return h;
		}
		decltype(auto) await_resume()
		{
			if (!h)
				KIO_CXX_THROW(
					std::logic_error("kio::Task: awaiting an empty Task"));
			if constexpr (std::is_void_v<T>)
				h.promise().Value();
			else if constexpr (Move)
				return std::move(h.promise()).Value();
			else
				return h.promise().Value();
		}
	};

	void CheckDone() const
	{
		if (!IsReady())
			KIO_CXX_THROW(std::logic_error("kio::Task::Result: the task has not finished"));
	}

	void Reset() noexcept
	{
		if (h_)
			detail::ReleaseFrame(h_.promise(), h_);
		h_ = {};
	}

	handle_type h_{};
};

namespace detail {

template <class T>
inline Task<T> Promise<T>::get_return_object() noexcept
{
	auto h = std::coroutine_handle<Promise>::from_promise(*this);
	self = h;
	return Task<T>(h);
}

inline Task<void> Promise<void>::get_return_object() noexcept
{
	auto h = std::coroutine_handle<Promise>::from_promise(*this);
	self = h;
	return Task<void>(h);
}

} // namespace detail

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_TASK_HPP
