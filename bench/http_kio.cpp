// SPDX-License-Identifier: MIT
//
// kio-bench-http-kio - an HTTP/1.1 keep-alive "hello" server on kio's C++
// coroutine layer, for wrk: one coroutine per connection receives, counts
// the complete requests (each ends at its blank line) and sends one fixed
// 200 response per request, pipelined requests included.
//
//   kio-bench-http-kio [--port P]
//
// Prints "port N" once it accepts; SIGINT/SIGTERM stop it; it prints
// "cpu_ns N" (getrusage user+sys) and exits 0. Exit 77: no io_uring.
#include "kio_server.hpp"

#include "http_response.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

using namespace kio;

namespace {

// Sends all of data; false when the connection failed.
Task<bool> SendAll(IoContext &ctx, net::Socket &client, std::span<const char> data)
{
	while (!data.empty()) {
		auto sent = co_await AsyncSend(ctx, client, data);
		if (!sent)
			co_return false;
		data = data.subspan(*sent);
	}
	co_return true;
}

Task<> HandleClient(IoContext &ctx, net::Socket client)
{
	std::array<char, 8192> buf;
	std::string batch; // the answers to pipelined requests
	std::size_t have = 0;

	while (true) {
		auto n = co_await AsyncRecv(ctx, client,
					    std::span{buf.data() + have, buf.size() - have});
		if (!n || *n == 0)
			break;
		have += *n;
		unsigned count;
		if (!http_take_requests(buf.data(), &have, buf.size(), &count))
			break; // a header larger than the buffer
		if (count == 1) {
			if (!co_await SendAll(ctx, client,
					      std::span{http_response, HTTP_RESPONSE_LEN}))
				break;
		} else if (count > 1) {
			batch.clear();
			for (unsigned i = 0; i < count; i++)
				batch.append(http_response, HTTP_RESPONSE_LEN);
			if (!co_await SendAll(ctx, client, std::span{batch.data(), batch.size()}))
				break;
		}
	}
}

} // namespace

int main(int argc, char **argv)
{
	long port = 0;
	for (int i = 1; i + 1 < argc; i += 2)
		if (!std::strcmp(argv[i], "--port"))
			port = std::atol(argv[i + 1]);
	if (argc % 2 == 0 || port < 0 || port > 65535) {
		std::fprintf(stderr, "usage: kio-bench-http-kio [--port P]\n");
		return 2;
	}
	return bench_kio::Serve(port, "http-kio", HandleClient);
}
