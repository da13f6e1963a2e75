// SPDX-License-Identifier: MIT
//
// kio/offload.hpp - run blocking work on a thread pool and await it.
//
//   BlockingPool pool(4);               // kio_pool_create; throws std::system_error
//   Result<R> r = co_await Offload(ctx, pool, fn);   // R = fn's return type
//
// fn (moved into the awaitable, so into the coroutine frame) runs on a pool
// thread; the coroutine resumes on the loop's thread with its value
// (Result<void> for a void fn). An exception thrown by fn is carried back
// and rethrown from the co_await. Errors: std::errc::operation_canceled /
// timed_out when a stop token or a timeout removed the job while it was
// still queued (a running job cannot be interrupted: it finishes and its
// value is delivered), or the error of kio_pool_submit(). No allocation
// beyond what the pool does per job.
//
// Destroy the pool after the loops that use it stopped waiting on it.
#ifndef KIO_CXX_OFFLOAD_HPP
#define KIO_CXX_OFFLOAD_HPP

#include "detail/abi.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include <kio/kio.h>

#include "detail/awaiter.hpp"
#include "io_context.hpp"
#include "result.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

class BlockingPool {
public:
	// threads as std::size_t, so the reference's BlockingPool(n) with a
	// size_t (hardware_concurrency(), a vector's size) needs no cast;
	// more than UINT32_MAX: std::errc::invalid_argument.
	explicit BlockingPool(std::size_t threads = 4)
	{
		if (threads > UINT32_MAX)
			KIO_CXX_THROW(std::system_error(
				std::make_error_code(std::errc::invalid_argument), "kio_pool_create"));
		int rc = kio_pool_create(&pool_, static_cast<uint32_t>(threads));
		if (rc < 0)
			KIO_CXX_THROW(std::system_error(ErrorFromNeg(rc), "kio_pool_create"));
	}
	BlockingPool(const BlockingPool &) = delete;
	BlockingPool &operator=(const BlockingPool &) = delete;
	~BlockingPool()
	{
		kio_pool_destroy(pool_);
	}

	kio_pool *Native() const noexcept
	{
		return pool_;
	}

private:
	kio_pool *pool_ = nullptr;
};

namespace detail {

template <class Fn>
class OffloadOp final : public OpAwaiter<OffloadOp<Fn>> {
	using R = std::invoke_result_t<Fn &>;
	using Stored = std::conditional_t<std::is_void_v<R>, bool, R>;

public:
	OffloadOp(kio_ctx *ctx, kio_pool *pool, Fn fn)
		: OpAwaiter<OffloadOp>(ctx)
		, pool_(pool)
		, fn_(std::move(fn))
	{
	}
	OffloadOp(const OffloadOp &o)
		: OpAwaiter<OffloadOp>(o)
		, pool_(o.pool_)
		, fn_(o.fn_)
	{
	}
	OffloadOp(OffloadOp &&o) noexcept(std::is_nothrow_move_constructible_v<Fn>)
		: OpAwaiter<OffloadOp>(o)
		, pool_(o.pool_)
		, fn_(std::move(o.fn_))
	{
	}

	int64_t Start(kio_ctx *c, kio_cb cb, void *ud) noexcept
	{
		return kio_pool_submit(c, pool_, &Work, cb, ud);
	}

	Result<R> Finish(int32_t res, uint32_t)
	{
		if (res < 0)
			return Err(ErrorFromNeg(res));
		if (error_)
			std::rethrow_exception(error_);
		if constexpr (std::is_void_v<R>)
			return Result<void>();
		else
			return Result<R>(std::move(*value_));
	}

private:
	// Runs on a pool thread; ud is the OpAwaiter base the trampoline gets.
	static int Work(void *ud) noexcept
	{
		auto *self = static_cast<OffloadOp *>(static_cast<OpAwaiter<OffloadOp> *>(ud));
#if KIO_CXX_EXCEPTIONS
		try {
			Run(*self);
		} catch (...) {
			self->error_ = std::current_exception();
		}
#else
		Run(*self);
#endif
		return 0;
	}

	static void Run(OffloadOp &self)
	{
		if constexpr (std::is_void_v<R>) {
			self.fn_();
			self.value_.emplace(true);
		} else {
			self.value_.emplace(self.fn_());
		}
	}

	kio_pool *pool_;
	Fn fn_;
	std::optional<Stored> value_{};
	std::exception_ptr error_{};
};

} // namespace detail

template <class Fn>
requires std::is_invocable_v < std::decay_t<Fn>
& > inline detail::OffloadOp<std::decay_t<Fn>> Offload(IoContext &ctx, BlockingPool &pool, Fn &&fn)
{
	return detail::OffloadOp<std::decay_t<Fn>>(ctx.Native(), pool.Native(),
						   std::forward<Fn>(fn));
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_OFFLOAD_HPP
