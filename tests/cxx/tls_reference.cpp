// SPDX-License-Identifier: MIT
//
// TLS in the reference library's call shapes (tls_socket.hpp): TlsConfig,
// TlsContext::Create, AsyncTlsHandshake, AsyncRecv/AsyncSend/AsyncClose on
// the TlsSocket, AsyncShutdown, GetNegotiatedProtocol. This machine has no
// kernel TLS, so the sessions run in user space; the same code runs on
// kernel TLS where it is loaded. Also: mutual TLS required by the server,
// a host name that does not match, a handshake cut by its timeout, bad
// settings and bad flags as error codes, and nothing leaked.
#include "kio_cxx_test.hpp"
#include "tls_pki.hpp"

#include <sys/socket.h>

#include <array>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

static_assert(std::is_nothrow_move_constructible_v<tls::TlsSocket>);
static_assert(std::is_nothrow_move_assignable_v<tls::TlsSocket>);
static_assert(!std::is_copy_constructible_v<tls::TlsSocket>);
// Plain fd ops must not take a TlsSocket: they would bypass the session.
static_assert(!detail::FdLike<tls::TlsSocket>);

namespace {

tls::TlsContext ServerCtx(const kxt::Pki &pki, int verify_mode = tls::kVerifyPeer)
{
	tls::TlsConfig cfg;
	cfg.cert_path = pki.cert;
	cfg.key_path = pki.key;
	cfg.ca_cert_path = pki.ca;
	cfg.verify_mode = verify_mode;
	cfg.alpn_protocols = {"h2", "http/1.1"};
	auto c = tls::TlsContext::Create(cfg, true);
	KXT_SKIP_IF_ENOSYS(c, "kio_tls_config_create");
	cr_assert(c.has_value(), "server context: %s", c ? "" : c.error().message().c_str());
	return std::move(*c);
}

tls::TlsContext ClientCtx(const kxt::Pki &pki, bool with_cert = false)
{
	tls::TlsConfig cfg;
	cfg.ca_cert_path = pki.ca;
	cfg.alpn_protocols = {"http/1.1"};
	if (with_cert) {
		cfg.cert_path = pki.client_cert;
		cfg.key_path = pki.client_key;
	}
	auto c = tls::TlsContext::Create(cfg, false);
	KXT_SKIP_IF_ENOSYS(c, "kio_tls_config_create");
	cr_assert(c.has_value(), "client context: %s", c ? "" : c.error().message().c_str());
	return std::move(*c);
}

// The reference's echo handler: handshake, echo until the peer's
// close_notify, close_notify back, close.
Task<> HandleClient(IoContext &ctx, int fd, tls::TlsContext &tls_ctx, Result<size_t> *out)
{
	net::Socket client_sock(fd);
	auto handshake_res =
		co_await tls::AsyncTlsHandshake(ctx, std::move(client_sock), tls_ctx, true);
	if (!handshake_res) {
		*out = Err(handshake_res.error());
		co_return;
	}
	auto tls_sock = std::move(*handshake_res);
	cr_assert(tls_sock.Get() >= 0);
	cr_assert(tls_sock.GetNegotiatedProtocol() == "http/1.1");
	cr_assert(!tls_sock.IsHttp2());
	std::array<std::byte, 1024> buffer{};
	size_t echoed = 0;
	while (true) {
		auto recv_result = co_await AsyncRecv(ctx, tls_sock, buffer);
		if (!recv_result) {
			*out = Err(recv_result.error());
			co_return;
		}
		if (*recv_result == 0)
			break;
		auto send_result =
			co_await AsyncSend(ctx, tls_sock, std::span{buffer.data(), *recv_result});
		cr_assert(send_result.has_value());
		cr_assert_eq(*send_result, *recv_result);
		echoed += *send_result;
	}
	auto sd = co_await tls_sock.AsyncShutdown(ctx);
	cr_assert(sd.has_value(), "server shutdown: %s", sd ? "" : sd.error().message().c_str());
	auto closed = co_await AsyncClose(ctx, tls_sock);
	cr_assert(closed.has_value());
	cr_assert(!tls_sock, "AsyncClose ended the session");
	*out = echoed;
}

Task<> AcceptOne(IoContext &ctx, net::TcpListener &listener, tls::TlsContext &tls_ctx,
		 Result<size_t> *out)
{
	auto accept_result = co_await AsyncAccept(ctx, listener).WithTimeout(5s);
	cr_assert(accept_result.has_value());
	co_await HandleClient(ctx, accept_result->fd, tls_ctx, out);
}

Task<Result<tls::TlsSocket>> Connect(IoContext &ctx, uint16_t port, tls::TlsContext &tls_ctx,
				     std::string host)
{
	net::Socket sock(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	auto addr = net::SocketAddress::V4(port, "127.0.0.1");
	auto c = co_await AsyncConnect(ctx, sock, addr);
	cr_assert(c.has_value(), "connect: %s", c ? "" : c.error().message().c_str());
	co_return co_await tls::AsyncTlsHandshake(ctx, std::move(sock), tls_ctx, false, host, 5s);
}

Task<int> Echo(IoContext &ctx, const kxt::Pki *pki)
{
	tls::TlsContext server_ctx = ServerCtx(*pki);
	tls::TlsContext client_ctx = ClientCtx(*pki);
	auto listener = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(listener.has_value());
	Result<size_t> served = MakeError(std::errc::io_error);
	TaskGroup tasks;
	tasks.Spawn(AcceptOne(ctx, *listener, server_ctx, &served));

	auto hs = co_await Connect(ctx, listener->Port(), client_ctx, "localhost");
	cr_assert(hs.has_value(), "client handshake: %s", hs ? "" : hs.error().message().c_str());
	tls::TlsSocket sock = std::move(*hs);
	cr_assert(sock.GetNegotiatedProtocol() == "http/1.1");
	cr_assert_eq(sock.GetStream().Version(), KIO_TLS_VERSION_1_3);
	size_t total = 0;
	for (size_t size : {5u, 16384u, 70000u}) {
		std::vector<char> msg(size);
		for (size_t i = 0; i < size; i++)
			msg[i] = static_cast<char>('a' + (i * 13 + size) % 26);
		auto n = co_await AsyncSend(ctx, sock, msg, MSG_NOSIGNAL);
		cr_assert(n.has_value());
		cr_assert_eq(*n, size, "a TLS send sends everything");
		std::vector<char> back;
		std::array<char, 4096> buf;
		while (back.size() < size) {
			auto r = co_await AsyncRecv(ctx, sock, buf).WithTimeout(5s);
			cr_assert(r.has_value() && *r > 0);
			back.insert(back.end(), buf.data(), buf.data() + *r);
		}
		cr_assert(back == msg, "echo of %zu bytes differs", size);
		total += size;
	}
	auto sd = co_await AsyncShutdown(ctx, sock);
	cr_assert(sd.has_value());
	std::array<char, 16> tail;
	auto end = co_await AsyncRecv(ctx, sock, tail).WithTimeout(5s);
	cr_assert(end.has_value() && *end == 0, "the server's close_notify reads as 0");
	co_await tasks.JoinAll(ctx);
	cr_assert(served.has_value(), "server: %s", served ? "" : served.error().message().c_str());
	cr_assert_eq(*served, total);
	co_return 1;
}

// verify_mode with kVerifyFailIfNoPeerCert: a client without a
// certificate is refused, one with a certificate from the CA is let in.
Task<int> MutualTls(IoContext &ctx, const kxt::Pki *pki, bool client_has_cert)
{
	tls::TlsContext server_ctx =
		ServerCtx(*pki, tls::kVerifyPeer | tls::kVerifyFailIfNoPeerCert);
	tls::TlsContext client_ctx = ClientCtx(*pki, client_has_cert);
	auto listener = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(listener.has_value());
	Result<size_t> served = MakeError(std::errc::io_error);
	TaskGroup tasks;
	tasks.Spawn(AcceptOne(ctx, *listener, server_ctx, &served));
	auto hs = co_await Connect(ctx, listener->Port(), client_ctx, "localhost");
	if (hs) {
		// TLS 1.3: the client may finish before the server checked it;
		// the refusal then arrives with the first read.
		tls::TlsSocket sock = std::move(*hs);
		auto sd = co_await sock.AsyncShutdown(ctx);
		std::array<char, 16> tail;
		auto end = co_await AsyncRecv(ctx, sock, tail).WithTimeout(5s);
		cr_assert_eq(client_has_cert, end.has_value() && *end == 0 && sd.has_value());
	}
	co_await tasks.JoinAll(ctx);
	if (client_has_cert) {
		cr_assert(hs.has_value(), "%s", hs ? "" : hs.error().message().c_str());
		cr_assert(served.has_value(), "%s", served ? "" : served.error().message().c_str());
	} else {
		cr_assert(!served.has_value(),
			  "the server must refuse a client without a certificate");
		cr_assert(served.error() != std::errc::io_error,
			  "the server's handshake did not run");
	}
	co_return 1;
}

Task<int> WrongHost(IoContext &ctx, const kxt::Pki *pki)
{
	tls::TlsContext server_ctx = ServerCtx(*pki);
	tls::TlsContext client_ctx = ClientCtx(*pki);
	auto listener = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(listener.has_value());
	Result<size_t> served = MakeError(std::errc::io_error);
	TaskGroup tasks;
	tasks.Spawn(AcceptOne(ctx, *listener, server_ctx, &served));
	auto hs = co_await Connect(ctx, listener->Port(), client_ctx, "not-this-host.test");
	cr_assert(!hs.has_value());
	cr_assert(hs.error() == tls::Errc::verify_failed, "got %s", hs.error().message().c_str());
	co_await tasks.JoinAll(ctx);
	cr_assert(!served.has_value());
	co_return 1;
}

// The server's kernel accepted the connection, nobody answers: the
// handshake ends at its timeout and the socket handed to it is closed.
Task<int> HandshakeTimeout(IoContext &ctx, const kxt::Pki *pki)
{
	tls::TlsContext client_ctx = ClientCtx(*pki);
	auto listener = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(listener.has_value());
	net::Socket sock(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	auto c = co_await AsyncConnect(ctx, sock,
				       net::SocketAddress::V4(listener->Port(), "127.0.0.1"));
	cr_assert(c.has_value());
	auto hs = co_await tls::AsyncTlsHandshake(ctx, std::move(sock), client_ctx, false,
						  "localhost", 50ms);
	cr_assert(!hs.has_value());
	cr_assert(hs.error() == std::errc::timed_out, "got %s", hs.error().message().c_str());
	co_return 1;
}

// Flags the TLS socket cannot honour are refused at the call; the session
// stays usable.
Task<int> BadFlags(IoContext &ctx, const kxt::Pki *pki)
{
	tls::TlsContext server_ctx = ServerCtx(*pki);
	tls::TlsContext client_ctx = ClientCtx(*pki);
	auto listener = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(listener.has_value());
	Result<size_t> served = MakeError(std::errc::io_error);
	TaskGroup tasks;
	tasks.Spawn(AcceptOne(ctx, *listener, server_ctx, &served));
	auto hs = co_await Connect(ctx, listener->Port(), client_ctx, "127.0.0.1");
	cr_assert(hs.has_value(), "%s", hs ? "" : hs.error().message().c_str());
	tls::TlsSocket sock = std::move(*hs);
	std::array<char, 8> buf{};
	auto r = co_await AsyncRecv(ctx, sock, buf, MSG_WAITALL);
	cr_assert(!r.has_value() && r.error() == std::errc::invalid_argument);
	auto s = co_await AsyncSend(ctx, sock, "x", MSG_DONTWAIT);
	cr_assert(!s.has_value() && s.error() == std::errc::invalid_argument);
	auto ok = co_await AsyncSend(ctx, sock, "abc");
	cr_assert(ok.has_value() && *ok == 3);
	auto back = co_await AsyncRecv(ctx, sock, buf).WithTimeout(5s);
	cr_assert(back.has_value() && *back == 3);
	co_await AsyncShutdown(ctx, sock);
	auto closed = co_await AsyncClose(ctx, sock);
	cr_assert(closed.has_value());
	co_await tasks.JoinAll(ctx);
	cr_assert(served.has_value() && *served == 3);
	co_return 1;
}

} // namespace

Test(tls_reference, echo_in_the_reference_shape)
{
	KXT_LEAK_GUARD();
	kxt::Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Echo(*ctx, &pki)), 1);
}

Test(tls_reference, server_requiring_a_client_certificate)
{
	KXT_LEAK_GUARD();
	kxt::Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(MutualTls(*ctx, &pki, true)), 1);
	cr_assert_eq(ctx->RunUntilDone(MutualTls(*ctx, &pki, false)), 1);
}

Test(tls_reference, wrong_host_name_is_verify_failed)
{
	KXT_LEAK_GUARD();
	kxt::Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(WrongHost(*ctx, &pki)), 1);
}

Test(tls_reference, handshake_timeout_closes_the_socket)
{
	KXT_LEAK_GUARD();
	kxt::Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(HandshakeTimeout(*ctx, &pki)), 1);
}

Test(tls_reference, flags_it_cannot_honour_are_refused)
{
	KXT_LEAK_GUARD();
	kxt::Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(BadFlags(*ctx, &pki)), 1);
}

Test(tls_reference, bad_settings)
{
	KXT_LEAK_GUARD();
	kxt::Pki pki;
	tls::TlsConfig cfg;
	cfg.cert_path = pki.cert;
	cfg.key_path = pki.key;
	{
		auto ok = tls::TlsContext::Create(cfg, true);
		KXT_SKIP_IF_ENOSYS(ok, "kio_tls_config_create");
		cr_assert(ok.has_value());
	}
	tls::TlsConfig ciphers = cfg;
	ciphers.cipher_suites = "ECDHE-RSA-AES128-GCM-SHA256";
	auto r = tls::TlsContext::Create(ciphers, true);
	cr_assert(!r.has_value() && r.error() == std::errc::operation_not_supported);

	tls::TlsConfig no_cert;
	r = tls::TlsContext::Create(no_cert, true);
	cr_assert(!r.has_value() && r.error() == std::errc::invalid_argument,
		  "a server needs a certificate");
	cr_assert(tls::TlsContext::Create(no_cert, false).has_value(), "a client does not");

	tls::TlsConfig half = cfg;
	half.key_path.clear();
	r = tls::TlsContext::Create(half, false);
	cr_assert(!r.has_value() && r.error() == std::errc::invalid_argument);

	tls::TlsConfig mode = cfg;
	mode.verify_mode = 0x40;
	r = tls::TlsContext::Create(mode, true);
	cr_assert(!r.has_value() && r.error() == std::errc::invalid_argument);

	tls::TlsConfig missing = cfg;
	missing.cert_path = pki.dir + "/absent.pem";
	r = tls::TlsContext::Create(missing, true);
	cr_assert(!r.has_value() && r.error() == std::errc::no_such_file_or_directory, "got %s",
		  r ? "" : r.error().message().c_str());

	tls::TlsConfig badca;
	badca.ca_cert_path = pki.dir + "/absent-ca.pem";
	r = tls::TlsContext::Create(badca, false);
	cr_assert(!r.has_value());

	// A socket that is not open fails at the handshake, as an error.
	auto ctx = kxt::NewCtx();
	auto client_ctx = tls::TlsContext::Create(no_cert, false);
	cr_assert(client_ctx.has_value());
	auto hs = ctx->RunUntilDone(
		tls::AsyncTlsHandshake(*ctx, net::Socket(), *client_ctx, false, "localhost"));
	cr_assert(!hs.has_value());
}
