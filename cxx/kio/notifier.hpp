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
//
// The reference library's shapes, kept as additions:
//   bool woken = n.Notify();          // Signal(); true when a Wait() (or a
//                                     //   WaitReady()) was pending then, so
//                                     //   this signal wakes it
//   n.WaitReady();                    // blocks the calling thread (not a
//                                     //   coroutine: no loop needed) until
//                                     //   signalled, and consumes it
// Notify() answers from a count of waits pending on the Notifier: a waiter
// whose wake is already on its way still counts, and a Wait() that starts
// right after the answer is not seen.
#ifndef KIO_CXX_NOTIFIER_HPP
#define KIO_CXX_NOTIFIER_HPP

#include "detail/abi.hpp"

#include <atomic>
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
		WaitOp(kio_ctx *ctx, int fd, std::atomic<int> *waiters) noexcept
			: detail::OpAwaiter<WaitOp>(ctx)
			, fd_(fd)
			, waiters_(waiters)
		{
		}
		WaitOp(const WaitOp &o) noexcept
			: detail::OpAwaiter<WaitOp>(o)
			, fd_(o.fd_)
			, waiters_(o.waiters_)
		{
		}
		// A frame destroyed while its wait was pending (its IoContext went
		// away) stops counting here.
		~WaitOp()
		{
			Uncount();
		}
		int64_t Start(kio_ctx *c, kio_cb cb, void *ud) noexcept
		{
			int64_t id =
				kio_read(c, fd_, &count_, sizeof count_, KIO_OFFSET_CURRENT, cb, ud);
			if (id >= 0) {
				waiters_->fetch_add(1, std::memory_order_relaxed);
				counted_ = true;
			}
			return id;
		}
		Result<void> Finish(int32_t res, uint32_t) noexcept
		{
			Uncount();
			return VoidFromNeg(res);
		}

	private:
		void Uncount() noexcept
		{
			if (counted_) {
				counted_ = false;
				waiters_->fetch_sub(1, std::memory_order_relaxed);
			}
		}
		int fd_;
		std::atomic<int> *waiters_;
		uint64_t count_ = 0;
		bool counted_ = false;
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
		return WaitOp(ctx.Native(), fd_, &waiters_);
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

	// Signal(), and whether a wait was pending to receive it (see above).
	bool Notify() const noexcept
	{
		bool pending = waiters_.load(std::memory_order_relaxed) > 0;
		Signal();
		return pending;
	}

	// Blocks the calling thread until the Notifier is signalled (a signal
	// made before the call counts), consuming every signal made so far:
	// one read(2) of the eventfd, which sleeps while the count is 0.
	// Result<void>: an error of read(2) other than EINTR.
	Result<void> WaitReady() const noexcept
	{
		waiters_.fetch_add(1, std::memory_order_relaxed);
		uint64_t count = 0;
		ssize_t n;
		int saved = errno;
		do
			n = ::read(fd_, &count, sizeof count);
		while (n < 0 && errno == EINTR);
		const int err = n < 0 ? errno : 0;
		errno = saved;
		waiters_.fetch_sub(1, std::memory_order_relaxed);
		if (err)
			return Err(std::error_code(err, std::generic_category()));
		return Result<void>();
	}

	int Fd() const noexcept
	{
		return fd_;
	}

private:
	int fd_ = -1;
	mutable std::atomic<int> waiters_{0};
};

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_NOTIFIER_HPP
