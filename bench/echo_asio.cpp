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
#include "asio_server.hpp"

#include <array>

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

int main(int argc, char **argv)
{
	return bench_asio::Serve(argc, argv, "echo-asio", Echo);
}
