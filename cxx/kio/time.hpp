// SPDX-License-Identifier: MIT
//
// kio/time.hpp - timers as awaitables (user-space timers: no SQE each).
//
//   Result<void> AsyncSleep(ctx, duration)       d <= 0: the next loop round
//   Result<void> AsyncSleepUntil(ctx, time_point)
//       steady_clock: CLOCK_MONOTONIC; system_clock: CLOCK_REALTIME (the
//       deadline is fixed when the op starts: later wall-clock changes do
//       not move it); any other clock: converted through its now().
//
// Both end with success, or std::errc::operation_canceled after a stop
// request (.WithStopToken(st)): that is how a sleeping coroutine is woken
// early. A past deadline completes at the next loop round.
#ifndef KIO_CXX_TIME_HPP
#define KIO_CXX_TIME_HPP

#include "detail/abi.hpp"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <type_traits>

#include <kio/kio.h>

#include "detail/awaiter.hpp"
#include "io_context.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

template <class Rep, class Period>
inline auto AsyncSleep(IoContext &ctx, std::chrono::duration<Rep, Period> d)
{
	uint64_t ns = detail::ToNs(std::chrono::ceil<std::chrono::nanoseconds>(d));
	return detail::MakeOp<detail::AsVoid>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_sleep(c, ns, cb, ud);
					      });
}

namespace detail {
template <class Clock, class Dur>
inline uint64_t SinceEpochNs(std::chrono::time_point<Clock, Dur> tp) noexcept
{
	auto ns = std::chrono::ceil<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
	return ns < 0 ? 0 : static_cast<uint64_t>(ns);
}
} // namespace detail

template <class Clock, class Dur>
inline auto AsyncSleepUntil(IoContext &ctx, std::chrono::time_point<Clock, Dur> deadline)
{
	int clock = CLOCK_MONOTONIC;
	uint64_t ns;
	if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
		ns = detail::SinceEpochNs(deadline);
	} else if constexpr (std::is_same_v<Clock, std::chrono::system_clock>) {
		clock = CLOCK_REALTIME;
		ns = detail::SinceEpochNs(deadline);
	} else {
		auto left = std::chrono::ceil<std::chrono::nanoseconds>(deadline - Clock::now());
		ns = detail::SinceEpochNs(std::chrono::steady_clock::now() + left);
	}
	return detail::MakeOp<detail::AsVoid>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_sleep_until(c, clock, ns, cb, ud);
					      });
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_TIME_HPP
