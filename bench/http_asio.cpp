// SPDX-License-Identifier: MIT
//
// kio-bench-http-asio - the Boost.Asio peer of kio-bench-http-kio: the same
// keep-alive "hello" server with C++20 coroutines (co_spawn, awaitable),
// one coroutine per connection, an io_context with concurrency hint 1.
// Built with Asio's io_uring backend (BOOST_ASIO_HAS_IO_URING +
// BOOST_ASIO_DISABLE_EPOLL) as kio-bench-http-asio-uring and with its
// default reactor (epoll) as kio-bench-http-asio-epoll.
//
//   kio-bench-http-asio-uring [--port P]
//
// Prints "port N" once it accepts; SIGINT/SIGTERM stop it; it prints
// "cpu_ns N" (getrusage user+sys) and exits 0.
#include <boost/asio.hpp>

#include "http_response.h"

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/resource.h>

namespace asio = boost::asio;
using asio::ip::tcp;

static asio::awaitable<void> HandleClient(tcp::socket sock)
{
	std::array<char, 8192> buf;
	std::string batch; // the answers to pipelined requests
	std::size_t have = 0;
	boost::system::error_code ec;
	auto token = asio::redirect_error(asio::use_awaitable, ec);

	for (;;) {
		std::size_t n = co_await sock.async_read_some(
			asio::buffer(buf.data() + have, buf.size() - have), token);
		if (ec)
			break;
		have += n;
		unsigned count;
		std::size_t used = http_complete_requests(buf.data(), have, &count);
		if (used) {
			std::memmove(buf.data(), buf.data() + used, have - used);
			have -= used;
		} else if (have == buf.size()) {
			break; // a header larger than the buffer
		}
		if (count == 1) {
			co_await asio::async_write(
				sock, asio::buffer(http_response, HTTP_RESPONSE_LEN), token);
		} else if (count > 1) {
			batch.clear();
			for (unsigned i = 0; i < count; i++)
				batch.append(http_response, HTTP_RESPONSE_LEN);
			co_await asio::async_write(sock, asio::buffer(batch), token);
		}
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
		asio::co_spawn(acceptor.get_executor(), HandleClient(std::move(sock)),
			       asio::detached);
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
		std::fprintf(stderr, "http-asio: %s\n", e.what());
		return 1;
	}
	return 0;
}
