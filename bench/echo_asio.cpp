// SPDX-License-Identifier: MIT
//
// kio-bench-echo-asio-{uring,epoll} - the Boost.Asio peer of the echo
// benchmark: C++20 coroutines (co_spawn, awaitable), one coroutine per
// connection doing async_read_some then async_write, on an io_context with
// concurrency hint 1 (single thread: Asio drops its locks). Built twice:
// with BOOST_ASIO_HAS_IO_URING + BOOST_ASIO_DISABLE_EPOLL (Asio's io_uring
// backend) and with Asio's default reactor (epoll).
//
//   kio-bench-echo-asio-uring [--port P]
//
// Prints "port N" once it accepts. SIGINT/SIGTERM (asio::signal_set) stop
// the io_context; it prints "cpu_ns N" (getrusage user+sys) and exits 0.
#include <boost/asio.hpp>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/resource.h>

namespace asio = boost::asio;
using asio::ip::tcp;

static asio::awaitable<void> Echo(tcp::socket sock)
{
	std::array<char, 4096> buf;
	boost::system::error_code ec;
	auto token = asio::redirect_error(asio::use_awaitable, ec);
	for (;;) {
		std::size_t n = co_await sock.async_read_some(asio::buffer(buf), token);
		if (ec)
			break; // end of stream or an error
		co_await asio::async_write(sock, asio::buffer(buf.data(), n), token);
		if (ec)
			break;
	}
}

static asio::awaitable<void> Listen(tcp::acceptor &acceptor)
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
		asio::co_spawn(acceptor.get_executor(), Echo(std::move(sock)), asio::detached);
	}
}

int main(int argc, char **argv)
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
		asio::co_spawn(ctx, Listen(acceptor), asio::detached);
		std::printf("port %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
		std::fflush(stdout);

		ctx.run();

		rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		std::printf("cpu_ns %lld\n",
			    (static_cast<long long>(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) *
					    1000000000ll +
				    (static_cast<long long>(ru.ru_utime.tv_usec) +
				     ru.ru_stime.tv_usec) *
					    1000ll);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "echo-asio: %s\n", e.what());
		return 1;
	}
	return 0;
}
