// SPDX-License-Identifier: MIT
//
// kio-bench-echo-kio-cxx - the echo server of the benchmark on kio's C++20
// coroutine layer, written the way the README shows it: a TcpListener, an
// AsyncAccept loop, and one coroutine per connection (in a TaskGroup) that
// loops AsyncRecv into its own 4 KiB buffer and AsyncSend back.
//
//   kio-bench-echo-kio-cxx [--port P] [--timeout-ms T]
//
// --timeout-ms T puts .WithTimeout(T) on every receive, as the README's
// server does (kept in user space by kio); 0, the default, leaves it out
// so the server does what its peers do.
//
// Prints "port N" once it accepts. SIGINT/SIGTERM (a SignalSet) stop the
// loop; it prints "cpu_ns N" (getrusage user+sys) and exits 0. Exit 77:
// no io_uring on this system.
#include "kio_server.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

using namespace kio;

namespace {

std::chrono::milliseconds recv_timeout{0};

Task<> HandleClient(IoContext &ctx, net::Socket client)
{
	std::array<std::byte, 4096> buf{};

	while (true) {
		auto recv = AsyncRecv(ctx, client, buf);
		if (recv_timeout.count() > 0)
			recv.WithTimeout(recv_timeout);
		auto n = co_await recv;
		if (!n || *n == 0)
			break; // error, timeout or end of stream

		// A short send is legal on a socket: send the rest.
		for (std::size_t off = 0; off < *n;) {
			auto sent = co_await AsyncSend(ctx, client,
						       std::span{buf.data() + off, *n - off});
			if (!sent)
				co_return;
			off += *sent;
		}
	}
}

} // namespace

int main(int argc, char **argv)
{
	long port = 0, timeout_ms = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!std::strcmp(argv[i], "--port"))
			port = std::atol(argv[i + 1]);
		else if (!std::strcmp(argv[i], "--timeout-ms"))
			timeout_ms = std::atol(argv[i + 1]);
	}
	if (argc % 2 == 0 || port < 0 || port > 65535 || timeout_ms < 0) {
		std::fprintf(stderr, "usage: kio-bench-echo-kio-cxx [--port P] [--timeout-ms T]\n");
		return 2;
	}
	recv_timeout = std::chrono::milliseconds(timeout_ms);
	return bench_kio::Serve(port, "echo-kio-cxx", HandleClient);
}
