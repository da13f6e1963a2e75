// SPDX-License-Identifier: MIT
//
// kio/net.hpp - sockets for the coroutine layer.
//
//   net::Socket          owns one fd (closed by the destructor). Fd() is what
//                        the I/O awaitables (AsyncAccept, AsyncRecv, ...) use,
//                        so a Socket is passed to them directly.
//   net::SocketAddress   an IPv4 or IPv6 address and port; V4/V6 parse text.
//   net::TcpListener     a bound, listening TCP socket: BindV4/BindV6.
//
// The reference library's shapes, kept as additions:
//   Socket::Get()                      = Fd()
//   SocketAddress::GetIp()             std::optional<std::string>: the
//                                      address without the port, nullopt
//                                      when invalid (Ip() gives "")
//   TcpListener::Bind(port)            Result<Socket> listening on every
//   TcpListener::Bind(addr, backlog)   IPv4 interface (or addr), with the
//                                      reference's listener defaults:
//                                      non-blocking, SO_REUSEADDR,
//                                      SO_REUSEPORT, TCP_NODELAY (inherited
//                                      by accepted sockets), backlog 4096
//   Socket s = std::move(listener);    a TcpListener gives up its Socket
//   net::Resolve         getaddrinfo(3), blocking: for start-up code.
//   net::ResolveAsync    the same on a BlockingPool thread (kio_resolve),
//                        awaited from a coroutine; .WithTimeout() and
//                        .WithStopToken() as every op (detail/awaiter.hpp).
//
// Everything here returns Result<...> with the errno as a std::error_code
// in std::generic_category() (compare with std::errc::...); nothing throws
// except std::bad_alloc from the address lists.
//
// Sockets made here are close-on-exec and blocking: io_uring does not need
// O_NONBLOCK (it polls internally), and a blocking fd also works with
// plain syscalls. SetNonBlocking() is there for code that wants it.
#ifndef KIO_NET_HPP
#define KIO_NET_HPP

#include "detail/abi.hpp"

#include <kio/kio.h>

#include "detail/awaiter.hpp"
#include "io_context.hpp"
#include "offload.hpp"
#include "result.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>

namespace kio::inline KIO_CXX_ABI::net {

namespace detail {

inline std::error_code LastError() noexcept
{
	return std::error_code(errno, std::generic_category());
}

inline Result<void> VoidFromSys(int rc) noexcept
{
	if (rc < 0)
		return Err(LastError());
	return Result<void>();
}

// getaddrinfo's EAI_* codes as errno values, as kio_resolve() maps them.
inline int ErrnoFromEai(int eai, int saved_errno) noexcept
{
	switch (eai) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
		return ENOENT;
	case EAI_AGAIN:
		return EAGAIN;
	case EAI_BADFLAGS:
	case EAI_SERVICE:
	case EAI_SOCKTYPE:
		return EINVAL;
	case EAI_FAMILY:
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return EAFNOSUPPORT;
	case EAI_MEMORY:
		return ENOMEM;
	case EAI_SYSTEM:
		return saved_errno ? saved_errno : EIO;
	default:
		return EIO;
	}
}

} // namespace detail

// An owned socket fd. Move-only; the destructor closes it. -1 means empty.
class Socket {
public:
	Socket() noexcept = default;

	// Takes ownership of fd (which may be -1).
	explicit Socket(int fd) noexcept
		: fd_(fd)
	{
	}

	Socket(const Socket &) = delete;
	Socket &operator=(const Socket &) = delete;

	Socket(Socket &&other) noexcept
		: fd_(other.Release())
	{
	}

	Socket &operator=(Socket &&other) noexcept
	{
		if (this != &other) {
			Close();
			fd_ = other.Release();
		}
		return *this;
	}

	~Socket()
	{
		Close();
	}

	// socket(2) with SOCK_CLOEXEC added to type.
	static Result<Socket> Create(int domain, int type, int protocol = 0) noexcept
	{
		const int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
		if (fd < 0)
			return Err(detail::LastError());
		return Socket(fd);
	}

	int Fd() const noexcept
	{
		return fd_;
	}

	// The reference's name for Fd().
	int Get() const noexcept
	{
		return fd_;
	}

	bool IsValid() const noexcept
	{
		return fd_ >= 0;
	}

	explicit operator bool() const noexcept
	{
		return fd_ >= 0;
	}

	// Gives the fd up without closing it; the Socket is empty afterwards.
	int Release() noexcept
	{
		return std::exchange(fd_, -1);
	}

	// close(2) now (synchronously); the Socket is empty afterwards. An
	// empty Socket is left alone. In a coroutine with ops still running
	// on the fd, prefer AsyncClose(ctx, socket.Release()), which cancels
	// them first.
	void Close() noexcept
	{
		if (fd_ >= 0)
			::close(std::exchange(fd_, -1));
	}

	Result<void> SetNonBlocking(bool on = true) const noexcept
	{
		const int flags = ::fcntl(fd_, F_GETFL);
		if (flags < 0)
			return Err(detail::LastError());
		const int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
		if (want == flags)
			return Result<void>();
		return detail::VoidFromSys(::fcntl(fd_, F_SETFL, want));
	}

	Result<void> SetReuseAddr(bool on = true) const noexcept
	{
		return SetOption(SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0);
	}

	// Lets several sockets (of the same user) bind the same address and
	// port; the kernel spreads incoming connections over them.
	Result<void> SetReusePort(bool on = true) const noexcept
	{
		return SetOption(SOL_SOCKET, SO_REUSEPORT, on ? 1 : 0);
	}

	// TCP_NODELAY: send small writes at once instead of coalescing them.
	Result<void> SetNodelay(bool on = true) const noexcept
	{
		return SetOption(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
	}

	// SO_SNDBUF / SO_RCVBUF. The kernel doubles the value and caps it at
	// net.core.wmem_max / rmem_max; read back with getsockopt(2) to see
	// what it kept.
	Result<void> SetSendBuffer(int bytes) const noexcept
	{
		return SetOption(SOL_SOCKET, SO_SNDBUF, bytes);
	}

	Result<void> SetRecvBuffer(int bytes) const noexcept
	{
		return SetOption(SOL_SOCKET, SO_RCVBUF, bytes);
	}

	// setsockopt(2) with an int value.
	Result<void> SetOption(int level, int name, int value) const noexcept
	{
		return detail::VoidFromSys(::setsockopt(fd_, level, name, &value, sizeof(value)));
	}

	// getsockopt(2) of an int value.
	Result<int> GetOption(int level, int name) const noexcept
	{
		int value = 0;
		socklen_t len = sizeof(value);
		if (::getsockopt(fd_, level, name, &value, &len) < 0)
			return Err(detail::LastError());
		return value;
	}

private:
	int fd_ = -1;
};

// An IPv4 or IPv6 socket address (sockaddr_storage underneath).
//
// V4/V6 return the address itself, as the reference API does, so it can go
// straight to AsyncConnect(). Text that does not parse gives an invalid
// address: IsValid() false, Len() 0, and a connect or bind with it fails
// with EINVAL. Parse() and ParseV4/ParseV6 return a Result instead.
class SocketAddress {
public:
	// An invalid (empty) address.
	SocketAddress() noexcept
	{
		std::memset(&storage_, 0, sizeof(storage_));
	}

	// Copies len bytes of an AF_INET or AF_INET6 sockaddr; anything else
	// gives an invalid address.
	SocketAddress(const sockaddr *addr, socklen_t len) noexcept
		: SocketAddress()
	{
		if (!addr)
			return;
		if ((addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) ||
		    (addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6))) {
			len_ = addr->sa_family == AF_INET ? sizeof(sockaddr_in) :
							    sizeof(sockaddr_in6);
			std::memcpy(&storage_, addr, len_);
		}
	}

	// ip in dotted form; default: any address (0.0.0.0).
	static SocketAddress V4(uint16_t port, std::string_view ip = "0.0.0.0") noexcept
	{
		auto r = ParseV4(ip, port);
		return r ? *r : SocketAddress();
	}

	// ip in RFC 4291 text form, without brackets or zone; default "::".
	static SocketAddress V6(uint16_t port, std::string_view ip = "::") noexcept
	{
		auto r = ParseV6(ip, port);
		return r ? *r : SocketAddress();
	}

	// EINVAL when ip is not an IPv4 address.
	static Result<SocketAddress> ParseV4(std::string_view ip, uint16_t port) noexcept
	{
		char text[INET6_ADDRSTRLEN];
		if (!CopyText(ip, text, sizeof(text)))
			return MakeError(std::errc::invalid_argument);
		SocketAddress a;
		auto *in = reinterpret_cast<sockaddr_in *>(&a.storage_);
		if (::inet_pton(AF_INET, text, &in->sin_addr) != 1)
			return MakeError(std::errc::invalid_argument);
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		a.len_ = sizeof(sockaddr_in);
		return a;
	}

	// EINVAL when ip is not an IPv6 address.
	static Result<SocketAddress> ParseV6(std::string_view ip, uint16_t port) noexcept
	{
		char text[INET6_ADDRSTRLEN];
		if (!CopyText(ip, text, sizeof(text)))
			return MakeError(std::errc::invalid_argument);
		SocketAddress a;
		auto *in6 = reinterpret_cast<sockaddr_in6 *>(&a.storage_);
		if (::inet_pton(AF_INET6, text, &in6->sin6_addr) != 1)
			return MakeError(std::errc::invalid_argument);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		a.len_ = sizeof(sockaddr_in6);
		return a;
	}

	// Either family: "127.0.0.1", "::1", "[::1]". EINVAL otherwise.
	static Result<SocketAddress> Parse(std::string_view ip, uint16_t port) noexcept
	{
		if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']')
			return ParseV6(ip.substr(1, ip.size() - 2), port);
		if (ip.find(':') != std::string_view::npos)
			return ParseV6(ip, port);
		return ParseV4(ip, port);
	}

	bool IsValid() const noexcept
	{
		return len_ != 0;
	}

	bool IsV4() const noexcept
	{
		return len_ != 0 && storage_.ss_family == AF_INET;
	}

	bool IsV6() const noexcept
	{
		return len_ != 0 && storage_.ss_family == AF_INET6;
	}

	// AF_INET, AF_INET6, or AF_UNSPEC when invalid.
	int Family() const noexcept
	{
		return len_ ? storage_.ss_family : AF_UNSPEC;
	}

	// The port in host byte order; 0 when invalid.
	uint16_t Port() const noexcept
	{
		if (IsV4())
			return ntohs(reinterpret_cast<const sockaddr_in *>(&storage_)->sin_port);
		if (IsV6())
			return ntohs(reinterpret_cast<const sockaddr_in6 *>(&storage_)->sin6_port);
		return 0;
	}

	// For bind/connect/sendto: the sockaddr and its length.
	const sockaddr *Get() const noexcept
	{
		return reinterpret_cast<const sockaddr *>(&storage_);
	}

	sockaddr *Get() noexcept
	{
		return reinterpret_cast<sockaddr *>(&storage_);
	}

	const sockaddr *Data() const noexcept
	{
		return Get();
	}

	socklen_t Len() const noexcept
	{
		return len_;
	}

	socklen_t Size() const noexcept
	{
		return len_;
	}

	// The address without the port: "127.0.0.1", "::1"; "" when invalid.
	std::string Ip() const
	{
		char text[INET6_ADDRSTRLEN] = "";
		if (IsV4())
			::inet_ntop(AF_INET,
				    &reinterpret_cast<const sockaddr_in *>(&storage_)->sin_addr,
				    text, sizeof(text));
		else if (IsV6())
			::inet_ntop(AF_INET6,
				    &reinterpret_cast<const sockaddr_in6 *>(&storage_)->sin6_addr,
				    text, sizeof(text));
		return text;
	}

	// The reference's shape of Ip(): nullopt for an invalid address.
	std::optional<std::string> GetIp() const
	{
		if (!IsValid())
			return std::nullopt;
		return Ip();
	}

	// "127.0.0.1:8080", "[::1]:8080"; "(invalid)" when invalid.
	std::string ToString() const
	{
		if (IsV4())
			return Ip() + ":" + std::to_string(Port());
		if (IsV6())
			return "[" + Ip() + "]:" + std::to_string(Port());
		return "(invalid)";
	}

	friend bool operator==(const SocketAddress &a, const SocketAddress &b) noexcept
	{
		return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
	}

private:
	// NUL-terminated copy for inet_pton; false when it cannot be an address.
	static bool CopyText(std::string_view ip, char *out, std::size_t cap) noexcept
	{
		if (ip.empty() || ip.size() >= cap || ip.find('\0') != std::string_view::npos)
			return false;
		std::memcpy(out, ip.data(), ip.size());
		out[ip.size()] = '\0';
		return true;
	}

	sockaddr_storage storage_;
	socklen_t len_ = 0;
};

// How TcpListener binds.
struct ListenOptions {
	int backlog = SOMAXCONN;
	bool reuse_addr = true;  // restart without waiting out TIME_WAIT
	bool reuse_port = false; // one listener per thread on the same port
	bool v6_only = false;    // BindV6: refuse IPv4-mapped connections
};

// A listening TCP socket. Pass it to AsyncAccept() like a Socket.
class TcpListener {
public:
	TcpListener() noexcept = default;

	// Binds addr (port 0: the kernel picks one; see Port()) and listens.
	static Result<TcpListener> Bind(const SocketAddress &addr, const ListenOptions &opts = {})
	{
		if (!addr.IsValid())
			return MakeError(std::errc::invalid_argument);
		auto sock = Socket::Create(addr.Family(), SOCK_STREAM);
		if (!sock)
			return Err(sock.error());
		if (opts.reuse_addr) {
			if (auto r = sock->SetReuseAddr(); !r)
				return Err(r.error());
		}
		if (opts.reuse_port) {
			if (auto r = sock->SetReusePort(); !r)
				return Err(r.error());
		}
		if (addr.IsV6()) {
			if (auto r = sock->SetOption(IPPROTO_IPV6, IPV6_V6ONLY,
						     opts.v6_only ? 1 : 0);
			    !r)
				return Err(r.error());
		}
		if (::bind(sock->Fd(), addr.Get(), addr.Len()) < 0)
			return Err(detail::LastError());
		if (::listen(sock->Fd(), opts.backlog) < 0)
			return Err(detail::LastError());
		TcpListener l;
		l.sock_ = std::move(*sock);
		sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (::getsockname(l.sock_.Fd(), reinterpret_cast<sockaddr *>(&ss), &len) < 0)
			return Err(detail::LastError());
		l.local_ = SocketAddress(reinterpret_cast<sockaddr *>(&ss), len);
		return l;
	}

	// The reference's listener: a Socket listening on every IPv4 interface
	// (0.0.0.0) with its defaults (non-blocking, SO_REUSEADDR, SO_REUSEPORT,
	// TCP_NODELAY, backlog 4096). Port 0: the kernel picks one.
	static Result<Socket> Bind(uint16_t port)
	{
		return Bind(SocketAddress::V4(port), 4096);
	}
	// The same on addr, with the given backlog.
	static Result<Socket> Bind(const SocketAddress &addr, int backlog)
	{
		ListenOptions opts;
		opts.backlog = backlog;
		opts.reuse_port = true;
		auto l = Bind(addr, opts);
		if (!l)
			return Err(l.error());
		Socket sock = std::move(l->sock_);
		if (auto r = sock.SetNonBlocking(); !r)
			return Err(r.error());
		if (auto r = sock.SetNodelay(); !r)
			return Err(r.error());
		return sock;
	}
	// Every IPv4 interface (0.0.0.0), or ip.
	static Result<TcpListener> BindV4(uint16_t port, const ListenOptions &opts = {})
	{
		return Bind(SocketAddress::V4(port), opts);
	}

	static Result<TcpListener> BindV4(uint16_t port, std::string_view ip,
					  const ListenOptions &opts = {})
	{
		auto addr = SocketAddress::ParseV4(ip, port);
		if (!addr)
			return Err(addr.error());
		return Bind(*addr, opts);
	}

	// Every IPv6 interface (::); also IPv4 unless opts.v6_only.
	static Result<TcpListener> BindV6(uint16_t port, const ListenOptions &opts = {})
	{
		return Bind(SocketAddress::V6(port), opts);
	}

	static Result<TcpListener> BindV6(uint16_t port, std::string_view ip,
					  const ListenOptions &opts = {})
	{
		auto addr = SocketAddress::ParseV6(ip, port);
		if (!addr)
			return Err(addr.error());
		return Bind(*addr, opts);
	}

	int Fd() const noexcept
	{
		return sock_.Fd();
	}

	int Get() const noexcept
	{
		return sock_.Fd();
	}

	// Hands the listening Socket over (for code that keeps a Socket, as
	// the reference's Bind returned one); the listener is empty after.
	operator Socket() && noexcept
	{
		return std::move(sock_);
	}

	// The port actually bound (the kernel's choice after port 0).
	uint16_t Port() const noexcept
	{
		return local_.Port();
	}

	const SocketAddress &LocalAddress() const noexcept
	{
		return local_;
	}

	Socket &GetSocket() noexcept
	{
		return sock_;
	}

	void Close() noexcept
	{
		sock_.Close();
	}

private:
	Socket sock_;
	SocketAddress local_;
};

namespace detail {

inline std::string PortText(uint16_t port)
{
	return std::to_string(port);
}

inline addrinfo StreamHints(int family) noexcept
{
	addrinfo hints;
	std::memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	return hints;
}

// The AF_INET/AF_INET6 entries of a getaddrinfo list, in its order.
inline std::vector<SocketAddress> AddressesOf(const addrinfo *list)
{
	std::vector<SocketAddress> out;
	for (const addrinfo *ai = list; ai; ai = ai->ai_next) {
		SocketAddress a(ai->ai_addr, ai->ai_addrlen);
		if (a.IsValid())
			out.push_back(a);
	}
	return out;
}

} // namespace detail

// Blocking getaddrinfo(3) for TCP: every address of host, in the order
// the resolver prefers (an empty host: the loopback addresses). family: AF_UNSPEC, AF_INET or AF_INET6. Errors as
// kio_resolve() maps them: ENOENT (unknown host), EAGAIN, EINVAL,
// EAFNOSUPPORT, ENOMEM, EIO. Blocks the calling thread: use it at start-up,
// or ResolveAsync() from a coroutine.
inline Result<std::vector<SocketAddress>> ResolveAll(const std::string &host, uint16_t port,
						     int family = AF_UNSPEC)
{
	const addrinfo hints = detail::StreamHints(family);
	addrinfo *list = nullptr;
	const std::string service = detail::PortText(port);
	errno = 0;
	const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints,
				     &list);
	if (rc != 0)
		return Err(
			std::error_code(detail::ErrnoFromEai(rc, errno), std::generic_category()));
	auto addrs = detail::AddressesOf(list);
	::freeaddrinfo(list);
	if (addrs.empty())
		return MakeError(std::errc::no_such_file_or_directory);
	return addrs;
}

// The first address ResolveAll() finds.
inline Result<SocketAddress> Resolve(const std::string &host, uint16_t port, int family = AF_UNSPEC)
{
	auto all = ResolveAll(host, port, family);
	if (!all)
		return Err(all.error());
	return all->front();
}

namespace detail {

// kio_resolve() as an awaitable: host and port are kept in the awaitable
// (so in the coroutine frame), the list is freed in Finish (or by the
// destructor if the coroutine never resumed).
template <bool All>
class ResolveOp final : public kio::detail::OpAwaiter<ResolveOp<All>> {
	using Base = kio::detail::OpAwaiter<ResolveOp<All>>;

public:
	using Value = std::conditional_t<All, std::vector<SocketAddress>, SocketAddress>;

	ResolveOp(kio_ctx *ctx, kio_pool *pool, std::string host, uint16_t port, int family)
		: Base(ctx)
		, pool_(pool)
		, host_(std::move(host))
		, hints_(StreamHints(family))
	{
		std::snprintf(service_, sizeof(service_), "%u", static_cast<unsigned>(port));
	}

	ResolveOp(const ResolveOp &o)
		: Base(o)
		, pool_(o.pool_)
		, host_(o.host_)
		, hints_(o.hints_)
	{
		std::memcpy(service_, o.service_, sizeof(service_));
	}

	~ResolveOp()
	{
		if (list_)
			::freeaddrinfo(list_);
	}

	int64_t Start(kio_ctx *c, kio_cb cb, void *ud) noexcept
	{
		return kio_resolve(c, pool_, host_.empty() ? nullptr : host_.c_str(), service_,
				   &hints_, &list_, cb, ud);
	}

	Result<Value> Finish(int32_t res, uint32_t)
	{
		if (res < 0)
			return Err(ErrorFromNeg(res));
		auto addrs = AddressesOf(list_);
		::freeaddrinfo(list_);
		list_ = nullptr;
		if (addrs.empty())
			return MakeError(std::errc::no_such_file_or_directory);
		if constexpr (All)
			return addrs;
		else
			return addrs.front();
	}

private:
	kio_pool *pool_;
	std::string host_;
	addrinfo hints_;
	char service_[8];
	addrinfo *list_ = nullptr;
};

} // namespace detail

// co_await: Result<SocketAddress>, the first address of host, resolved on
// a thread of pool (kio_resolve) while the loop goes on. Errors as
// Resolve(), plus operation_canceled / timed_out (WithStopToken,
// WithTimeout) when the lookup was removed while still queued; a lookup
// already running finishes first (getaddrinfo cannot be interrupted).
inline detail::ResolveOp<false> ResolveAsync(IoContext &ctx, BlockingPool &pool, std::string host,
					     uint16_t port, int family = AF_UNSPEC)
{
	return detail::ResolveOp<false>(ctx.Native(), pool.Native(), std::move(host), port, family);
}

// co_await: Result<std::vector<SocketAddress>>, every address.
inline detail::ResolveOp<true> ResolveAllAsync(IoContext &ctx, BlockingPool &pool, std::string host,
					       uint16_t port, int family = AF_UNSPEC)
{
	return detail::ResolveOp<true>(ctx.Native(), pool.Native(), std::move(host), port, family);
}

} // namespace kio::inline KIO_CXX_ABI::net

#endif // KIO_NET_HPP
