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
#include "asio_server.hpp"

#include "http_response.h"

#include <array>
#include <string>

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
		if (!http_take_requests(buf.data(), &have, buf.size(), &count))
			break; // a header larger than the buffer
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

int main(int argc, char **argv)
{
	return bench_asio::Serve(argc, argv, "http-asio", HandleClient);
}
