// SPDX-License-Identifier: MIT
//
// kio/signal.hpp - signals as awaitables.
//
//   SignalSet signals{SIGINT, SIGTERM};   // blocks them in the calling
//                                         // thread, reads them via signalfd;
//                                         // throws std::system_error
//   Result<int> sig = co_await AsyncWaitSignal(ctx, signals);  // the signo
//
// Create the set in main() before starting threads, so every thread
// inherits the mask (see kio_signal_set_create(3)). The destructor restores
// the mask in the calling thread; no wait may be pending then. One
// delivered signal completes one wait; standard signals do not queue.
//
// The reference library's shapes, kept as additions:
//   int fd = signals.fd();                        // a signalfd of the set
//   Result<int> sig = co_await AsyncWaitSignal(ctx, fd);
// fd() makes (on its first call) a signalfd for the same signals, owned by
// the set and closed with it. AsyncWaitSignal(ctx, fd) reads one
// signalfd_siginfo from any signalfd and yields its signo (EIO for a short
// read). A signal is taken once, by whichever wait reads it first.
#ifndef KIO_CXX_SIGNAL_HPP
#define KIO_CXX_SIGNAL_HPP

#include "detail/abi.hpp"

#include <csignal>
#include <sys/signalfd.h>
#include <unistd.h>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <system_error>

#include <kio/kio.h>

#include "detail/awaiter.hpp"
#include "io_context.hpp"
#include "result.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

class SignalSet {
public:
	SignalSet(std::initializer_list<int> signals)
	{
		Create(signals.begin(), signals.size());
	}
	explicit SignalSet(std::span<const int> signals)
	{
		Create(signals.data(), signals.size());
	}
	SignalSet(const SignalSet &) = delete;
	SignalSet &operator=(const SignalSet &) = delete;
	~SignalSet()
	{
		if (fd_ >= 0)
			::close(fd_);
		kio_signal_set_destroy(set_);
	}
	// See the top of this file; -1 when signalfd(2) fails (errno says why).
	int fd()
	{
		if (fd_ < 0)
			fd_ = ::signalfd(-1, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
		return fd_;
	}

	kio_signal_set *Native() const noexcept
	{
		return set_;
	}

private:
	void Create(const int *sigs, std::size_t n)
	{
		sigemptyset(&mask_);
		for (std::size_t i = 0; i < n; i++)
			if (sigs[i] > 0 && sigs[i] < NSIG)
				sigaddset(&mask_, sigs[i]);
		int rc = kio_signal_set_create(&set_, sigs, n);
		if (rc < 0)
			KIO_CXX_THROW(std::system_error(ErrorFromNeg(rc), "kio_signal_set_create"));
	}

	kio_signal_set *set_ = nullptr;
	sigset_t mask_;
	int fd_ = -1;
};

inline auto AsyncWaitSignal(IoContext &ctx, SignalSet &set)
{
	kio_signal_set *s = set.Native();
	return detail::MakeOp<detail::AsInt>(ctx.Native(),
					     [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						     return kio_signal_wait(c, s, cb, ud);
					     });
}

namespace detail {

class SignalFdWait final : public OpAwaiter<SignalFdWait> {
public:
	SignalFdWait(kio_ctx *ctx, int fd) noexcept
		: OpAwaiter<SignalFdWait>(ctx)
		, fd_(fd)
	{
	}
	int64_t Start(kio_ctx *c, kio_cb cb, void *ud) noexcept
	{
		return kio_read(c, fd_, &info_, sizeof info_, KIO_OFFSET_CURRENT, cb, ud);
	}
	Result<int> Finish(int32_t res, uint32_t) noexcept
	{
		if (res < 0)
			return Err(ErrorFromNeg(res));
		if (static_cast<std::size_t>(res) != sizeof info_)
			return MakeError(std::errc::io_error);
		return static_cast<int>(info_.ssi_signo);
	}

private:
	int fd_;
	signalfd_siginfo info_{};
};

} // namespace detail

// The reference's wait on a signalfd given by number (see the top).
inline detail::SignalFdWait AsyncWaitSignal(IoContext &ctx, int fd) noexcept
{
	return detail::SignalFdWait(ctx.Native(), fd);
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_SIGNAL_HPP
