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
#include <kio/kio.hpp>

#include "http_response.h"

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <sys/resource.h>
#include <system_error>

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
		std::size_t used = http_complete_requests(buf.data(), have, &count);
		if (used) {
			std::memmove(buf.data(), buf.data() + used, have - used);
			have -= used;
		} else if (have == buf.size()) {
			break; // a header larger than the buffer: not for this server
		}
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

Task<> Server(IoContext &ctx, net::TcpListener &listener, TaskGroup &tasks)
{
	while (true) {
		auto accepted = co_await AsyncAccept(ctx, listener);
		if (!accepted) {
			if (accepted.error() == std::errc::operation_canceled)
				co_return;
			continue;
		}
		net::Socket sock(accepted->fd);
		(void)sock.SetNodelay();
		tasks.Spawn(HandleClient(ctx, std::move(sock)));
	}
}

Task<> StopOnSignal(IoContext &ctx, SignalSet &signals)
{
	co_await AsyncWaitSignal(ctx, signals);
	ctx.Stop();
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
	try {
		SignalSet signals{SIGINT, SIGTERM};
		auto listener = net::TcpListener::BindV4(static_cast<uint16_t>(port), "127.0.0.1");
		if (!listener) {
			std::fprintf(stderr, "http-kio: bind: %s\n",
				     listener.error().message().c_str());
			return 1;
		}
		IoContext ctx;
		TaskGroup tasks;
		tasks.Spawn(Server(ctx, *listener, tasks));
		tasks.Spawn(StopOnSignal(ctx, signals));
		std::printf("port %u\n", static_cast<unsigned>(listener->Port()));
		std::fflush(stdout);
		ctx.Run();
		rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		std::printf("cpu_ns %lld\n",
			    (static_cast<long long>(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) *
					    1000000000ll +
				    (static_cast<long long>(ru.ru_utime.tv_usec) +
				     ru.ru_stime.tv_usec) *
					    1000ll);
	} catch (const std::system_error &e) {
		std::fprintf(stderr, "http-kio: %s\n", e.what());
		return e.code() == std::errc::function_not_supported ||
				       e.code() == std::errc::operation_not_permitted ?
			       77 :
			       1;
	}
	return 0;
}
