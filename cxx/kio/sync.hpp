// SPDX-License-Identifier: MIT
//
// kio/sync.hpp - AsyncMutex: a mutex that suspends the coroutine instead
// of blocking the thread.
//
//   AsyncMutex mutex;
//   {
//           auto guard = co_await mutex.Lock(ctx);   // AsyncLockGuard
//           ... critical section, may co_await ...
//   }                                                 // unlocked here
//
//   AsyncMutex mutex(ctx);         // bound to one IoContext:
//   auto guard = co_await mutex.Lock();
//
//   auto r = co_await mutex.Lock(ctx, stop_token);    // Result<AsyncLockGuard>:
//                                  // std::errc::operation_canceled on stop
//   auto r = co_await mutex.Lock(ctx).WithStopToken(stop_token);   // the same
//
// Fairness: strict FIFO. Unlock() hands the lock straight to the oldest
// waiter (the mutex stays locked across the hand-off), so a coroutine that
// arrives later never overtakes one that is waiting.
//
// Resumption: a waiter is resumed through kio_ctx_post() on the IoContext
// it passed to Lock(), never inside Unlock(). Unlock() therefore returns at
// once, long chains of lock/unlock never grow the stack, and a waiter runs
// on its own loop's thread. The cost is one post per contended hand-off;
// an uncontended Lock() does not suspend.
//
// Threads: thread-safe. Coroutines on different IoContexts (on different
// threads) may share a mutex; each must pass the IoContext it runs on.
// The mutex's own state is guarded by a std::mutex held only for a few
// instructions, never across a resume. Hand-offs are posted while that
// std::mutex is held, and a resumed waiter takes it once before it goes
// on: kio_ctx_post() has returned by then, so the waiter's thread may
// destroy its IoContext right away (kio_ctx_post's caller must keep the
// ctx alive for the duration of the call).
//
// Lifetime: the mutex must outlive every Lock() in progress. A waiter
// whose frame is destroyed while it waits leaves the queue. A waiter whose
// IoContext is destroyed before the hand-off reached it is not resumed (as
// every kio coroutine, see io_context.hpp); the lock passes on to the next
// waiter.
#ifndef KIO_SYNC_HPP
#define KIO_SYNC_HPP

#include "detail/abi.hpp"

#include <kio/kio.h>

#include "io_context.hpp"
#include "result.hpp"

#include <cassert>
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include "detail/stop_token.hpp"
#include <utility>

namespace kio {
inline namespace KIO_CXX_ABI {

namespace detail {

// A suspended coroutine in a wait queue of a kio synchronisation object.
// Lives in the awaiting coroutine's frame (the awaiter is or contains it).
struct SyncWaiter {
	SyncWaiter *prev = nullptr;
	SyncWaiter *next = nullptr;
	bool queued = false;
	kio_ctx *ctx = nullptr;
	std::coroutine_handle<> handle;
	int status = 0; // 0 done, or a negated errno (-ECANCELED stop, -EPIPE closed)
	// Called (on ctx's thread) instead of resuming when ctx is destroyed
	// before the posted resume ran; owner decides what to give back.
	void (*abandon)(SyncWaiter *self) noexcept = nullptr;
	void *owner = nullptr;
};

// FIFO of waiters; the owner's lock guards it.
class SyncWaitList {
public:
	bool Empty() const noexcept
	{
		return head_ == nullptr;
	}

	void PushBack(SyncWaiter *w) noexcept
	{
		w->prev = tail_;
		w->next = nullptr;
		if (tail_)
			tail_->next = w;
		else
			head_ = w;
		tail_ = w;
		w->queued = true;
	}

	SyncWaiter *PopFront() noexcept
	{
		SyncWaiter *w = head_;
		if (w)
			Remove(w);
		return w;
	}

	void Remove(SyncWaiter *w) noexcept
	{
		if (!w->queued)
			return;
		if (w->prev)
			w->prev->next = w->next;
		else
			head_ = w->next;
		if (w->next)
			w->next->prev = w->prev;
		else
			tail_ = w->prev;
		w->prev = w->next = nullptr;
		w->queued = false;
	}

private:
	SyncWaiter *head_ = nullptr;
	SyncWaiter *tail_ = nullptr;
};

inline void SyncWaiterResume(void *user_data, int32_t res, uint32_t) noexcept
{
	auto *w = static_cast<SyncWaiter *>(user_data);
	if (res < 0) {
		// The waiter's IoContext is being destroyed: no resume.
		if (w->abandon)
			w->abandon(w);
		return;
	}
	w->handle.resume();
}

// Schedules w's resumption on its own loop. False when that loop is gone
// (-ESHUTDOWN) or out of memory: the caller treats w as abandoned.
inline bool SyncWaiterPost(SyncWaiter *w) noexcept
{
	return kio_ctx_post(w->ctx, &SyncWaiterResume, w) == 0;
}

} // namespace detail

class AsyncMutex;

// Owns a lock of an AsyncMutex; unlocks it when destroyed. Move-only.
class AsyncLockGuard {
public:
	AsyncLockGuard() noexcept = default;
	explicit AsyncLockGuard(AsyncMutex *m) noexcept
		: mutex_(m)
	{
	}
	AsyncLockGuard(AsyncLockGuard &&o) noexcept
		: mutex_(std::exchange(o.mutex_, nullptr))
	{
	}
	AsyncLockGuard &operator=(AsyncLockGuard &&o) noexcept
	{
		if (this != &o) {
			Unlock();
			mutex_ = std::exchange(o.mutex_, nullptr);
		}
		return *this;
	}
	AsyncLockGuard(const AsyncLockGuard &) = delete;
	AsyncLockGuard &operator=(const AsyncLockGuard &) = delete;
	~AsyncLockGuard()
	{
		Unlock();
	}

	bool OwnsLock() const noexcept
	{
		return mutex_ != nullptr;
	}
	explicit operator bool() const noexcept
	{
		return mutex_ != nullptr;
	}

	// Unlocks early; the guard is empty afterwards.
	inline void Unlock() noexcept;

	// Gives up ownership without unlocking (call AsyncMutex::Unlock later).
	AsyncMutex *Release() noexcept
	{
		return std::exchange(mutex_, nullptr);
	}

private:
	AsyncMutex *mutex_ = nullptr;
};

class AsyncMutex {
	template <bool WithStop>
	class LockAwaiter;

public:
	AsyncMutex() noexcept = default;

	// Binds a default IoContext for Lock() without arguments.
	explicit AsyncMutex(IoContext &home) noexcept
		: home_(home.Native())
	{
	}

	AsyncMutex(const AsyncMutex &) = delete;
	AsyncMutex &operator=(const AsyncMutex &) = delete;

	~AsyncMutex()
	{
		assert(waiters_.Empty() && "kio::AsyncMutex destroyed with coroutines waiting");
	}

	// Takes the lock if it is free and nobody waits for it.
	bool TryLock() noexcept
	{
		std::lock_guard lock(mu_);
		if (locked_)
			return false;
		locked_ = true;
		return true;
	}

	// co_await: an AsyncLockGuard once the lock is ours. ctx is the
	// IoContext the awaiting coroutine runs on.
	[[nodiscard]] LockAwaiter<false> Lock(IoContext &ctx) noexcept
	{
		return LockAwaiter<false>(this, ctx.Native(), {});
	}

	// The IoContext given to the constructor. Without one there is no loop
	// to resume on: that is a programming error and terminates.
	[[nodiscard]] LockAwaiter<false> Lock() noexcept
	{
		if (!home_)
			std::terminate();
		return LockAwaiter<false>(this, home_, {});
	}

	// co_await: Result<AsyncLockGuard>; operation_canceled when stop is
	// requested before the lock was handed over (the coroutine is then
	// out of the queue and does not hold the lock).
	[[nodiscard]] LockAwaiter<true> Lock(IoContext &ctx, StopToken stop) noexcept
	{
		return LockAwaiter<true>(this, ctx.Native(), std::move(stop));
	}

	// Releases the lock held by the caller: the oldest waiter gets it (its
	// resumption is posted to its loop), or it becomes free.
	void Unlock() noexcept
	{
		std::lock_guard lock(mu_);
		assert(locked_);
		HandOffLocked();
	}

	// Whether some coroutine holds the lock (a snapshot).
	bool IsLocked() const noexcept
	{
		std::lock_guard lock(mu_);
		return locked_;
	}

private:
	// mu_ held, the lock is being released.
	void HandOffLocked() noexcept
	{
		while (detail::SyncWaiter *w = waiters_.PopFront()) {
			w->status = 0;
			if (detail::SyncWaiterPost(w))
				return; // still locked: w owns it now
		}
		locked_ = false;
	}

	// The posted hand-off could not run (w's IoContext died): pass it on.
	static void Abandoned(detail::SyncWaiter *w) noexcept
	{
		auto *m = static_cast<AsyncMutex *>(w->owner);
		if (w->status == 0)
			m->Unlock();
	}

	template <bool WithStop>
	class LockAwaiter : detail::SyncWaiter {
	public:
		LockAwaiter(AsyncMutex *m, kio_ctx *c, StopToken stop) noexcept
			: stop_(std::move(stop))
		{
			owner = m;
			ctx = c;
			abandon = &AsyncMutex::Abandoned;
		}
		LockAwaiter(const LockAwaiter &) = delete;
		LockAwaiter &operator=(const LockAwaiter &) = delete;
		LockAwaiter(LockAwaiter &&o) noexcept
			: detail::SyncWaiter(static_cast<const detail::SyncWaiter &>(o))
			, stop_(std::move(o.stop_))
		{
		}

		~LockAwaiter()
		{
			// Frame destroyed while waiting: leave the queue. (Resumed
			// awaiters skip the lock: waiting_ is only ours.)
			if (waiting_) {
				std::lock_guard lock(Mutex()->mu_);
				Mutex()->waiters_.Remove(this);
			}
		}

		// Lock(ctx).WithStopToken(st): the awaitable yields
		// Result<AsyncLockGuard>, as Lock(ctx, st) does.
		LockAwaiter<true> WithStopToken(StopToken st) &&noexcept
		{
			return LockAwaiter<true>(Mutex(), ctx, std::move(st));
		}

		bool await_ready() noexcept
		{
			if constexpr (WithStop) {
				if (stop_.stop_requested()) {
					status = -ECANCELED;
					return true;
				}
			}
			return Mutex()->TryLock();
		}

		bool await_suspend(std::coroutine_handle<> h) noexcept
		{
			handle = h;
			{
				std::lock_guard lock(Mutex()->mu_);
				if (!Mutex()->locked_) {
					Mutex()->locked_ = true;
					return false;
				}
				status = -EINPROGRESS;
				Mutex()->waiters_.PushBack(this);
				waiting_ = true;
			}
			if constexpr (WithStop)
				on_stop_.emplace(stop_, OnStop{this});
			return true;
		}

		auto await_resume() noexcept
		{
			if (waiting_) {
				// The hand-off was posted under mu_ and the poster may
				// still be inside kio_ctx_post() on our ctx: wait for
				// it before this coroutine can go on (and destroy that
				// ctx, for instance).
				std::lock_guard lock(Mutex()->mu_);
				waiting_ = false;
			}
			if constexpr (WithStop) {
				on_stop_.reset();
				if (status != 0)
					return Result<AsyncLockGuard>(Err(ErrorFromNeg(status)));
				return Result<AsyncLockGuard>(AsyncLockGuard(Mutex()));
			} else {
				return AsyncLockGuard(Mutex());
			}
		}

	private:
		struct OnStop {
			LockAwaiter *self;
			void operator()() const noexcept
			{
				AsyncMutex *m = self->Mutex();
				std::lock_guard lock(m->mu_);
				if (!self->queued)
					return; // the lock was handed over first
				m->waiters_.Remove(self);
				self->status = -ECANCELED;
				// A failed post means its loop is gone: nothing to give back.
				detail::SyncWaiterPost(self);
			}
		};

		AsyncMutex *Mutex() const noexcept
		{
			return static_cast<AsyncMutex *>(owner);
		}

		StopToken stop_;
		std::optional<StopCallback<OnStop>> on_stop_;
		bool waiting_ = false; // queued by await_suspend, not resumed yet
	};

	mutable std::mutex mu_;
	bool locked_ = false;
	detail::SyncWaitList waiters_;
	kio_ctx *home_ = nullptr;
};

inline void AsyncLockGuard::Unlock() noexcept
{
	if (mutex_)
		std::exchange(mutex_, nullptr)->Unlock();
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_SYNC_HPP
