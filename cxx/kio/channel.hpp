// SPDX-License-Identifier: MIT
//
// kio/channel.hpp - Channel<T>: a multi-producer, multi-consumer queue
// between coroutines, like Go's channels.
//
//   Channel<int> ch(16);          // buffered: Send waits only when 16 wait
//   Channel<int> rendezvous;      // capacity 0: Send waits for a receiver
//
//   Result<void> s = co_await ch.Send(ctx, 42);
//   Result<int>  v = co_await ch.Recv(ctx);
//   while (auto v = co_await ch.Recv(ctx)) use(*v);   // until closed+drained
//   ch.Close();
//
// Close(): later Sends fail with std::errc::broken_pipe, and so do Sends
// waiting at that moment (their values are dropped). Values already in the
// buffer are still received; once it is empty, Recv gives
// std::errc::broken_pipe too. Close() is idempotent.
//
// Cancellation: Send(ctx, v, stop_token) / Recv(ctx, stop_token) (or
// .WithStopToken(st) on either) give std::errc::operation_canceled when
// stop is requested while they wait (a Send cancelled so has not
// delivered its value). A Send or Recv that can complete at once does so
// even if stop was already requested.
//
// Order: values are received in the order their Sends completed; waiting
// senders and receivers are served first come, first served. A value goes
// to exactly one receiver.
//
// Resumption and threads: as AsyncMutex (sync.hpp). A waiting coroutine is
// resumed through kio_ctx_post() on the IoContext it passed, never inside
// the Send/Recv/Close that woke it, so chains of hand-offs never grow the
// stack and nothing is ever resumed on the wrong thread. The channel is
// thread-safe: producers and consumers may run on different IoContexts and
// threads. Its state is guarded by a std::mutex held for a few
// instructions (never across a resume or a user callback other than T's
// move constructor). Wake-ups are posted while it is held and a resumed
// waiter takes it once before going on, so no thread is still inside
// kio_ctx_post() on a waiter's IoContext when that waiter's thread
// destroys it. A hand-off costs one post; a Send into free buffer
// space or a Recv from a non-empty buffer does not suspend.
//
// Memory: the buffer (capacity slots) is allocated once, in the
// constructor. No allocation per message.
//
// Lifetime: the channel must outlive every Send/Recv in progress. A
// waiter whose frame is destroyed leaves the queue. A receiver whose
// IoContext is destroyed after a value was handed to it (before it
// resumed) is not resumed, and that value is destroyed with its frame.
#ifndef KIO_CHANNEL_HPP
#define KIO_CHANNEL_HPP

#include "detail/abi.hpp"

#include <kio/kio.h>

#include "io_context.hpp"
#include "result.hpp"
#include "sync.hpp"

#include <cassert>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include "detail/stop_token.hpp"
#include <type_traits>
#include <utility>

namespace kio {
inline namespace KIO_CXX_ABI {

template <class T>
class Channel {
	static_assert(std::is_nothrow_move_constructible_v<T>,
		      "kio::Channel<T>: T must be nothrow move constructible");

	class SendAwaiter;
	class RecvAwaiter;

public:
	// capacity 0: unbuffered (every Send meets a Recv).
	explicit Channel(std::size_t capacity = 0)
		: slots_(capacity ? std::make_unique<std::optional<T>[]>(capacity) : nullptr)
		, capacity_(capacity)
	{
	}

	Channel(const Channel &) = delete;
	Channel &operator=(const Channel &) = delete;

	~Channel()
	{
		assert(senders_.Empty() && receivers_.Empty() &&
		       "kio::Channel destroyed with coroutines waiting");
	}

	// co_await: Result<void>. ctx is the IoContext the caller runs on.
	[[nodiscard]] SendAwaiter Send(IoContext &ctx, T value, StopToken stop = {})
	{
		return SendAwaiter(this, ctx.Native(), std::move(value), std::move(stop));
	}

	// co_await: Result<T>.
	[[nodiscard]] RecvAwaiter Recv(IoContext &ctx, StopToken stop = {})
	{
		return RecvAwaiter(this, ctx.Native(), std::move(stop));
	}

	// Without suspending: true if the value was taken (buffered, or
	// handed to a waiting receiver). On false, value is untouched.
	bool TrySend(T &value)
	{
		std::lock_guard lock(mu_);
		return !closed_ && DeliverLocked(value);
	}

	// Without suspending: a value if one is ready.
	std::optional<T> TryRecv()
	{
		std::lock_guard lock(mu_);
		return TakeLocked();
	}

	// See the top of this file. Wakes every waiter.
	void Close() noexcept
	{
		std::lock_guard lock(mu_);
		if (closed_)
			return;
		closed_ = true;
		while (detail::SyncWaiter *w = receivers_.PopFront()) {
			w->status = -EPIPE;
			detail::SyncWaiterPost(w);
		}
		while (detail::SyncWaiter *w = senders_.PopFront()) {
			w->status = -EPIPE;
			detail::SyncWaiterPost(w);
		}
	}

	bool IsClosed() const noexcept
	{
		std::lock_guard lock(mu_);
		return closed_;
	}

	// Values in the buffer now (a snapshot).
	std::size_t Size() const noexcept
	{
		std::lock_guard lock(mu_);
		return count_;
	}

	std::size_t Capacity() const noexcept
	{
		return capacity_;
	}

private:
	// A waiter plus its value slot (a sender's value to give, a receiver's
	// value received).
	struct Waiter : detail::SyncWaiter {
		std::optional<T> value;
	};

	// mu_ held. Hands value to a waiting receiver or into the buffer.
	bool DeliverLocked(T &value)
	{
		while (detail::SyncWaiter *sw = receivers_.PopFront()) {
			auto *r = static_cast<Waiter *>(sw);
			r->value.emplace(std::move(value));
			r->status = 0;
			if (detail::SyncWaiterPost(r))
				return true;
			// That receiver's loop is gone: take the value back.
			value = std::move(*r->value);
			r->value.reset();
		}
		if (count_ < capacity_) {
			slots_[(head_ + count_) % capacity_].emplace(std::move(value));
			count_++;
			return true;
		}
		return false;
	}

	// mu_ held. The next value: the buffer's head (refilled from the
	// oldest waiting sender), or a waiting sender's value directly.
	std::optional<T> TakeLocked()
	{
		std::optional<T> out;
		if (count_ > 0) {
			out.emplace(std::move(*slots_[head_]));
			slots_[head_].reset();
			head_ = (head_ + 1) % capacity_;
			count_--;
			if (detail::SyncWaiter *sw = senders_.PopFront()) {
				auto *s = static_cast<Waiter *>(sw);
				slots_[(head_ + count_) % capacity_].emplace(std::move(*s->value));
				count_++;
				s->value.reset();
				s->status = 0;
				detail::SyncWaiterPost(s);
			}
		} else if (detail::SyncWaiter *sw = senders_.PopFront()) {
			auto *s = static_cast<Waiter *>(sw);
			out.emplace(std::move(*s->value));
			s->value.reset();
			s->status = 0;
			detail::SyncWaiterPost(s);
		}
		return out;
	}

	// What Send and Recv awaiters share: queue membership, stop handling.
	template <class Derived>
	class AwaiterBase : protected Waiter {
	public:
		AwaiterBase(Channel *ch, kio_ctx *c, StopToken stop) noexcept
			: stop_(std::move(stop))
		{
			this->owner = ch;
			this->ctx = c;
		}
		// Moves the parameters (and a Send's value): an awaitable may be
		// moved before it is awaited (g++ copies an xvalue operand of
		// co_await), never while it waits.
		AwaiterBase(AwaiterBase &&o) noexcept
			: Waiter(static_cast<Waiter &&>(o))
			, stop_(std::move(o.stop_))
		{
		}
		AwaiterBase &operator=(const AwaiterBase &) = delete;

		~AwaiterBase()
		{
			if (waiting_) {
				std::lock_guard lock(Chan()->mu_);
				queue_->Remove(this);
			}
		}

	public:
		// Same as passing stop to Send/Recv (the spelling of the op
		// awaitables, detail/awaiter.hpp).
		Derived &&WithStopToken(StopToken st) &&noexcept
		{
			stop_ = std::move(st);
			return static_cast<Derived &&>(*this);
		}

	protected:
		Channel *Chan() const noexcept
		{
			return static_cast<Channel *>(this->owner);
		}

		// mu_ held: joins queue q; arms the stop callback after unlock.
		void Enqueue(detail::SyncWaitList &q, std::coroutine_handle<> h) noexcept
		{
			this->handle = h;
			this->status = -EINPROGRESS;
			q.PushBack(this);
			queue_ = &q;
			waiting_ = true;
		}

		// After mu_ is released (the callback may run at once and lock it).
		void ArmStop()
		{
			if (stop_.stop_possible())
				on_stop_.emplace(stop_, OnStop{this});
		}

		bool StopRequested() const noexcept
		{
			return stop_.stop_requested();
		}

		void Resumed() noexcept
		{
			if (waiting_) {
				// Whoever woke us posted the resume while holding mu_
				// and may still be inside kio_ctx_post() on our ctx:
				// wait for it to let go before this coroutine can go
				// on and, say, destroy that ctx.
				std::lock_guard lock(Chan()->mu_);
				waiting_ = false;
			}
			on_stop_.reset();
		}

	private:
		struct OnStop {
			AwaiterBase *self;
			void operator()() const noexcept
			{
				std::lock_guard lock(self->Chan()->mu_);
				if (!self->queued)
					return; // served first
				self->queue_->Remove(self);
				self->status = -ECANCELED;
				detail::SyncWaiterPost(self);
			}
		};

		StopToken stop_;
		std::optional<StopCallback<OnStop>> on_stop_;
		detail::SyncWaitList *queue_ = nullptr; // the queue Enqueue joined
		bool waiting_ = false;                  // queued by await_suspend, not resumed yet
	};

	class SendAwaiter : public AwaiterBase<SendAwaiter> {
		using Base = AwaiterBase<SendAwaiter>;

	public:
		SendAwaiter(Channel *ch, kio_ctx *c, T v, StopToken stop)
			: Base(ch, c, std::move(stop))
		{
			this->value.emplace(std::move(v));
		}

		bool await_ready() noexcept
		{
			return false;
		}

		bool await_suspend(std::coroutine_handle<> h)
		{
			Channel *ch = this->Chan();
			{
				std::lock_guard lock(ch->mu_);
				if (ch->closed_) {
					this->status = -EPIPE;
					return false;
				}
				if (ch->DeliverLocked(*this->value)) {
					this->status = 0;
					return false;
				}
				if (this->StopRequested()) {
					this->status = -ECANCELED;
					return false;
				}
				this->Enqueue(ch->senders_, h);
			}
			this->ArmStop();
			return true;
		}

		Result<void> await_resume() noexcept
		{
			this->Resumed();
			if (this->status != 0)
				return Err(ErrorFromNeg(this->status));
			return Result<void>();
		}
	};

	class RecvAwaiter : public AwaiterBase<RecvAwaiter> {
		using Base = AwaiterBase<RecvAwaiter>;

	public:
		RecvAwaiter(Channel *ch, kio_ctx *c, StopToken stop)
			: Base(ch, c, std::move(stop))
		{
		}

		bool await_ready() noexcept
		{
			return false;
		}

		bool await_suspend(std::coroutine_handle<> h)
		{
			Channel *ch = this->Chan();
			{
				std::lock_guard lock(ch->mu_);
				if (auto v = ch->TakeLocked()) {
					this->value.emplace(std::move(*v));
					this->status = 0;
					return false;
				}
				if (ch->closed_) {
					this->status = -EPIPE;
					return false;
				}
				if (this->StopRequested()) {
					this->status = -ECANCELED;
					return false;
				}
				this->Enqueue(ch->receivers_, h);
			}
			this->ArmStop();
			return true;
		}

		Result<T> await_resume() noexcept(std::is_nothrow_move_constructible_v<T>)
		{
			this->Resumed();
			if (this->status != 0)
				return Err(ErrorFromNeg(this->status));
			return Result<T>(std::move(*this->value));
		}
	};

	mutable std::mutex mu_;
	std::unique_ptr<std::optional<T>[]> slots_;
	std::size_t capacity_;
	std::size_t head_ = 0;
	std::size_t count_ = 0;
	bool closed_ = false;
	detail::SyncWaitList senders_;
	detail::SyncWaitList receivers_;
};

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CHANNEL_HPP
