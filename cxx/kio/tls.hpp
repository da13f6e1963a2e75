// SPDX-License-Identifier: MIT
//
// kio/tls.hpp - TLS sessions as awaitables (namespace kio::tls), over the
// C API of <kio/tls.h>: see kio_tls_config_create(3), kio_tls_create(3),
// kio_tls_handshake(3) for the full contract.
//
//   auto cfg = tls::Context::Client();            // verification on, system CAs
//   cfg->SetCaFile("ca.pem"); cfg->SetServerName("example.test");
//   auto srv = tls::Context::Server("cert.pem", "key.pem");
//
//   auto s = tls::Stream::Create(ctx, *cfg, std::move(socket), tls::Role::Client);
//   Result<void>   co_await s->AsyncHandshake()
//   Result<size_t> co_await s->AsyncRead(buffer)   1..size, 0: peer's close_notify
//   Result<size_t> co_await s->AsyncWrite(data)    all of data, or an error
//   Result<void>   co_await s->AsyncShutdown()     sends close_notify
//
// Each awaitable is one kio op: .WithTimeout(d) gives std::errc::timed_out,
// .WithStopToken(st) std::errc::operation_canceled (detail/awaiter.hpp),
// and an await allocates nothing. Buffers are borrowed until the co_await
// returns. One read and one write may be in flight at the same time.
//
// Errors are std::error_codes in std::generic_category(), compared with
// tls::Errc (or std::errc for socket errors):
//   ec == tls::Errc::verify_failed        EKEYREJECTED: bad certificate or host name
//   ec == tls::Errc::no_shared_version    EPROTONOSUPPORT
//   ec == tls::Errc::protocol_error       EPROTO: any other TLS failure
//   ec == tls::Errc::truncated            ECONNABORTED: closed without close_notify
// Stream::LastError() / Context::LastError() give OpenSSL's reason.
//
// Context is RAII over kio_tls_config (move-only): a Stream keeps its own
// reference, so a Context may go before the Streams made from it. Set a
// Context up before creating Streams with it; it may then be shared by
// IoContexts on several threads.
//
// Stream is RAII over kio_tls (move-only, moves never throw). Created from
// a net::Socket it owns the socket and closes it after the session;
// created from an int fd it borrows the fd. Destroying a Stream cancels its
// ops in flight (awaiting coroutines resume with operation_canceled) and
// sends nothing: co_await AsyncShutdown() first for a clean close. A Stream
// belongs to the thread running its IoContext, and may outlive it (its
// destruction then only frees the session).
#ifndef KIO_CXX_TLS_HPP
#define KIO_CXX_TLS_HPP

#include "detail/abi.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <kio/kio.h>

#include "detail/args.hpp"
#include "detail/awaiter.hpp"
#include "io_context.hpp"
#include "net.hpp"
#include "result.hpp"

namespace kio::inline KIO_CXX_ABI::tls {

// The TLS failures of <kio/tls.h>, as error conditions: ec == Errc::x.
enum class Errc : int {
	verify_failed = EKEYREJECTED,
	no_shared_version = EPROTONOSUPPORT,
	protocol_error = EPROTO,
	truncated = ECONNABORTED,
};

inline std::error_condition make_error_condition(Errc e) noexcept
{
	return {static_cast<int>(e), std::generic_category()};
}

inline std::error_code make_error_code(Errc e) noexcept
{
	return {static_cast<int>(e), std::generic_category()};
}

enum class Role : unsigned {
	Client = KIO_TLS_CLIENT,
	Server = KIO_TLS_SERVER,
};

enum class Verify : int {
	None = KIO_TLS_VERIFY_NONE, // testing only
	Peer = KIO_TLS_VERIFY_PEER, // the default
	RequirePeer = KIO_TLS_VERIFY_REQUIRE_PEER,
};

enum class Version : int {
	Tls12 = KIO_TLS_VERSION_1_2,
	Tls13 = KIO_TLS_VERSION_1_3,
};

} // namespace kio::inline KIO_CXX_ABI::tls

template <>
struct std::is_error_condition_enum<kio::tls::Errc> : std::true_type {
};

namespace kio::inline KIO_CXX_ABI::tls {

// Settings shared by Streams (kio_tls_config). Setters return the C
// call's result; on failure LastError() says why.
class Context {
public:
	Context() noexcept = default;
	Context(const Context &) = delete;
	Context &operator=(const Context &) = delete;
	Context(Context &&o) noexcept
		: cfg_(std::exchange(o.cfg_, nullptr))
	{
	}
	Context &operator=(Context &&o) noexcept
	{
		if (this != &o) {
			kio_tls_config_destroy(cfg_);
			cfg_ = std::exchange(o.cfg_, nullptr);
		}
		return *this;
	}
	~Context()
	{
		kio_tls_config_destroy(cfg_);
	}

	// Defaults: verification on for clients, the system's CAs, TLS 1.2
	// minimum, kernel TLS allowed.
	static Result<Context> Create() noexcept
	{
		Context c;
		if (int err = kio_tls_config_create(&c.cfg_); err < 0)
			return Err(ErrorFromNeg(err));
		return c;
	}

	// A client's Context: Create(); add SetCaFile() for a private CA and
	// SetServerName() (or Stream::SetServerName()) for the host to check.
	static Result<Context> Client() noexcept
	{
		return Create();
	}

	// A server's Context presenting the PEM chain and key of these files.
	template <detail::PathLike C, detail::PathLike K>
	static Result<Context> Server(const C &chain_path, const K &key_path) noexcept
	{
		auto c = Create();
		if (!c)
			return c;
		if (auto r = c->SetCertFile(chain_path, key_path); !r)
			return Err(r.error());
		return c;
	}

	template <detail::PathLike C, detail::PathLike K>
	Result<void> SetCertFile(const C &chain_path, const K &key_path) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_cert_file(cfg_, detail::CStr(chain_path),
								detail::CStr(key_path)));
	}

	Result<void> SetCertMem(std::string_view chain_pem, std::string_view key_pem) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_cert_mem(cfg_, chain_pem.data(),
							       chain_pem.size(), key_pem.data(),
							       key_pem.size()));
	}

	template <detail::PathLike N, detail::PathLike C, detail::PathLike K>
	Result<void> AddSniCertFile(const N &server_name, const C &chain_path,
				    const K &key_path) noexcept
	{
		return VoidFromNeg(kio_tls_config_add_sni_cert_file(cfg_, detail::CStr(server_name),
								    detail::CStr(chain_path),
								    detail::CStr(key_path)));
	}

	// A PEM file of trusted CAs replacing the system's.
	template <detail::PathLike F>
	Result<void> SetCaFile(const F &ca_file) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_ca_file(cfg_, detail::CStr(ca_file), nullptr));
	}

	// A hashed directory of CAs (openssl rehash), or a file and a
	// directory; nullptr for either one. Both nullptr: the system's store.
	Result<void> SetCaPaths(const char *ca_file, const char *ca_dir) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_ca_file(cfg_, ca_file, ca_dir));
	}

	Result<void> SetCaMem(std::string_view ca_pem) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_ca_mem(cfg_, ca_pem.data(), ca_pem.size()));
	}

	Result<void> SetMinVersion(Version v) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_min_version(cfg_, static_cast<int>(v)));
	}

	// Most preferred first; an empty list turns ALPN off.
	Result<void> SetAlpn(std::span<const char *const> protocols) noexcept
	{
		return VoidFromNeg(
			kio_tls_config_set_alpn(cfg_, protocols.data(), protocols.size()));
	}
	Result<void> SetAlpn(std::initializer_list<const char *> protocols) noexcept
	{
		return SetAlpn(std::span<const char *const>(protocols.begin(), protocols.size()));
	}

	template <detail::PathLike N>
	Result<void> SetServerName(const N &name) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_server_name(cfg_, detail::CStr(name)));
	}

	// Verify::None is the only way to skip verification: tests only.
	Result<void> SetVerify(Verify mode) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_verify(cfg_, static_cast<int>(mode)));
	}

	// false keeps every session in user space.
	Result<void> SetKtls(bool enable) noexcept
	{
		return VoidFromNeg(kio_tls_config_set_ktls(cfg_, enable ? 1 : 0));
	}

	const char *LastError() const noexcept
	{
		return kio_tls_config_last_error(cfg_);
	}

	kio_tls_config *Native() const noexcept
	{
		return cfg_;
	}

	explicit operator bool() const noexcept
	{
		return cfg_ != nullptr;
	}

private:
	kio_tls_config *cfg_ = nullptr;
};

// One TLS session over one connected stream socket (kio_tls).
class Stream {
public:
	Stream() noexcept = default;
	Stream(const Stream &) = delete;
	Stream &operator=(const Stream &) = delete;
	// Ops in flight keep running: they hold the session, not the Stream.
	Stream(Stream &&o) noexcept
		: ctx_(std::exchange(o.ctx_, nullptr))
		, tls_(std::exchange(o.tls_, nullptr))
		, fd_(std::exchange(o.fd_, -1))
		, sock_(std::move(o.sock_))
	{
	}
	Stream &operator=(Stream &&o) noexcept
	{
		if (this != &o) {
			Reset();
			ctx_ = std::exchange(o.ctx_, nullptr);
			tls_ = std::exchange(o.tls_, nullptr);
			fd_ = std::exchange(o.fd_, -1);
			sock_ = std::move(o.sock_);
		}
		return *this;
	}
	~Stream()
	{
		Reset();
	}

	// A session over sock, which the Stream then owns (closed after the
	// session). On failure the socket is closed.
	static Result<Stream> Create(IoContext &ctx, Context &config, net::Socket &&sock,
				     Role role) noexcept
	{
		Stream s;
		s.sock_ = std::move(sock);
		if (auto r = s.Open(ctx, config, s.sock_.Fd(), role); !r)
			return Err(r.error());
		return s;
	}

	// A session over fd, which the caller keeps owning (and closes after
	// the Stream is gone).
	static Result<Stream> Create(IoContext &ctx, Context &config, int fd, Role role) noexcept
	{
		Stream s;
		if (auto r = s.Open(ctx, config, fd, role); !r)
			return Err(r.error());
		return s;
	}

	// Clients, before the handshake: the host name to send and check.
	template <detail::PathLike N>
	Result<void> SetServerName(const N &name) noexcept
	{
		return VoidFromNeg(kio_tls_set_server_name(tls_, detail::CStr(name)));
	}

	// Result<void>: done, and the peer verified.
	auto AsyncHandshake() noexcept
	{
		kio_tls *t = tls_;
		return detail::MakeOp<detail::AsVoid>(
			ctx_, [=](kio_ctx *, kio_cb cb, void *ud) noexcept {
				return kio_tls_handshake(t, cb, ud);
			});
	}

	// Result<size_t>: 1..size bytes, or 0 after the peer's close_notify;
	// Errc::truncated when the peer closed without it. A cancelled read
	// loses nothing.
	template <detail::MutableByteRange B>
	auto AsyncRead(B &&buffer) noexcept
	{
		kio_tls *t = tls_;
		detail::MutSpan s = detail::Bytes(buffer);
		return detail::MakeOp<detail::AsSize>(
			ctx_, [=](kio_ctx *, kio_cb cb, void *ud) noexcept {
				return kio_tls_read(t, s.data, s.len, cb, ud);
			});
	}

	// Result<size_t>: data.size(), every byte sent, or an error. A write
	// cut short by a timeout or a stop leaves the session unusable
	// (std::errc::broken_pipe from then on).
	template <detail::ByteRange B>
	auto AsyncWrite(B &&data) noexcept
	{
		kio_tls *t = tls_;
		detail::ConstSpan s = detail::ConstBytes(data);
		return detail::MakeOp<detail::AsSize>(
			ctx_, [=](kio_ctx *, kio_cb cb, void *ud) noexcept {
				return kio_tls_write(t, s.data, s.len, cb, ud);
			});
	}

	// Result<void>: close_notify sent (the peer's is read by AsyncRead: 0).
	auto AsyncShutdown() noexcept
	{
		kio_tls *t = tls_;
		return detail::MakeOp<detail::AsVoid>(
			ctx_, [=](kio_ctx *, kio_cb cb, void *ud) noexcept {
				return kio_tls_shutdown(t, cb, ud);
			});
	}

	// After the handshake: Version::Tls12/Tls13 as int, else 0.
	int Version() const noexcept
	{
		return kio_tls_version(tls_);
	}

	// After the handshake: the ALPN protocol agreed on, or "".
	std::string_view Alpn() const noexcept
	{
		const char *p = kio_tls_alpn(tls_);
		return p ? std::string_view(p) : std::string_view();
	}

	// Servers: the host name the client asked for through SNI, or "".
	std::string_view ServerName() const noexcept
	{
		const char *p = kio_tls_server_name(tls_);
		return p ? std::string_view(p) : std::string_view();
	}

	// KIO_TLS_KTLS_TX / KIO_TLS_KTLS_RX bits; 0: user-space TLS.
	unsigned Ktls() const noexcept
	{
		return kio_tls_ktls(tls_);
	}

	// OpenSSL's reason for the last failure; "" if none.
	const char *LastError() const noexcept
	{
		return kio_tls_last_error(tls_);
	}

	// The socket, for kio_sendfile()/AsyncSendfile() once Ktls() has
	// KIO_TLS_KTLS_TX. Deliberately not Fd(): plain socket ops must not
	// take a Stream by mistake.
	int NativeFd() const noexcept
	{
		return fd_;
	}

	kio_tls *Native() const noexcept
	{
		return tls_;
	}

	explicit operator bool() const noexcept
	{
		return tls_ != nullptr;
	}

private:
	Result<void> Open(IoContext &ctx, Context &config, int fd, Role role) noexcept
	{
		int err = kio_tls_create(&tls_, ctx.Native(), config.Native(), fd,
					 static_cast<unsigned>(role));
		if (err < 0) {
			tls_ = nullptr;
			return Err(ErrorFromNeg(err));
		}
		ctx_ = ctx.Native();
		fd_ = fd;
		return VoidFromNeg(0);
	}

	// The session first (it cancels its ops), then the socket it used.
	void Reset() noexcept
	{
		kio_tls_destroy(std::exchange(tls_, nullptr));
		sock_.Close();
		ctx_ = nullptr;
		fd_ = -1;
	}

	kio_ctx *ctx_ = nullptr;
	kio_tls *tls_ = nullptr;
	int fd_ = -1;
	net::Socket sock_;
};

} // namespace kio::inline KIO_CXX_ABI::tls

#endif // KIO_CXX_TLS_HPP
