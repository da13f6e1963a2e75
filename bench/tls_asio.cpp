// SPDX-License-Identifier: MIT
//
// kio-bench-tls-asio - the Boost.Asio SSL client of the TLS workload
// (bench_tls.h has the rules; kio-bench-tls-peer is the server):
// asio::ssl::stream over a TCP socket on an io_context with concurrency
// hint 1, C++20 coroutines; bulk: async_write of 16 KiB in a loop;
// handshake: connect, async_handshake, close, in a loop. Verification off,
// TLS 1.3, like the other clients. Impl "asio-ssl".
//
//   kio-bench-tls-asio --port P [--mode bulk|handshake] [--seconds S]
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <cstdio>

#include "bench_tls.h"

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

static unsigned char data[BTLS_WRITE];

struct Result {
	double count = 0, t0 = 0, t = 0;
	bool failed = false;
};

static asio::awaitable<void> Run(ssl::context &sctx, btls_args a, Result &r)
{
	auto exec = co_await asio::this_coro::executor;
	tcp::endpoint ep(asio::ip::address_v4::loopback(), (unsigned short)a.port);
	try {
		if (a.bulk) {
			ssl::stream<tcp::socket> s(exec, sctx);
			co_await s.next_layer().async_connect(ep, asio::use_awaitable);
			s.next_layer().set_option(tcp::no_delay(true));
			co_await s.async_handshake(ssl::stream_base::client, asio::use_awaitable);
			r.t0 = bench_now_s();
			while ((r.t = bench_now_s()) - r.t0 < a.seconds) {
				co_await asio::async_write(s, asio::buffer(data),
							   asio::use_awaitable);
				r.count += sizeof(data);
			}
			co_return;
		}
		r.t0 = bench_now_s();
		while ((r.t = bench_now_s()) - r.t0 < a.seconds) {
			ssl::stream<tcp::socket> s(exec, sctx);
			co_await s.next_layer().async_connect(ep, asio::use_awaitable);
			s.next_layer().set_option(tcp::no_delay(true));
			co_await s.async_handshake(ssl::stream_base::client, asio::use_awaitable);
			r.count++;
		}
	} catch (const std::exception &e) {
		std::fprintf(stderr, "kio-bench-tls-asio: %s\n", e.what());
		r.failed = true;
	}
}

int main(int argc, char **argv)
{
	btls_args a;
	if (!btls_parse(argc, argv, &a, "kio-bench-tls-asio"))
		return 2;
	std::memset(data, 'k', sizeof(data));
	ssl::context sctx(ssl::context::tls_client);
	sctx.set_verify_mode(ssl::verify_none);
	SSL_CTX_set_min_proto_version(sctx.native_handle(), TLS1_3_VERSION);
	asio::io_context io(1);
	Result r;
	double c0 = btls_cpu_ns();
	asio::co_spawn(io, Run(sctx, a, r), asio::detached);
	io.run();
	if (r.failed || r.count == 0)
		return 1;
	btls_report(&a, "asio-ssl", r.count, r.t - r.t0, btls_cpu_ns() - c0,
		    "asio::ssl::stream, async_write / async_handshake");
	return 0;
}
