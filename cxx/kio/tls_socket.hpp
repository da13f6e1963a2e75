// SPDX-License-Identifier: MIT
//
// kio/tls_socket.hpp - TLS in the reference library's shape (namespace
// kio::tls), built on tls::Context and tls::Stream (tls.hpp), for programs
// ported from it. New code may as well use tls.hpp directly.
//
//   tls::TlsConfig cfg;                    cert_path, key_path, ca_cert_path,
//   cfg.cert_path = "server.pem";          ca_dir_path, verify_mode,
//   cfg.key_path = "server.key";           verify_hostname, alpn_protocols
//   auto tctx = tls::TlsContext::Create(cfg, /*is_server=*/true);
//
//   Result<TlsSocket> co_await tls::AsyncTlsHandshake(ctx, std::move(socket),
//                              *tctx, is_server, hostname = {}, timeout = 30s)
//   Result<size_t> co_await AsyncRecv(ctx, tls_sock, buffer)   0: close_notify
//   Result<size_t> co_await AsyncSend(ctx, tls_sock, data)     all of data
//   Result<void>   co_await tls_sock.AsyncShutdown(ctx)         sends close_notify
//   Result<void>   co_await AsyncClose(ctx, tls_sock)           ends the session,
//                                                              closes the socket
//   tls_sock.GetNegotiatedProtocol()       the ALPN protocol, or ""
//
// Kernel TLS is used when the kernel and the cipher allow it and the
// session stays in user space otherwise: every call above works the same
// either way (tls_sock.Ktls() says which). Unlike the reference, no
// handshake is refused for want of kernel TLS.
//
// Differences a port meets (docs/porting-from-aio.md has the whole list):
//   - verify_mode takes OpenSSL's SSL_VERIFY_* numbers (also spelled
//     tls::kVerifyNone/kVerifyPeer/kVerifyFailIfNoPeerCert here); this
//     header does not include OpenSSL's headers, so a program naming
//     SSL_VERIFY_PEER includes <openssl/ssl.h> itself. A server with
//     kVerifyPeer alone does not ask for a client certificate; add
//     kVerifyFailIfNoPeerCert to require one.
//   - A verifying client checks the host name it was given: pass hostname
//     to AsyncTlsHandshake (verify_hostname = false cannot turn only that
//     check off; verify_mode = kVerifyNone turns off every check).
//   - cipher_suites / ciphersuites_tls13: empty (the default) keeps
//     OpenSSL's lists; anything else makes Create() fail with
//     std::errc::operation_not_supported.
//   - AsyncRecv takes no flags (std::errc::invalid_argument); AsyncSend
//     accepts MSG_NOSIGNAL only (no TLS send raises SIGPIPE).
//   - AsyncShutdown sends close_notify and reports its error, if any; it
//     does not wait for the peer's (read until 0 for that).
//   - Get() is the socket's fd, for logging and socket options: plain
//     socket ops on it would bypass TLS when the session is in user space.
//     There is no SSL* (NativeHandle()).
#ifndef KIO_CXX_TLS_SOCKET_HPP
#define KIO_CXX_TLS_SOCKET_HPP

#include "detail/abi.hpp"

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include <kio/kio.h>

#include "detail/args.hpp"
#include "detail/awaiter.hpp"
#include "io_context.hpp"
#include "net.hpp"
#include "result.hpp"
#include "task.hpp"
#include "tls.hpp"

namespace kio::inline KIO_CXX_ABI::tls {

// OpenSSL's SSL_VERIFY_* values, for TlsConfig::verify_mode.
inline constexpr int kVerifyNone = 0x00;
inline constexpr int kVerifyPeer = 0x01;
inline constexpr int kVerifyFailIfNoPeerCert = 0x02;
inline constexpr int kVerifyClientOnce = 0x04; // accepted; TLS 1.3 has no renegotiation

struct TlsConfig {
	// This side's certificate chain (leaf first) and key, PEM files:
	// required for a server, optional for a client (mutual TLS).
	std::filesystem::path cert_path;
	std::filesystem::path key_path;
	// Trusted CAs replacing the system's: a PEM file and/or a hashed
	// directory. Both empty: the system's store.
	std::filesystem::path ca_cert_path;
	std::filesystem::path ca_dir_path;
	// Accepted for the reference's sake; a verifying client always checks
	// the host name it is given (see the header comment).
	bool verify_hostname{true};
	int verify_mode{kVerifyPeer};
	// ALPN protocols, most preferred first ({"h2", "http/1.1"}).
	std::vector<std::string> alpn_protocols;
	// Empty: OpenSSL's defaults. Setting either is not supported.
	std::string cipher_suites;
	std::string ciphersuites_tls13;
};

// A tls::Context made from a TlsConfig. Move-only; streams keep their own
// reference to the settings, so it may go before the sockets made from it.
class TlsContext {
public:
	TlsContext() noexcept = default;

	static Result<TlsContext> Create(const TlsConfig &config, bool server_mode = true)
	{
		if (!config.cipher_suites.empty() || !config.ciphersuites_tls13.empty())
			return Err(std::make_error_code(std::errc::operation_not_supported));
		const int known = kVerifyPeer | kVerifyFailIfNoPeerCert | kVerifyClientOnce;
		if ((config.verify_mode & ~known) != 0)
			return Err(std::make_error_code(std::errc::invalid_argument));
		if (config.cert_path.empty() != config.key_path.empty() ||
		    (server_mode && config.cert_path.empty()))
			return Err(std::make_error_code(std::errc::invalid_argument));

		auto c = Context::Create();
		if (!c)
			return Err(c.error());
		TlsContext out;
		out.ctx_ = std::move(*c);
		out.server_ = server_mode;
		out.verify_hostname_ = config.verify_hostname;
		if (auto r = out.Configure(config); !r)
			return Err(r.error());
		return out;
	}

	// The settings as kio's own type, for tls::Stream::Create().
	Context &Get() noexcept
	{
		return ctx_;
	}
	bool IsServer() const noexcept
	{
		return server_;
	}
	bool VerifyHostname() const noexcept
	{
		return verify_hostname_;
	}
	// OpenSSL's reason for the last failed setting; "" if none.
	const char *LastError() const noexcept
	{
		return ctx_.LastError();
	}
	explicit operator bool() const noexcept
	{
		return static_cast<bool>(ctx_);
	}

private:
	Result<void> Configure(const TlsConfig &config)
	{
		if (!config.cert_path.empty()) {
			if (auto r = ctx_.SetCertFile(config.cert_path, config.key_path); !r)
				return r;
		}
		if (!config.ca_cert_path.empty() || !config.ca_dir_path.empty()) {
			const char *file =
				config.ca_cert_path.empty() ? nullptr : config.ca_cert_path.c_str();
			const char *dir = config.ca_dir_path.empty() ? nullptr :
								       config.ca_dir_path.c_str();
			if (auto r = ctx_.SetCaPaths(file, dir); !r)
				return r;
		}
		if (auto r = ctx_.SetVerify(VerifyFrom(config.verify_mode)); !r)
			return r;
		if (!config.alpn_protocols.empty()) {
			std::vector<const char *> names;
			names.reserve(config.alpn_protocols.size());
			for (const std::string &p : config.alpn_protocols)
				names.push_back(p.c_str());
			if (auto r = ctx_.SetAlpn(std::span<const char *const>(names)); !r)
				return r;
		}
		return VoidFromNeg(0);
	}

	Verify VerifyFrom(int mode) const noexcept
	{
		if ((mode & kVerifyPeer) == 0)
			return Verify::None;
		if (server_ && (mode & kVerifyFailIfNoPeerCert) != 0)
			return Verify::RequirePeer;
		return Verify::Peer;
	}

	Context ctx_;
	bool server_ = true;
	bool verify_hostname_ = true;
};

// A connected socket and the TLS session over it, as AsyncTlsHandshake
// gives it. Owns both: destroying it ends the session (sending nothing)
// and closes the socket. Move-only; moves never throw.
class TlsSocket {
public:
	TlsSocket() noexcept = default;

	// stream is a session over sock's fd (as AsyncTlsHandshake makes it).
	TlsSocket(net::Socket &&sock, Stream &&stream) noexcept
		: sock_(std::move(sock))
		, stream_(std::move(stream))
	{
	}

	// The socket's fd (see the header comment: not for plain socket ops).
	int Get() const noexcept
	{
		return sock_.Fd();
	}

	// The ALPN protocol agreed on, or "". Valid while the socket lives.
	std::string_view GetNegotiatedProtocol() const noexcept
	{
		return stream_.Alpn();
	}

	bool IsHttp2() const noexcept
	{
		return GetNegotiatedProtocol() == "h2";
	}

	// KIO_TLS_KTLS_TX / KIO_TLS_KTLS_RX bits; 0 when in user space.
	unsigned Ktls() const noexcept
	{
		return stream_.Ktls();
	}

	// The session as kio's own type (Version(), ServerName(), AsyncRead...).
	Stream &GetStream() noexcept
	{
		return stream_;
	}

	// Sends close_notify, giving up after timeout (std::errc::timed_out).
	// ctx is the IoContext the socket's handshake ran on.
	template <typename Rep = int64_t, typename Period = std::ratio<1>>
	Task<Result<void>>
	AsyncShutdown(IoContext &ctx,
		      std::chrono::duration<Rep, Period> timeout = std::chrono::seconds{5})
	{
		(void)ctx;
		if (!stream_)
			co_return VoidFromNeg(-ENOTCONN);
		const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout);
		co_return co_await stream_.AsyncShutdown().WithTimeout(d);
	}

	// Ends the session (sending nothing) and hands the socket's fd over.
	int Release() noexcept
	{
		stream_ = Stream();
		return sock_.Release();
	}

	explicit operator bool() const noexcept
	{
		return static_cast<bool>(stream_);
	}

private:
	// Declared first, so destroyed after the session that uses it.
	net::Socket sock_;
	Stream stream_;
};

// Runs the handshake over sock (which the result then owns; on failure it
// is closed). A client sends hostname through SNI and, when verifying,
// checks the server's certificate against it. tls_ctx is only needed
// until the handshake starts. Errors as tls::Stream's (tls::Errc), or
// std::errc::timed_out once timeout passed.
template <typename Rep = int64_t, typename Period = std::ratio<1>>
Task<Result<TlsSocket>>
AsyncTlsHandshake(IoContext &ctx, net::Socket sock, TlsContext &tls_ctx, bool is_server,
		  std::string hostname = {},
		  std::chrono::duration<Rep, Period> timeout = std::chrono::seconds{30})
{
	// The session borrows the fd; sock, a parameter, is destroyed after it.
	auto s = Stream::Create(ctx, tls_ctx.Get(), sock.Fd(),
				is_server ? Role::Server : Role::Client);
	if (!s)
		co_return Err(s.error());
	if (!is_server && !hostname.empty()) {
		if (auto r = s->SetServerName(hostname); !r)
			co_return Err(r.error());
	}
	const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout);
	if (auto h = co_await s->AsyncHandshake().WithTimeout(d); !h)
		co_return Err(h.error());
	co_return TlsSocket(std::move(sock), std::move(*s));
}

} // namespace kio::inline KIO_CXX_ABI::tls

namespace kio::inline KIO_CXX_ABI {

// The socket ops of net_ops.hpp and file.hpp, on a TlsSocket: they go
// through the session (kernel TLS or user space alike).

// flags: 0 only (std::errc::invalid_argument otherwise).
template <detail::MutableByteRange B>
inline auto AsyncRecv(IoContext &ctx, tls::TlsSocket &sock, B &&buffer, int flags = 0)
{
	kio_tls *t = sock.GetStream().Native();
	detail::MutSpan s = detail::Bytes(buffer);
	return detail::MakeOp<detail::AsSize>(
		ctx.Native(), [=](kio_ctx *, kio_cb cb, void *ud) noexcept -> int64_t {
			if (flags != 0)
				return -EINVAL;
			return kio_tls_read(t, s.data, s.len, cb, ud);
		});
}

// Sends all of data. flags: 0 or MSG_NOSIGNAL (std::errc::invalid_argument
// otherwise).
template <detail::ByteRange B>
inline auto AsyncSend(IoContext &ctx, tls::TlsSocket &sock, B &&data, int flags = 0)
{
	kio_tls *t = sock.GetStream().Native();
	detail::ConstSpan s = detail::ConstBytes(data);
	return detail::MakeOp<detail::AsSize>(
		ctx.Native(), [=](kio_ctx *, kio_cb cb, void *ud) noexcept -> int64_t {
			if ((flags & ~MSG_NOSIGNAL) != 0)
				return -EINVAL;
			return kio_tls_write(t, s.data, s.len, cb, ud);
		});
}

// tls_sock.AsyncShutdown(ctx) as a free function.
inline Task<Result<void>> AsyncShutdown(IoContext &ctx, tls::TlsSocket &sock)
{
	return sock.AsyncShutdown(ctx);
}

// Ends the session (sending nothing: AsyncShutdown first for a clean
// close) and closes the socket through the loop.
inline auto AsyncClose(IoContext &ctx, tls::TlsSocket &sock)
{
	const int fd = sock.Release();
	return detail::MakeOp<detail::AsVoid>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_close(c, fd, cb, ud);
					      });
}

} // namespace kio::inline KIO_CXX_ABI

#endif // KIO_CXX_TLS_SOCKET_HPP
