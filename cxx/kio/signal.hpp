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
#ifndef KIO_CXX_SIGNAL_HPP
#define KIO_CXX_SIGNAL_HPP

#include "detail/abi.hpp"

#include <csignal>
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
		kio_signal_set_destroy(set_);
	}

	kio_signal_set *Native() const noexcept
	{
		return set_;
	}

private:
	void Create(const int *sigs, std::size_t n)
	{
		int rc = kio_signal_set_create(&set_, sigs, n);
		if (rc < 0)
			KIO_CXX_THROW(std::system_error(ErrorFromNeg(rc), "kio_signal_set_create"));
	}

	kio_signal_set *set_ = nullptr;
};

inline auto AsyncWaitSignal(IoContext &ctx, SignalSet &set)
{
	kio_signal_set *s = set.Native();
	return detail::MakeOp<detail::AsInt>(ctx.Native(),
					     [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						     return kio_signal_wait(c, s, cb, ud);
					     });
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_SIGNAL_HPP
