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
// Stop tokens: the std::stop_callback lives in the awaitable and is
// destroyed in the trampoline before the coroutine resumes (its destructor
// waits for a callback running on another thread). A stop requested on the
// loop's thread calls kio_op_cancel() at once; from any other thread the
// callback allocates a 24-byte record {ctx, op id} and kio_ctx_post()s it,
// and the loop thread runs kio_op_cancel() on the id: an op that already
// finished gives -ENOENT, so the record never touches the awaitable. Only
// that path allocates.
#ifndef KIO_CXX_DETAIL_AWAITER_HPP
#define KIO_CXX_DETAIL_AWAITER_HPP

#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <new>
#include <stop_token>
#include <thread>
#include <utility>

#include <kio/kio.h>

#include "../io_context.hpp"
#include "../result.hpp"

namespace kio::detail {

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

// Cancels op `id` of ctx from whichever thread asks.
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

template <class Derived>
class OpAwaiter {
	struct StopFn {
		const StopCanceller *c;
		void operator()() const noexcept
		{
			c->Cancel();
		}
	};
	using StopCallback = std::stop_callback<StopFn>;

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
		, timeout_ns_(o.timeout_ns_)
		, has_timeout_(o.has_timeout_)
		, stop_(o.stop_)
	{
	}
	OpAwaiter &operator=(const OpAwaiter &) = delete;
	~OpAwaiter()
	{
		DisarmStop();
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
	Derived &WithStopToken(std::stop_token st) &noexcept
	{
		stop_ = std::move(st);
		return Self();
	}
	Derived &&WithStopToken(std::stop_token st) &&noexcept
	{
		stop_ = std::move(st);
		return std::move(Self());
	}

	int64_t Id() const noexcept
	{
		return id_;
	}

	bool await_ready() noexcept
	{
		if (stop_.stop_requested()) {
			res_ = -ECANCELED;
			return true;
		}
		return false;
	}

	bool await_suspend(std::coroutine_handle<> h) noexcept
	{
		waiter_ = h;
		int64_t id = Self().Start(ctx_, &Trampoline, static_cast<OpAwaiter *>(this));
		if (id < 0) {
			res_ = static_cast<int32_t>(id);
			return false;
		}
		id_ = id;
		if (has_timeout_)
			kio_op_timeout(ctx_, id, timeout_ns_);
		if (stop_.stop_possible())
			ArmStop();
		return true;
	}

	decltype(auto) await_resume()
	{
		return Self().Finish(res_, flags_);
	}

protected:
	kio_ctx *Ctx() const noexcept
	{
		return ctx_;
	}

private:
	static void Trampoline(void *ud, int32_t res, uint32_t flags) noexcept
	{
		auto *self = static_cast<OpAwaiter *>(ud);
		self->res_ = res;
		self->flags_ = flags;
		self->DisarmStop();
		// kio_ctx_destroy() is cancelling everything: the frame stays
		// suspended (and is destroyed with its detached root).
		if (IsClosing(self->ctx_))
			return;
		self->waiter_.resume();
	}

	void SetTimeout(std::chrono::nanoseconds d) noexcept
	{
		has_timeout_ = true;
		timeout_ns_ = d.count() > 0 ? static_cast<uint64_t>(d.count()) : 1;
	}

	void ArmStop() noexcept
	{
		canceller_ = StopCanceller(ctx_, id_);
		// May run the callback at once, on this thread, if a stop came in
		// since await_ready(): the op is then cancelled directly.
		::new (static_cast<void *>(stop_cb_)) StopCallback(stop_, StopFn{&canceller_});
		stop_armed_ = true;
	}

	void DisarmStop() noexcept
	{
		if (stop_armed_) {
			stop_armed_ = false;
			std::launder(reinterpret_cast<StopCallback *>(stop_cb_))->~StopCallback();
		}
	}

	Derived &Self() noexcept
	{
		return static_cast<Derived &>(*this);
	}

	kio_ctx *ctx_;
	std::coroutine_handle<> waiter_{};
	int64_t id_ = -1;
	int32_t res_ = 0;
	uint32_t flags_ = 0;
	uint64_t timeout_ns_ = 0;
	bool has_timeout_ = false;
	bool stop_armed_ = false;
	std::stop_token stop_{};
	StopCanceller canceller_{nullptr, -1};
	alignas(StopCallback) unsigned char stop_cb_[sizeof(StopCallback)];
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

} // namespace kio::detail

#endif // KIO_CXX_DETAIL_AWAITER_HPP
