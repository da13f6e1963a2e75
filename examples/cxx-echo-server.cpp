// SPDX-License-Identifier: MIT
//
// cxx-echo-server - the TCP echo server of kio's C++ layer, in the shape a
// program written for the reference coroutine API has: one coroutine per
// connection in a TaskGroup, a 30 s receive timeout, one IoContext.
//
//   cxx-echo-server [PORT]
//
// PORT defaults to 8080; 0 lets the kernel pick one. Prints
// "cxx-echo-server: listening on 0.0.0.0:PORT" once it accepts, then
// serves until it is killed (there is no shutdown path: see
// multicore-echo.cpp for one driven by SIGINT/SIGTERM). Exits 1 when it
// cannot bind, 77 when the system has no io_uring.
#include <kio/kio.hpp>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <span>
#include <stdexcept>
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

		// Echo back.
		co_await AsyncSend(ctx, client, std::span{buf.data(), *result});
	}
}

Task<> Server(IoContext &ctx, uint16_t port)
{
	auto listener = net::TcpListener::BindV4(port);
	if (!listener)
		throw std::runtime_error("Failed to bind");

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

int main(int argc, char **argv)
{
	const uint16_t port = argc > 1 ? static_cast<uint16_t>(std::atoi(argv[1])) : 8080;
	try {
		IoContext ctx;
		ctx.RunUntilDone(Server(ctx, port));
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
