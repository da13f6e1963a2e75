// SPDX-License-Identifier: MIT
//
// tls::Context and tls::Stream over loopback TCP, with throw-away
// certificates made by `openssl req` in a temporary directory: handshake
// and echo, close_notify and truncation, a handshake cut by its timeout,
// a read cancelled by a stop token or a timeout that loses nothing, a
// verification failure as an error code, moves that never throw, no
// allocation per await. Every test ends by itself.
#include "kio_cxx_test.hpp"
#include "count_new.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

static_assert(std::is_nothrow_move_constructible_v<tls::Stream>);
static_assert(std::is_nothrow_move_assignable_v<tls::Stream>);
static_assert(std::is_nothrow_move_constructible_v<tls::Context>);
static_assert(std::is_nothrow_move_assignable_v<tls::Context>);
static_assert(!std::is_copy_constructible_v<tls::Stream>);
static_assert(!std::is_copy_constructible_v<tls::Context>);
// A Stream is not an fd: plain socket ops must not take it by mistake.
static_assert(!detail::FdLike<tls::Stream>);

namespace {

// A CA, a server certificate it signed for localhost and 127.0.0.1, in a
// directory removed at the end of the test.
struct Pki {
	std::string dir;
	std::string ca, cert, key;

	Pki()
	{
		char tmpl[] = "/tmp/kio-tls-test.XXXXXX";
		cr_assert(mkdtemp(tmpl) != nullptr);
		dir = tmpl;
		ca = dir + "/ca.pem";
		cert = dir + "/server.pem";
		key = dir + "/server.key";
		if (std::system("openssl version > /dev/null 2>&1") != 0) {
			Remove();
			cr_skip_test("no openssl command to make certificates");
		}
		const std::string d = dir;
		const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
		const std::string cmd =
			"cd '" + d + "' && exec 2>openssl.log" +
			" && openssl req -x509" + ec +
			" -days 2 -subj /CN=kio-test-ca -keyout ca.key -out ca.pem" +
			" && openssl req" + ec +
			" -subj /CN=localhost -keyout server.key -out server.csr" +
			" && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > leaf.ext" +
			" && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key" +
			" -CAcreateserial -days 2 -extfile leaf.ext -out server.pem";
		int rc = std::system(cmd.c_str());
		cr_assert_eq(rc, 0, "openssl failed (%d); see %s/openssl.log", rc, d.c_str());
	}
	~Pki()
	{
		Remove();
	}
	void Remove()
	{
		std::string cmd = "rm -rf '" + dir + "'";
		cr_expect_eq(std::system(cmd.c_str()), 0);
	}
};

// A connected loopback TCP pair: the kernel completes the connection
// from the listen backlog, so plain blocking calls do.
struct TcpPair {
	net::Socket client, server;
};

TcpPair MakeTcpPair()
{
	auto l = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(l.has_value());
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(c >= 0);
	sockaddr_in to{};
	to.sin_family = AF_INET;
	to.sin_port = htons(l->Port());
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(c, reinterpret_cast<sockaddr *>(&to), sizeof to), 0);
	int s = accept4(l->Fd(), nullptr, nullptr, SOCK_CLOEXEC);
	cr_assert(s >= 0);
	return {net::Socket(c), net::Socket(s)};
}

tls::Context ServerContext(const Pki &pki)
{
	auto c = tls::Context::Server(pki.cert, pki.key);
	KXT_SKIP_IF_ENOSYS(c, "kio_tls_config_create");
	cr_assert(c.has_value(), "server context: %s", c ? "" : c.error().message().c_str());
	return std::move(*c);
}

tls::Context ClientContext(const Pki &pki, const char *host)
{
	auto c = tls::Context::Client();
	KXT_SKIP_IF_ENOSYS(c, "kio_tls_config_create");
	cr_assert(c.has_value());
	cr_assert(c->SetCaFile(pki.ca).has_value(), "ca: %s", c->LastError());
	cr_assert(c->SetServerName(host).has_value());
	return std::move(*c);
}

// Both ends of a session over a TcpPair, not yet shaken hands.
struct Session {
	tls::Stream client, server;
};

Session MakeSession(IoContext &ctx, tls::Context &cc, tls::Context &sc)
{
	TcpPair p = MakeTcpPair();
	auto c = tls::Stream::Create(ctx, cc, std::move(p.client), tls::Role::Client);
	cr_assert(c.has_value(), "client stream: %s", c ? "" : c.error().message().c_str());
	auto s = tls::Stream::Create(ctx, sc, std::move(p.server), tls::Role::Server);
	cr_assert(s.has_value(), "server stream: %s", s ? "" : s.error().message().c_str());
	return {std::move(*c), std::move(*s)};
}

Task<> HandshakeInto(tls::Stream *s, Result<void> *out)
{
	*out = co_await s->AsyncHandshake().WithTimeout(5s);
}

// Both handshakes at once; both must succeed.
Task<> Handshake(IoContext &ctx, Session *s)
{
	Result<void> server_res = MakeError(std::errc::io_error);
	TaskGroup g;
	g.Spawn(HandshakeInto(&s->server, &server_res));
	auto r = co_await s->client.AsyncHandshake().WithTimeout(5s);
	co_await g.JoinAll(ctx);
	cr_assert(r.has_value(), "client handshake: %s (%s)",
		  r ? "" : r.error().message().c_str(), s->client.LastError());
	cr_assert(server_res.has_value(), "server handshake: %s (%s)",
		  server_res ? "" : server_res.error().message().c_str(), s->server.LastError());
}

// Reads until `want` bytes arrived.
Task<> ReadAll(tls::Stream *s, std::vector<char> *out, size_t want)
{
	std::array<char, 8192> buf;
	while (out->size() < want) {
		auto n = co_await s->AsyncRead(buf).WithTimeout(5s);
		cr_assert(n.has_value(), "read: %s", n ? "" : n.error().message().c_str());
		cr_assert(*n > 0, "end of stream after %zu bytes", out->size());
		out->insert(out->end(), buf.data(), buf.data() + *n);
	}
}

// The server echoes until the client's close_notify, then sends its own.
Task<> EchoServer(tls::Stream *s, size_t *echoed)
{
	std::array<char, 4096> buf;
	while (true) {
		auto n = co_await s->AsyncRead(buf).WithTimeout(5s);
		cr_assert(n.has_value(), "server read: %s", n ? "" : n.error().message().c_str());
		if (*n == 0)
			break;
		auto w = co_await s->AsyncWrite(std::span(buf).first(*n)).WithTimeout(5s);
		cr_assert(w.has_value());
		cr_assert_eq(*w, *n, "a TLS write sends everything");
		*echoed += *n;
	}
	auto sd = co_await s->AsyncShutdown().WithTimeout(5s);
	cr_assert(sd.has_value());
}

Task<int> HandshakeAndEcho(IoContext &ctx, const Pki *pki)
{
	tls::Context sc = ServerContext(*pki);
	tls::Context cc = ClientContext(*pki, "localhost");
	Session s = MakeSession(ctx, cc, sc);
	co_await Handshake(ctx, &s);

	cr_assert_eq(s.client.Version(), KIO_TLS_VERSION_1_3);
	cr_assert_eq(s.server.Version(), KIO_TLS_VERSION_1_3);
	cr_assert_str_eq(s.client.LastError(), "");
	cr_assert(s.client.Alpn().empty());
	cr_assert(s.server.ServerName() == "localhost", "SNI seen by the server: '%.*s'",
		  static_cast<int>(s.server.ServerName().size()), s.server.ServerName().data());

	size_t echoed = 0;
	TaskGroup g;
	g.Spawn(EchoServer(&s.server, &echoed));
	// Small and large messages: the large ones take many records.
	for (size_t size : {1u, 100u, 16384u, 100000u}) {
		std::vector<char> msg(size);
		for (size_t i = 0; i < size; i++)
			msg[i] = static_cast<char>('a' + (i * 7 + size) % 26);
		auto w = co_await s.client.AsyncWrite(msg).WithTimeout(5s);
		cr_assert(w.has_value(), "write: %s", w ? "" : w.error().message().c_str());
		cr_assert_eq(*w, size);
		std::vector<char> back;
		co_await ReadAll(&s.client, &back, size);
		cr_assert_eq(back.size(), size);
		cr_assert(back == msg, "echo of %zu bytes differs", size);
	}
	// Clean close both ways: ours, then the server's answer reads as 0.
	auto sd = co_await s.client.AsyncShutdown().WithTimeout(5s);
	cr_assert(sd.has_value(), "shutdown: %s", sd ? "" : sd.error().message().c_str());
	std::array<char, 16> buf;
	auto end = co_await s.client.AsyncRead(buf).WithTimeout(5s);
	cr_assert(end.has_value(), "read after close: %s",
		  end ? "" : end.error().message().c_str());
	cr_assert_eq(*end, 0u, "the server's close_notify reads as 0");
	co_await g.JoinAll(ctx);
	cr_assert_eq(echoed, 1u + 100u + 16384u + 100000u);
	co_return 1;
}

// The peer ends the connection without close_notify.
Task<int> Truncation(IoContext &ctx, const Pki *pki)
{
	tls::Context sc = ServerContext(*pki);
	tls::Context cc = ClientContext(*pki, "127.0.0.1");
	Session s = MakeSession(ctx, cc, sc);
	co_await Handshake(ctx, &s);
	auto w = co_await s.client.AsyncWrite("last words");
	cr_assert(w.has_value());
	// A FIN without close_notify. (Closing the socket could send a reset
	// instead, as unread session tickets wait in its receive queue.)
	cr_assert_eq(shutdown(s.client.NativeFd(), SHUT_WR), 0);
	std::array<char, 64> buf;
	auto n = co_await s.server.AsyncRead(buf).WithTimeout(5s);
	cr_assert(n.has_value());
	cr_assert_eq(*n, 10u);
	auto t = co_await s.server.AsyncRead(buf).WithTimeout(5s);
	cr_assert(!t.has_value(), "a truncation must not read as a clean end");
	cr_assert(t.error() == tls::Errc::truncated, "got %s", t.error().message().c_str());
	cr_assert(t.error() == std::errc::connection_aborted);
	co_return 1;
}

// The server accepted the connection (the kernel did) but never speaks.
Task<int> SilentPeer(IoContext &ctx, const Pki *pki)
{
	tls::Context cc = ClientContext(*pki, "localhost");
	TcpPair p = MakeTcpPair();
	auto c = tls::Stream::Create(ctx, cc, std::move(p.client), tls::Role::Client);
	cr_assert(c.has_value());
	auto t0 = std::chrono::steady_clock::now();
	auto r = co_await c->AsyncHandshake().WithTimeout(200ms);
	auto took = std::chrono::steady_clock::now() - t0;
	cr_assert(!r.has_value(), "a handshake with a silent peer succeeded");
	cr_assert(r.error() == std::errc::timed_out, "got %s", r.error().message().c_str());
	cr_assert(took >= 190ms, "timed out after %lld ms",
		  static_cast<long long>(
			  std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
	cr_assert(took < 3s);
	// A session whose handshake failed can only be destroyed.
	std::array<char, 8> buf;
	auto after = co_await c->AsyncRead(buf).WithTimeout(1s);
	cr_assert(!after.has_value());
	co_return 1;
}

Task<> StopLater(IoContext &ctx, kio::StopSource *src)
{
	co_await AsyncSleep(ctx, 50ms);
	src->request_stop();
}

Task<int> CancelRead(IoContext &ctx, const Pki *pki)
{
	tls::Context sc = ServerContext(*pki);
	tls::Context cc = ClientContext(*pki, "localhost");
	Session s = MakeSession(ctx, cc, sc);
	co_await Handshake(ctx, &s);

	std::array<char, 64> buf;
	// A stop request cancels the read in flight.
	kio::StopSource src;
	TaskGroup g;
	g.Spawn(StopLater(ctx, &src));
	auto r = co_await s.server.AsyncRead(buf).WithTimeout(5s).WithStopToken(src.get_token());
	co_await g.JoinAll(ctx);
	cr_assert(!r.has_value());
	cr_assert(r.error() == std::errc::operation_canceled, "got %s",
		  r.error().message().c_str());
	// A token already stopped does not even start the read.
	auto again = co_await s.server.AsyncRead(buf).WithStopToken(src.get_token());
	cr_assert(again.error() == std::errc::operation_canceled);

	// A read that timed out is not an error of the session either.
	auto t = co_await s.server.AsyncRead(buf).WithTimeout(50ms);
	cr_assert(t.error() == std::errc::timed_out, "got %s",
		  t ? "data" : t.error().message().c_str());

	// Nothing was lost: the session goes on.
	auto w = co_await s.client.AsyncWrite("after");
	cr_assert(w.has_value());
	auto n = co_await s.server.AsyncRead(buf).WithTimeout(5s);
	cr_assert(n.has_value(), "read after cancel: %s", n ? "" : n.error().message().c_str());
	cr_assert_eq(*n, 5u);
	cr_assert_eq(std::memcmp(buf.data(), "after", 5), 0);
	co_return 1;
}

Task<int> WrongHost(IoContext &ctx, const Pki *pki)
{
	tls::Context sc = ServerContext(*pki);
	tls::Context cc = ClientContext(*pki, "not-localhost.example");
	Session s = MakeSession(ctx, cc, sc);
	Result<void> server_res;
	TaskGroup g;
	g.Spawn(HandshakeInto(&s.server, &server_res));
	auto r = co_await s.client.AsyncHandshake().WithTimeout(5s);
	co_await g.JoinAll(ctx);
	cr_assert(!r.has_value(), "a certificate for another host was accepted");
	const std::error_code rejected(EKEYREJECTED, std::generic_category());
	cr_assert(r.error() == rejected, "got %s", r.error().message().c_str());
	cr_assert(r.error() == tls::Errc::verify_failed);
	cr_assert(r.error() != tls::Errc::protocol_error);
	cr_assert(std::strlen(s.client.LastError()) > 0, "no reason from OpenSSL");
	cr_assert(!server_res.has_value(), "the server's handshake cannot succeed");
	co_return 1;
}

// Streams and Contexts change hands without throwing, also mid-session.
Task<int> Moves(IoContext &ctx, const Pki *pki)
{
	tls::Context sc0 = ServerContext(*pki);
	tls::Context sc = std::move(sc0);
	cr_assert(!sc0);
	cr_assert(static_cast<bool>(sc));
	tls::Context cc = ClientContext(*pki, "localhost");
	Session s = MakeSession(ctx, cc, sc);
	// The contexts may go: the sessions hold their own references.
	sc = tls::Context();
	cc = tls::Context();
	co_await Handshake(ctx, &s);

	tls::Stream moved(std::move(s.client));
	cr_assert(!s.client);
	cr_assert(static_cast<bool>(moved));
	tls::Stream assigned;
	assigned = std::move(moved);
	cr_assert(!moved);
	cr_assert_eq(assigned.Version(), KIO_TLS_VERSION_1_3);

	auto w = co_await assigned.AsyncWrite("moved");
	cr_assert(w.has_value());
	std::array<char, 16> buf;
	auto n = co_await s.server.AsyncRead(buf).WithTimeout(5s);
	cr_assert(n.has_value());
	cr_assert_eq(*n, 5u);
	cr_assert_eq(std::memcmp(buf.data(), "moved", 5), 0);

	// Assigning over a live Stream ends its session (and closes its
	// socket): the peer sees the connection end.
	assigned = tls::Stream();
	auto t = co_await s.server.AsyncRead(buf).WithTimeout(5s);
	cr_assert(!t.has_value());
	co_return 1;
}

// After warming up, a write and a read cost no operator new.
Task<unsigned long> Rounds(IoContext &ctx, const Pki *pki, int n)
{
	tls::Context sc = ServerContext(*pki);
	tls::Context cc = ClientContext(*pki, "localhost");
	Session s = MakeSession(ctx, cc, sc);
	co_await Handshake(ctx, &s);
	std::array<char, 64> buf;
	for (int i = 0; i < 20; i++) {
		auto w = co_await s.client.AsyncWrite("ping");
		cr_assert(w.has_value());
		auto r = co_await s.server.AsyncRead(buf).WithTimeout(5s);
		cr_assert(r.has_value());
		cr_assert_eq(*r, 4u);
	}
	unsigned long news = 0;
	for (int i = 0; i < n; i++) {
		t_news = 0;
		t_counting = true;
		auto w = co_await s.client.AsyncWrite("ping").WithTimeout(5s);
		auto r = co_await s.server.AsyncRead(buf).WithTimeout(5s);
		t_counting = false;
		news += t_news;
		cr_assert(w.has_value() && r.has_value());
		cr_assert_eq(*r, 4u);
	}
	co_return news;
}

} // namespace

Test(tls, handshake_and_echo)
{
	KXT_LEAK_GUARD();
	Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(HandshakeAndEcho(*ctx, &pki)), 1);
}

Test(tls, truncation_is_not_a_clean_end)
{
	KXT_LEAK_GUARD();
	Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Truncation(*ctx, &pki)), 1);
}

Test(tls, handshake_timeout_with_a_silent_peer)
{
	KXT_LEAK_GUARD();
	Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(SilentPeer(*ctx, &pki)), 1);
}

Test(tls, stop_token_and_timeout_cancel_a_read)
{
	KXT_LEAK_GUARD();
	Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(CancelRead(*ctx, &pki)), 1);
}

Test(tls, verification_failure_is_key_rejected)
{
	KXT_LEAK_GUARD();
	Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(WrongHost(*ctx, &pki)), 1);
}

Test(tls, moves_never_throw)
{
	KXT_LEAK_GUARD();
	Pki pki;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Moves(*ctx, &pki)), 1);
}

Test(tls, bad_arguments)
{
	KXT_LEAK_GUARD();
	Pki pki;
	auto ctx = kxt::NewCtx();
	auto missing = tls::Context::Server(pki.dir + "/none.pem", pki.key);
	KXT_SKIP_IF_ENOSYS(missing, "kio_tls_config_create");
	cr_assert(!missing.has_value());
	cr_assert(missing.error() == std::errc::no_such_file_or_directory, "got %s",
		  missing.error().message().c_str());
	// The key of another certificate.
	auto mismatch = tls::Context::Server(pki.cert, pki.dir + "/ca.key");
	cr_assert(!mismatch.has_value());
	cr_assert(mismatch.error() == std::errc::invalid_argument, "got %s",
		  mismatch.error().message().c_str());

	tls::Context cc = ClientContext(pki, "localhost");
	auto bad_fd = tls::Stream::Create(*ctx, cc, -1, tls::Role::Client);
	cr_assert(bad_fd.error() == std::errc::bad_file_descriptor);
	tls::Context empty;
	auto no_config = tls::Stream::Create(*ctx, empty, 0, tls::Role::Client);
	cr_assert(no_config.error() == std::errc::invalid_argument);
	cr_assert(cc.SetVerify(static_cast<tls::Verify>(42)).error() ==
		  std::errc::invalid_argument);
	cr_assert(cc.SetMinVersion(static_cast<tls::Version>(0x0302)).error() ==
		  std::errc::invalid_argument, "TLS 1.1 must be refused");
}

Test(tls, no_allocation_per_await)
{
	if (!KXT_COUNT_NEW)
		cr_skip_test("operator new is the sanitizer's here");
	KXT_LEAK_GUARD();
	Pki pki;
	auto ctx = kxt::NewCtx();
	unsigned long news = ctx->RunUntilDone(Rounds(*ctx, &pki, 200));
	cr_assert_eq(news, 0ul, "%lu allocations in 200 write+read rounds", news);
}
