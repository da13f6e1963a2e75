// SPDX-License-Identifier: MIT
//
// A TLS echo written the way the reference library's programs are, with
// <print> (std::println) for its output and alog for its log, ported by
// the include and the namespace only. Built where the standard library has
// <print> (libc++ here; libstdc++ 12 does not), as C++2b. What it printed
// and logged is checked.
#include <kio/kio.hpp>

#include "kio_cxx_test.hpp"
#include "tls_pki.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <print>
#include <span>
#include <string>

using namespace kio;

namespace {

struct Output {
	char *text = nullptr;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	~Output()
	{
		if (f)
			fclose(f);
		free(text);
	}
	std::string Take()
	{
		fflush(f);
		return std::string(text, size);
	}
};

std::string g_log;
void Capture(void *, int, const char *msg, size_t len)
{
	g_log.append(msg, len).push_back('\n');
}

kio::Task<> HandleClient(kio::IoContext &ctx, int fd, kio::tls::TlsContext &tls_ctx, FILE *out)
{
	kio::net::Socket client_sock(fd);
	auto handshake_res =
		co_await kio::tls::AsyncTlsHandshake(ctx, std::move(client_sock), tls_ctx, true);
	if (!handshake_res) {
		std::println(out, "TLS Handshake failed: {}", handshake_res.error().message());
		co_return;
	}
	auto tls_sock = std::move(*handshake_res);
	if (auto proto = tls_sock.GetNegotiatedProtocol(); proto.data())
		std::println(out, "Negotiated protocol: {}", proto);
	std::array<std::byte, 1024> buffer{};
	while (true) {
		auto recv_result = co_await kio::AsyncRecv(ctx, tls_sock, buffer);
		if (!recv_result || *recv_result == 0)
			break;
		auto send_result = co_await kio::AsyncSend(
			ctx, tls_sock, std::span{buffer.data(), (*recv_result)});
		if (!send_result)
			break;
	}
	std::println(out, "Client sent EOF/close, performing TLS shutdown...");
	co_await tls_sock.AsyncShutdown(ctx);
	co_await kio::AsyncClose(ctx, tls_sock);
}

kio::Task<> AcceptOne(kio::IoContext &ctx, kio::net::TcpListener &listener,
		      kio::tls::TlsContext &tls_ctx, FILE *out)
{
	auto accept_result = co_await kio::AsyncAccept(ctx, listener);
	cr_assert(accept_result.has_value());
	co_await HandleClient(ctx, accept_result->fd, tls_ctx, out);
}

kio::Task<int> Run(kio::IoContext &ctx, const kxt::Pki *pki, FILE *out)
{
	kio::tls::TlsConfig tls_cfg;
	tls_cfg.cert_path = pki->cert;
	tls_cfg.key_path = pki->key;
	tls_cfg.alpn_protocols = {"h2", "http/1.1"};
	auto tls_ctx_res = kio::tls::TlsContext::Create(tls_cfg, true);
	cr_assert(tls_ctx_res.has_value());
	auto &tls_ctx = *tls_ctx_res;

	kio::tls::TlsConfig client_cfg;
	client_cfg.ca_cert_path = pki->ca;
	client_cfg.alpn_protocols = {"h2"};
	auto client_ctx = kio::tls::TlsContext::Create(client_cfg, false);
	cr_assert(client_ctx.has_value());

	auto listener = kio::net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(listener.has_value());
	ALOG_INFO("TLS echo server listening on port {}", listener->Port());
	kio::TaskGroup tasks;
	tasks.Spawn(AcceptOne(ctx, *listener, tls_ctx, out));

	kio::net::Socket sock(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	auto addr = kio::net::SocketAddress::V4(listener->Port(), "127.0.0.1");
	cr_assert(co_await kio::AsyncConnect(ctx, sock, addr));
	auto hs = co_await kio::tls::AsyncTlsHandshake(ctx, std::move(sock), *client_ctx, false,
						       "localhost");
	cr_assert(hs.has_value(), "%s", hs ? "" : hs.error().message().c_str());
	auto n = co_await kio::AsyncSend(ctx, *hs, std::string("ping"));
	cr_assert(n.has_value() && *n == 4);
	std::array<char, 8> back{};
	auto r = co_await kio::AsyncRecv(ctx, *hs, back);
	cr_assert(r.has_value() && *r == 4);
	std::println(out, "echoed: {}", std::string_view(back.data(), *r));
	co_await hs->AsyncShutdown(ctx);
	co_await tasks.JoinAll(ctx);
	co_return 1;
}

} // namespace

Test(print_reference, tls_echo_with_println)
{
	// kio's log thread lives as long as the process: started before the
	// leak guard counts threads.
	kio_log_set_handler(&Capture, nullptr);
	kio::alog::g_level = kio::alog::Level::Info;
	kio::alog::info("start");
	kio::alog::stop();
	g_log.clear();
	KXT_LEAK_GUARD();
	kxt::Pki pki;
	Output out;
	cr_assert(out.f != nullptr);
	{
		auto ctx = kxt::NewCtx();
		cr_assert_eq(ctx->RunUntilDone(Run(*ctx, &pki, out.f)), 1);
	}
	kio::alog::stop();
	kio_log_set_handler(nullptr, nullptr);
	std::string text = out.Take();
	cr_assert(text.find("Negotiated protocol: h2\n") != std::string::npos, "%s", text.c_str());
	cr_assert(text.find("echoed: ping\n") != std::string::npos, "%s", text.c_str());
	cr_assert(text.find("performing TLS shutdown") != std::string::npos, "%s", text.c_str());
	cr_assert(g_log.find("TLS echo server listening on port ") == 0, "%s", g_log.c_str());
}
