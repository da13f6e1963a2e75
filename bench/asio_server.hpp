// SPDX-License-Identifier: MIT
//
// asio_server.hpp - what the Boost.Asio benchmark servers share: the
// command line (--port P), a loopback acceptor, an accept loop that spawns
// one coroutine per connection, SIGINT/SIGTERM stopping the io_context
// (concurrency hint 1: one thread, Asio drops its locks), the "port N"
// line once it accepts and the "cpu_ns N" line at the end.
#ifndef KIO_BENCH_ASIO_SERVER_HPP
#define KIO_BENCH_ASIO_SERVER_HPP

#include <boost/asio.hpp>

#include "bench_util.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bench_asio {

namespace asio = boost::asio;
using asio::ip::tcp;

// The coroutine that serves one connection.
using Handler = asio::awaitable<void> (*)(tcp::socket);

inline asio::awaitable<void> Listen(tcp::acceptor &acceptor, Handler handler)
{
	boost::system::error_code ec;
	auto token = asio::redirect_error(asio::use_awaitable, ec);
	for (;;) {
		tcp::socket sock = co_await acceptor.async_accept(token);
		if (ec) {
			if (ec == asio::error::operation_aborted)
				break;
			continue;
		}
		sock.set_option(tcp::no_delay(true), ec);
		asio::co_spawn(acceptor.get_executor(), handler(std::move(sock)), asio::detached);
	}
}

// The whole main(): name prefixes error messages. Returns the exit status.
inline int Serve(int argc, char **argv, const char *name, Handler handler)
{
	long port = 0;
	for (int i = 1; i + 1 < argc; i += 2)
		if (!std::strcmp(argv[i], "--port"))
			port = std::atol(argv[i + 1]);
	if (argc % 2 == 0 || port < 0 || port > 65535) {
		std::fprintf(stderr, "usage: %s [--port P]\n", argv[0]);
		return 2;
	}
	std::signal(SIGPIPE, SIG_IGN); // a peer that went away must not kill the server
	try {
		asio::io_context ctx(1);
		tcp::acceptor acceptor(ctx);
		tcp::endpoint ep(asio::ip::address_v4::loopback(),
				 static_cast<unsigned short>(port));
		acceptor.open(ep.protocol());
		acceptor.set_option(asio::socket_base::reuse_address(true));
		acceptor.bind(ep);
		acceptor.listen(4096);
		asio::signal_set signals(ctx, SIGINT, SIGTERM);
		signals.async_wait([&](const boost::system::error_code &, int) { ctx.stop(); });
		asio::co_spawn(ctx, Listen(acceptor, handler), asio::detached);
		std::printf("port %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
		std::fflush(stdout);

		ctx.run();
		bench_print_cpu_ns();
	} catch (const std::exception &e) {
		std::fprintf(stderr, "%s: %s\n", name, e.what());
		return 1;
	}
	return 0;
}

} // namespace bench_asio

#endif
