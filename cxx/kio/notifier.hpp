// SPDX-License-Identifier: MIT
//
// kio/notifier.hpp - Notifier: wake a coroutine from any thread.
//
//   Notifier n;                        // throws std::system_error if no fd
//   co_await n.Wait(ctx);              // Result<void>; an op awaitable:
//                                      //   .WithTimeout(d), .WithStopToken(st)
//   n.Signal();                        // any thread, any time; noexcept
//
// Backed by an eventfd read through the ring: a waiting Notifier keeps the
// loop alive, and Signal() is one write(2). Signals are not lost: a
// Signal() with no waiter makes the next Wait() complete at once. They
// coalesce: one Wait() consumes every Signal() made before it completes.
// With several waiters, one Signal() wakes one of them. Destroy the
// Notifier only when no Wait() is pending.
#ifndef KIO_CXX_NOTIFIER_HPP
#define KIO_CXX_NOTIFIER_HPP

#include "detail/abi.hpp"

#include <cerrno>
#include <cstdint>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

#include <kio/kio.h>

#include "detail/awaiter.hpp"
#include "io_context.hpp"
#include "result.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

class Notifier {
	class WaitOp final : public detail::OpAwaiter<WaitOp> {
	public:
		WaitOp(kio_ctx *ctx, int fd) noexcept
			: detail::OpAwaiter<WaitOp>(ctx)
			, fd_(fd)
		{
		}
		int64_t Start(kio_ctx *c, kio_cb cb, void *ud) noexcept
		{
			return kio_read(c, fd_, &count_, sizeof count_, KIO_OFFSET_CURRENT, cb, ud);
		}
		Result<void> Finish(int32_t res, uint32_t) noexcept
		{
			return VoidFromNeg(res);
		}

	private:
		int fd_;
		uint64_t count_ = 0;
	};

public:
	Notifier()
	{
		fd_ = ::eventfd(0, EFD_CLOEXEC);
		if (fd_ < 0)
			KIO_CXX_THROW(std::system_error(errno, std::generic_category(), "eventfd"));
	}
	Notifier(const Notifier &) = delete;
	Notifier &operator=(const Notifier &) = delete;
	~Notifier()
	{
		::close(fd_);
	}

	[[nodiscard]] WaitOp Wait(IoContext &ctx) const noexcept
	{
		return WaitOp(ctx.Native(), fd_);
	}

	void Signal() const noexcept
	{
		uint64_t one = 1;
		ssize_t n;
		int saved = errno;
		do
			n = ::write(fd_, &one, sizeof one);
		while (n < 0 && errno == EINTR);
		errno = saved;
	}

	int Fd() const noexcept
	{
		return fd_;
	}

private:
	int fd_ = -1;
};

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_NOTIFIER_HPP
