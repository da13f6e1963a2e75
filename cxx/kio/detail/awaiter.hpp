// SPDX-License-Identifier: MIT
//
// kio/detail/awaiter.hpp - the awaitable every single-shot kio op uses.
//
// OpAwaiter<Derived> keeps the op's whole state in the awaiting coroutine's
// frame and hands the C API a static noexcept trampoline: an await
// allocates nothing. Derived provides
//     int64_t Start(kio_ctx *ctx, kio_cb cb, void *user_data) noexcept;
//     R Finish(int32_t res, uint32_t flags);   // R: what co_await yields
// Start() runs in await_suspend(), after the awaitable reached its final
// place, so it may hand the kernel pointers into *this.
//
// Every op awaitable therefore has:
//   .WithTimeout(d)       kio_op_timeout(): when d passes, the op is
//                         cancelled and yields std::errc::timed_out (or its
//                         result / partial count if it finished first).
//                         d <= 0 expires at the next loop round.
//   .WithStopToken(st)    a stop request cancels the op (kio_op_cancel);
//                         it yields std::errc::operation_canceled. A token
//                         already stopped does not start the op at all.
//   .Id()                 the kio op id once started (else -1).
// The coroutine resumes only from the op's C callback: after a timeout or a
// cancel, the kernel has let go of every buffer by then.
//
// Stop tokens: the StopCallback lives in the awaitable and is
// destroyed in the trampoline before the coroutine resumes (its destructor
// waits for a callback running on another thread). A stop requested on the
// loop's thread calls kio_op_cancel() at once; from any other thread the
// callback allocates a 24-byte record {ctx, op id} and kio_ctx_post()s it,
// and the loop thread runs kio_op_cancel() on the id: an op that already
// finished gives -ENOENT, so the record never touches the awaitable. Only
// that path allocates.
//
// Cost: a plain await (no timeout, no token) stores a few words, tests one
// flag byte in await_ready(), await_suspend(), the callback and the
// destructor, and resumes the coroutine from the callback. The stop-token
// state (token, callback, owner thread id) is built only by
// .WithStopToken(), the timeout only armed after .WithTimeout().
#ifndef KIO_CXX_DETAIL_AWAITER_HPP
#define KIO_CXX_DETAIL_AWAITER_HPP

#include "abi.hpp"

#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <new>
#include "stop_token.hpp"
#include <thread>
#include <utility>

#include <kio/kio.h>

#include "../io_context.hpp"
#include "../result.hpp"

namespace kio::inline KIO_CXX_ABI::detail {

// A cancel posted from another thread; owns nothing but two numbers.
struct PostedCancel {
	kio_ctx *ctx;
	int64_t id;

	static void Run(void *ud, int32_t res, uint32_t) noexcept
	{
		auto *rec = static_cast<PostedCancel *>(ud);
		if (res == 0)
			kio_op_cancel(rec->ctx, rec->id);
		delete rec;
	}
};

// Cancels op `id` of ctx from whichever thread asks. Built only when a
// stop token is attached (never on the plain await path): the owner thread
// is captured then, on the loop's thread.
class StopCanceller {
public:
	StopCanceller(kio_ctx *ctx, int64_t id) noexcept
		: ctx_(ctx)
		, id_(id)
		, owner_(std::this_thread::get_id())
	{
	}
	void Cancel() const noexcept
	{
		if (std::this_thread::get_id() == owner_) {
			kio_op_cancel(ctx_, id_);
			return;
		}
		auto *rec = new (std::nothrow) PostedCancel{ctx_, id_};
		if (rec && kio_ctx_post(ctx_, &PostedCancel::Run, rec) < 0)
			delete rec;
	}

private:
	kio_ctx *ctx_;
	int64_t id_;
	std::thread::id owner_;
};

// Everything .WithStopToken() needs, kept out of the plain await path: it
// is constructed only when a token is attached.
struct StopState {
	struct Fn {
		const StopCanceller *c;
		void operator()() const noexcept
		{
			c->Cancel();
		}
	};
	using Callback = StopCallback<Fn>;

	explicit StopState(StopToken st) noexcept
		: token(std::move(st))
	{
	}
	StopState(const StopState &) = delete;
	StopState &operator=(const StopState &) = delete;
	~StopState()
	{
		Disarm();
	}

	// May run the callback at once, on this thread, if a stop came in
	// since await_ready(): the op is then cancelled directly.
	void Arm(kio_ctx *ctx, int64_t id) noexcept
	{
		if (!token.stop_possible())
			return;
		canceller = StopCanceller(ctx, id);
		::new (static_cast<void *>(cb)) Callback(token, Fn{&canceller});
		armed = true;
	}
	// Waits for a callback running on another thread.
	void Disarm() noexcept
	{
		if (armed) {
			armed = false;
			std::launder(reinterpret_cast<Callback *>(cb))->~Callback();
		}
	}

	StopToken token;
	bool armed = false;
	StopCanceller canceller{nullptr, -1};
	alignas(Callback) unsigned char cb[sizeof(Callback)];
};

// The hot path (construct, await_ready, await_suspend, the callback,
// await_resume, destroy) touches a handful of words and one flag byte; the
// timeout and stop-token work runs only when the flag says it was asked for.
template <class Derived>
class OpAwaiter {
	enum : uint8_t {
		kTimeout = 1, // WithTimeout() was called
		kStop = 2,    // stop_ holds a StopState
	};

public:
	explicit OpAwaiter(kio_ctx *ctx) noexcept
		: ctx_(ctx)
	{
	}
	explicit OpAwaiter(IoContext &ctx) noexcept
		: ctx_(ctx.Native())
	{
	}
	// Copies the parameters only: an awaitable is moved before it is
	// awaited, never while its op is in flight.
	OpAwaiter(const OpAwaiter &o) noexcept
		: ctx_(o.ctx_)
		, extra_(o.extra_)
	{
		if (extra_ & kTimeout)
			timeout_ns_ = o.timeout_ns_;
		if (extra_ & kStop)
			::new (static_cast<void *>(&stop_)) StopState(o.stop_.token);
	}
	OpAwaiter &operator=(const OpAwaiter &) = delete;
	~OpAwaiter()
	{
		if (extra_ & kStop) [[unlikely]]
			stop_.~StopState();
	}

	Derived &WithTimeout(std::chrono::nanoseconds d) &noexcept
	{
		SetTimeout(d);
		return Self();
	}
	Derived &&WithTimeout(std::chrono::nanoseconds d) &&noexcept
	{
		SetTimeout(d);
		return std::move(Self());
	}
	Derived &WithStopToken(StopToken st) &noexcept
	{
		SetStop(std::move(st));
		return Self();
	}
	Derived &&WithStopToken(StopToken st) &&noexcept
	{
		SetStop(std::move(st));
		return std::move(Self());
	}

	int64_t Id() const noexcept
	{
		return id_;
	}

	[[gnu::always_inline]] bool await_ready() noexcept
	{
		if (extra_ & kStop) [[unlikely]]
			return StoppedBeforeStart();
		return false;
	}

	[[gnu::always_inline]] bool await_suspend(std::coroutine_handle<> h) noexcept
	{
		waiter_ = h;
		int64_t id = Self().Start(ctx_, &Trampoline, static_cast<OpAwaiter *>(this));
		if (id < 0) [[unlikely]] {
			res_ = static_cast<int32_t>(id);
			flags_ = 0;
			return false;
		}
		id_ = id;
		if (extra_) [[unlikely]]
			ArmExtras(id);
		return true;
	}

	[[gnu::always_inline]] decltype(auto) await_resume()
	{
		return Self().Finish(res_, flags_);
	}

protected:
	kio_ctx *Ctx() const noexcept
	{
		return ctx_;
	}

private:
	[[gnu::hot]] static void Trampoline(void *ud, int32_t res, uint32_t flags) noexcept
	{
		auto *self = static_cast<OpAwaiter *>(ud);
		self->res_ = res;
		self->flags_ = flags;
		if (self->extra_ & kStop) [[unlikely]]
			return ResumeStopped(self);
		Resume(self);
	}

	// The stop callback goes before the resume: the coroutine may destroy
	// this awaitable.
	[[gnu::noinline, gnu::cold]] static void ResumeStopped(OpAwaiter *self) noexcept
	{
		self->stop_.Disarm();
		Resume(self);
	}

	[[gnu::always_inline]] static void Resume(OpAwaiter *self) noexcept
	{
		// kio_ctx_destroy() is cancelling everything: the frame stays
		// suspended (and is destroyed with its detached root).
		if (ClosingCtx() == self->ctx_) [[unlikely]]
			return;
		self->waiter_.resume();
	}

	void SetTimeout(std::chrono::nanoseconds d) noexcept
	{
		extra_ |= kTimeout;
		timeout_ns_ = d.count() > 0 ? static_cast<uint64_t>(d.count()) : 1;
	}

	void SetStop(StopToken st) noexcept
	{
		if (extra_ & kStop) {
			stop_.token = std::move(st);
			return;
		}
		::new (static_cast<void *>(&stop_)) StopState(std::move(st));
		extra_ |= kStop;
	}

	[[gnu::noinline, gnu::cold]] bool StoppedBeforeStart() noexcept
	{
		if (!stop_.token.stop_requested())
			return false;
		res_ = -ECANCELED;
		flags_ = 0;
		return true;
	}

	[[gnu::noinline]] void ArmExtras(int64_t id) noexcept
	{
		if (extra_ & kTimeout)
			kio_op_timeout(ctx_, id, timeout_ns_);
		if (extra_ & kStop)
			stop_.Arm(ctx_, id);
	}

	Derived &Self() noexcept
	{
		return static_cast<Derived &>(*this);
	}

	// res_, flags_ and waiter_ are written before they are read (the
	// callback, a failed start or a stop before start); timeout_ns_ and
	// stop_ only exist when extra_ says so.
	kio_ctx *ctx_;
	std::coroutine_handle<> waiter_;
	int64_t id_ = -1;
	int32_t res_;
	uint32_t flags_;
	uint8_t extra_ = 0;
	uint64_t timeout_ns_;
	union {
		StopState stop_;
	};
};

// Maps a C result to what co_await yields.
struct AsVoid {
	static Result<void> Map(int32_t res, uint32_t) noexcept
	{
		return VoidFromNeg(res);
	}
};
struct AsSize {
	static Result<size_t> Map(int32_t res, uint32_t)
	{
		return ResultFromNeg<size_t>(res);
	}
};
struct AsInt {
	static Result<int> Map(int32_t res, uint32_t)
	{
		return ResultFromNeg<int>(res);
	}
};
struct AsU32 {
	static Result<uint32_t> Map(int32_t res, uint32_t)
	{
		return ResultFromNeg<uint32_t>(res);
	}
};

// An op whose start is a callable (usually a lambda holding the
// arguments by value) and whose result is mapped by M.
template <class StartFn, class M>
class SimpleOp final : public OpAwaiter<SimpleOp<StartFn, M>> {
public:
	SimpleOp(kio_ctx *ctx, StartFn fn) noexcept(std::is_nothrow_move_constructible_v<StartFn>)
		: OpAwaiter<SimpleOp>(ctx)
		, fn_(std::move(fn))
	{
	}
	int64_t Start(kio_ctx *ctx, kio_cb cb, void *ud) noexcept
	{
		return fn_(ctx, cb, ud);
	}
	auto Finish(int32_t res, uint32_t flags)
	{
		return M::Map(res, flags);
	}

private:
	StartFn fn_;
};

template <class M, class StartFn>
SimpleOp<StartFn, M> MakeOp(kio_ctx *ctx, StartFn fn)
{
	return SimpleOp<StartFn, M>(ctx, std::move(fn));
}

} // namespace kio::inline KIO_CXX_ABI::detail

#endif // KIO_CXX_DETAIL_AWAITER_HPP
