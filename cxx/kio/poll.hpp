// SPDX-License-Identifier: MIT
//
// kio/poll.hpp - readiness as an awaitable.
//
//   Result<uint32_t> AsyncPoll(ctx, fd, events)   POLLIN, POLLOUT, ...
//       yields the revents mask (POLLHUP/POLLERR may be set beyond events).
// fd: an int or anything with `int Fd() const`. Like every op awaitable it
// takes .WithTimeout(d) and .WithStopToken(st).
#ifndef KIO_CXX_POLL_HPP
#define KIO_CXX_POLL_HPP

#include "detail/abi.hpp"

#include <cstdint>
#include <poll.h>

#include <kio/kio.h>

#include "detail/args.hpp"
#include "detail/awaiter.hpp"
#include "io_context.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

template <detail::FdLike F>
inline auto AsyncPoll(IoContext &ctx, const F &fd, uint32_t events)
{
	int f = detail::AsFd(fd);
	return detail::MakeOp<detail::AsU32>(ctx.Native(),
					     [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						     return kio_poll(c, f, events, cb, ud);
					     });
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_POLL_HPP
