// SPDX-License-Identifier: MIT
//
// kio/net_ops.hpp - socket operations as awaitables (each one kio op; see
// detail/awaiter.hpp for .WithTimeout() and .WithStopToken()).
//
//   Result<AcceptResult> AsyncAccept(ctx, listener, flags = SOCK_CLOEXEC)
//       .fd is the new connection (owned by the caller: wrap it in
//       net::Socket), .addr/.addrlen the peer's address.
//   Result<void>   AsyncConnect(ctx, sock, addr)   addr: anything with
//                  Get() -> const sockaddr* and Len() (net::SocketAddress),
//                  or AsyncConnect(ctx, sock, sockaddr*, socklen_t). The
//                  address is copied into the awaitable.
//   Result<size_t> AsyncSend(ctx, sock, data, flags = 0)   never SIGPIPE
//   Result<size_t> AsyncRecv(ctx, sock, buffer, flags = 0) 0: end of stream
//   Result<size_t> AsyncSendmsg(ctx, sock, const msghdr *msg, flags = 0)
//   Result<size_t> AsyncRecvmsg(ctx, sock, msghdr *msg, flags = 0)
//   Result<size_t> AsyncSendZc(ctx, sock, data, flags = 0)  zero-copy; yields
//                  once the kernel no longer reads data
//   Result<size_t> AsyncSendfile(ctx, sock, file_fd, offset, count)
//                  the total moved (a partial count after an error/cancel)
//   Result<int>    AsyncSocket(ctx, domain, type, protocol = 0)
//   Result<void>   AsyncShutdown(ctx, sock, how)
//
// sock/listener: an int fd or anything with `int Fd() const` (net::Socket,
// net::TcpListener). Buffers and msghdr are borrowed until the co_await
// returns.
#ifndef KIO_CXX_NET_OPS_HPP
#define KIO_CXX_NET_OPS_HPP

#include "detail/abi.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <sys/socket.h>

#include <kio/kio.h>

#include "detail/args.hpp"
#include "detail/awaiter.hpp"
#include "io_context.hpp"
#include "result.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

struct AcceptResult {
	int fd = -1;
	sockaddr_storage addr{};
	socklen_t addrlen = 0;
};

namespace detail {

class AcceptOp final : public OpAwaiter<AcceptOp> {
public:
	AcceptOp(kio_ctx *ctx, int fd, int flags) noexcept
		: OpAwaiter<AcceptOp>(ctx)
		, fd_(fd)
		, flags_(flags)
	{
	}
	int64_t Start(kio_ctx *c, kio_cb cb, void *ud) noexcept
	{
		out_.addrlen = sizeof out_.addr;
		return kio_accept(c, fd_, reinterpret_cast<sockaddr *>(&out_.addr), &out_.addrlen,
				  flags_, cb, ud);
	}
	Result<AcceptResult> Finish(int32_t res, uint32_t)
	{
		if (res < 0)
			return Err(ErrorFromNeg(res));
		out_.fd = res;
		return out_;
	}

private:
	int fd_;
	int flags_;
	AcceptResult out_{};
};

class ConnectOp final : public OpAwaiter<ConnectOp> {
public:
	ConnectOp(kio_ctx *ctx, int fd, const sockaddr *addr, socklen_t len) noexcept
		: OpAwaiter<ConnectOp>(ctx)
		, fd_(fd)
	{
		if (addr && len <= sizeof addr_) {
			std::memcpy(&addr_, addr, len);
			len_ = len;
		} else {
			len_ = addr ? sizeof addr_ + 1 : 0; // kio_connect rejects it: -EINVAL
		}
	}
	int64_t Start(kio_ctx *c, kio_cb cb, void *ud) noexcept
	{
		if (len_ == 0 || len_ > sizeof addr_)
			return -EINVAL;
		return kio_connect(c, fd_, reinterpret_cast<const sockaddr *>(&addr_), len_, cb,
				   ud);
	}
	Result<void> Finish(int32_t res, uint32_t) noexcept
	{
		return VoidFromNeg(res);
	}

private:
	int fd_;
	socklen_t len_ = 0;
	sockaddr_storage addr_{};
};

template <class A>
concept AddressLike = requires(const A &a)
{
	{
		a.Get()
		} -> std::convertible_to<const sockaddr *>;
	{
		a.Len()
		} -> std::convertible_to<socklen_t>;
};

} // namespace detail

template <detail::FdLike L>
inline detail::AcceptOp AsyncAccept(IoContext &ctx, const L &listener, int flags = SOCK_CLOEXEC)
{
	return detail::AcceptOp(ctx.Native(), detail::AsFd(listener), flags);
}

template <detail::FdLike S>
inline detail::ConnectOp AsyncConnect(IoContext &ctx, const S &sock, const sockaddr *addr,
				      socklen_t len)
{
	return detail::ConnectOp(ctx.Native(), detail::AsFd(sock), addr, len);
}

template <detail::FdLike S, detail::AddressLike A>
inline detail::ConnectOp AsyncConnect(IoContext &ctx, const S &sock, const A &addr)
{
	return detail::ConnectOp(ctx.Native(), detail::AsFd(sock), addr.Get(),
				 static_cast<socklen_t>(addr.Len()));
}

template <detail::FdLike S, detail::ByteRange B>
inline auto AsyncSend(IoContext &ctx, const S &sock, B &&data, int flags = 0)
{
	int f = detail::AsFd(sock);
	detail::ConstSpan s = detail::ConstBytes(data);
	return detail::MakeOp<detail::AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_send(c, f, s.data, s.len, flags, cb, ud);
	});
}

template <detail::FdLike S, detail::MutableByteRange B>
inline auto AsyncRecv(IoContext &ctx, const S &sock, B &&buffer, int flags = 0)
{
	int f = detail::AsFd(sock);
	detail::MutSpan s = detail::Bytes(buffer);
	return detail::MakeOp<detail::AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_recv(c, f, s.data, s.len, flags, cb, ud);
	});
}

template <detail::FdLike S>
inline auto AsyncSendmsg(IoContext &ctx, const S &sock, const msghdr *msg, int flags = 0)
{
	int f = detail::AsFd(sock);
	return detail::MakeOp<detail::AsSize>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_sendmsg(c, f, msg, flags, cb, ud);
					      });
}

template <detail::FdLike S>
inline auto AsyncRecvmsg(IoContext &ctx, const S &sock, msghdr *msg, int flags = 0)
{
	int f = detail::AsFd(sock);
	return detail::MakeOp<detail::AsSize>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_recvmsg(c, f, msg, flags, cb, ud);
					      });
}

template <detail::FdLike S, detail::ByteRange B>
inline auto AsyncSendZc(IoContext &ctx, const S &sock, B &&data, int flags = 0)
{
	int f = detail::AsFd(sock);
	detail::ConstSpan s = detail::ConstBytes(data);
	return detail::MakeOp<detail::AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_send_zc(c, f, s.data, s.len, flags, cb, ud);
	});
}

template <detail::FdLike S, detail::FdLike F>
inline auto AsyncSendfile(IoContext &ctx, const S &sock, const F &file, uint64_t offset,
			  size_t count)
{
	int out = detail::AsFd(sock);
	int in = detail::AsFd(file);
	return detail::MakeOp<detail::AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_sendfile(c, out, in, offset, count, cb, ud);
	});
}

inline auto AsyncSocket(IoContext &ctx, int domain, int type, int protocol = 0)
{
	return detail::MakeOp<detail::AsInt>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
							       void *ud) noexcept {
		return kio_socket(c, domain, type, protocol, cb, ud);
	});
}

template <detail::FdLike S>
inline auto AsyncShutdown(IoContext &ctx, const S &sock, int how)
{
	int f = detail::AsFd(sock);
	return detail::MakeOp<detail::AsVoid>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_shutdown(c, f, how, cb, ud);
					      });
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_NET_OPS_HPP
