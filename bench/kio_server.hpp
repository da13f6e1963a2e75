// SPDX-License-Identifier: MIT
//
// kio_server.hpp - what the benchmark servers on kio's C++ layer share: a
// TcpListener on 127.0.0.1, an AsyncAccept loop that spawns one coroutine
// per connection into a TaskGroup, a SignalSet (SIGINT/SIGTERM) that stops
// the loop, the "backend io_uring|epoll" and "port N" lines once it accepts
// (KIO_BACKEND=epoll in the environment picks the epoll backend) and the
// "cpu_ns N" line at the end.
#ifndef KIO_BENCH_KIO_SERVER_HPP
#define KIO_BENCH_KIO_SERVER_HPP

#include <kio/kio.hpp>

#include "bench_util.h"

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <system_error>

namespace bench_kio {

// The coroutine that serves one connection.
using Handler = kio::Task<> (*)(kio::IoContext &, kio::net::Socket);

inline kio::Task<> AcceptLoop(kio::IoContext &ctx, kio::net::TcpListener &listener,
			      kio::TaskGroup<> &tasks, Handler handler)
{
	while (true) {
		auto accepted = co_await kio::AsyncAccept(ctx, listener);
		if (!accepted) {
			if (accepted.error() == std::errc::operation_canceled)
				co_return;
			continue;
		}
		kio::net::Socket sock(accepted->fd);
		(void)sock.SetNodelay();
		tasks.Spawn(handler(ctx, std::move(sock)));
	}
}

inline kio::Task<> StopOnSignal(kio::IoContext &ctx, kio::SignalSet &signals)
{
	co_await kio::AsyncWaitSignal(ctx, signals);
	ctx.Stop();
}

// Serves 127.0.0.1:port until SIGINT/SIGTERM; name prefixes error messages.
// Returns the exit status: 0, 1 on an error, 77 when io_uring is missing.
inline int Serve(long port, const char *name, Handler handler)
{
	try {
		// Before the context: threads started later inherit the blocked mask.
		kio::SignalSet signals{SIGINT, SIGTERM};
		auto listener =
			kio::net::TcpListener::BindV4(static_cast<uint16_t>(port), "127.0.0.1");
		if (!listener) {
			std::fprintf(stderr, "%s: bind: %s\n", name,
				     listener.error().message().c_str());
			return 1;
		}
		kio::IoContext ctx;
		kio::TaskGroup tasks;
		tasks.Spawn(AcceptLoop(ctx, *listener, tasks, handler));
		tasks.Spawn(StopOnSignal(ctx, signals));
		std::printf("backend %s\nport %u\n",
			    kio_ctx_backend(ctx.Native()) == KIO_BACKEND_EPOLL ? "epoll" :
										 "io_uring",
			    static_cast<unsigned>(listener->Port()));
		std::fflush(stdout);
		ctx.Run();
		bench_print_cpu_ns();
	} catch (const std::system_error &e) {
		std::fprintf(stderr, "%s: %s\n", name, e.what());
		return e.code() == std::errc::function_not_supported ||
				       e.code() == std::errc::operation_not_permitted ?
			       77 :
			       1;
	}
	return 0;
}

} // namespace bench_kio

#endif
