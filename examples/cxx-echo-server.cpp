// SPDX-License-Identifier: MIT
//
// cxx-echo-server - the TCP echo server of kio's C++ layer, in the shape a
// program written for the reference coroutine API has: one coroutine per
// connection in a TaskGroup, a 30 s receive timeout, one IoContext.
//
//   cxx-echo-server [--bind ADDR] [--port N] [PORT]
//   cxx-echo-server --help
//
// ADDR is an IPv4 or IPv6 address (127.0.0.1, ::1, [::1]; 0.0.0.0 or ::
// for every interface) and defaults to 127.0.0.1: loopback only. The port
// (--port N, or PORT as in the reference program) defaults to 8080; 0 lets
// the kernel pick one. Prints
// "cxx-echo-server: listening on ADDR:PORT" ("[ADDR]:PORT" for IPv6) once
// it accepts, then serves until it is killed (there is no shutdown path:
// see multicore-echo.cpp for one driven by SIGINT/SIGTERM). --help prints
// the usage and exits 0; a bad option or argument exits 2; it exits 1 when
// it cannot bind, 77 when the system has no io_uring.
#include <kio/kio.hpp>

#include <getopt.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>

using namespace kio;
using namespace std::chrono_literals;

Task<> HandleClient(IoContext &ctx, net::Socket client)
{
	std::array<std::byte, 4096> buf{};

	while (true) {
		// Read with a 30 second timeout.
		auto result = co_await AsyncRecv(ctx, client, buf).WithTimeout(30s);

		if (!result || *result == 0)
			break; // error or client disconnected

		// Echo back, all of it: a send may take fewer bytes than asked
		// (KIO_FAULTS=kinds=short makes that happen), and what it did not
		// take must still go, in order.
		std::span<const std::byte> rest{buf.data(), *result};
		while (!rest.empty()) {
			auto sent = co_await AsyncSend(ctx, client, rest);
			if (!sent || *sent == 0)
				co_return;
			rest = rest.subspan(*sent);
		}
	}
}

Task<> Server(IoContext &ctx, net::SocketAddress addr)
{
	auto listener = net::TcpListener::Bind(addr);
	if (!listener)
		throw std::runtime_error("Failed to bind " + addr.ToString() + ": " +
					 listener.error().message());

	// Port 0: say which port the kernel gave us.
	std::cout << "cxx-echo-server: listening on " << listener->LocalAddress().ToString()
		  << std::endl;

	TaskGroup tasks;

	while (true) {
		auto accepted = co_await AsyncAccept(ctx, *listener);
		if (!accepted)
			continue;

		tasks.Spawn(HandleClient(ctx, net::Socket(accepted->fd)));
	}
}

namespace {

// --help: on stdout, exit 0; a usage error: on stderr, exit 2.
int Usage(std::FILE *to, int status)
{
	std::fprintf(to,
		     "usage: cxx-echo-server [--bind ADDR] [--port N] [PORT]\n"
		     "       cxx-echo-server --help\n"
		     "  --bind ADDR  IPv4 or IPv6 address to listen on; 0.0.0.0 or :: for every\n"
		     "               interface (127.0.0.1: loopback only)\n"
		     "  --port N     port, also given as PORT; 0 lets the kernel choose (8080)\n"
		     "  --help       this text\n"
		     "Serves until killed.\n");
	return status;
}

// A port number 0..65535, or -1.
long ParsePort(const char *text)
{
	char *end;
	errno = 0;
	long v = std::strtol(text, &end, 10);
	return errno || end == text || *end || v < 0 || v > 65535 ? -1 : v;
}

} // namespace

int main(int argc, char **argv)
{
	static const option longopts[] = {
		{"bind", required_argument, nullptr, 'b'},
		{"port", required_argument, nullptr, 'p'},
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	const char *bind_addr = "127.0.0.1";
	long port = 8080;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, nullptr)) != -1) {
		switch (opt) {
		case 'b':
			bind_addr = optarg;
			break;
		case 'p':
			port = ParsePort(optarg);
			break;
		case 'h':
			return Usage(stdout, 0);
		default:
			return Usage(stderr, 2);
		}
	}
	if (optind + 1 == argc)
		port = ParsePort(argv[optind++]);
	if (optind < argc || port < 0)
		return Usage(stderr, 2);
	auto addr = net::SocketAddress::Parse(bind_addr, static_cast<uint16_t>(port));
	if (!addr) {
		std::fprintf(stderr, "cxx-echo-server: --bind %s: not an IPv4 or IPv6 address\n",
			     bind_addr);
		return Usage(stderr, 2);
	}

	try {
		IoContext ctx;
		ctx.RunUntilDone(Server(ctx, *addr));
	} catch (const std::system_error &e) {
		std::cerr << "cxx-echo-server: " << e.what() << std::endl;
		// 77: this kernel or sandbox gives no io_uring (the tests skip).
		return e.code() == std::errc::function_not_supported ||
				       e.code() == std::errc::operation_not_permitted ?
			       77 :
			       1;
	} catch (const std::exception &e) {
		std::cerr << "cxx-echo-server: " << e.what() << std::endl;
		return 1;
	}
	return 0;
}
