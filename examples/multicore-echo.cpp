// SPDX-License-Identifier: MIT
//
// multicore-echo - a TCP echo server with one Worker (thread + IoContext)
// per CPU, each accepting on its own SO_REUSEPORT listener of the same port,
// so the kernel spreads connections over the cores. SIGINT or SIGTERM stops
// it cleanly.
//
//   multicore-echo [PORT [WORKERS]]
//
// PORT defaults to 8080 (0: the kernel picks one); WORKERS defaults to the
// number of CPUs. Worker i is pinned to CPU i (a CPU the process may not
// use is reported in kio's log and left unpinned). Prints
//   multicore-echo: N workers listening on 0.0.0.0:PORT
// once every worker accepts, and after a signal
//   multicore-echo: signal S, stopping
//   multicore-echo: served C connections, B bytes
// then exits 0.
//
// Shutdown: the signals are blocked in main() before any thread starts
// (SignalSet), so only the signalfd sees them. main's own IoContext waits
// for one and requests stop on a std::stop_source shared with the
// workers; each accept loop and each connection watches its token
// (WithStopToken), ends, the workers' RunUntilDone return and their threads
// finish: Join() just waits. (Worker::RequestStop() would stop the loops at
// once instead, leaving the connections to the IoContext's destruction.)
#include <kio/kio.hpp>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <optional>
#include <span>
#include <stop_token>
#include <thread>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

struct Totals {
	std::atomic<uint64_t> connections{0};
	std::atomic<uint64_t> bytes{0};
};

Task<> HandleClient(IoContext &ctx, net::Socket client, std::stop_token stop, Totals *totals)
{
	std::array<std::byte, 16384> buf;
	while (true) {
		auto n = co_await AsyncRecv(ctx, client, buf).WithTimeout(30s).WithStopToken(stop);
		if (!n || *n == 0)
			break; // closed, idle too long, or stopping
		// A send may be short: go on from where it stopped.
		std::span<const std::byte> rest(buf.data(), *n);
		while (!rest.empty()) {
			auto sent = co_await AsyncSend(ctx, client, rest).WithStopToken(stop);
			if (!sent)
				co_return;
			rest = rest.subspan(*sent);
		}
		totals->bytes += *n;
	}
}

Task<> Server(IoContext &ctx, net::TcpListener listener, std::stop_token stop, Totals *totals)
{
	TaskGroup connections;
	while (!stop.stop_requested()) {
		auto accepted = co_await AsyncAccept(ctx, listener).WithStopToken(stop);
		if (!accepted) {
			if (accepted.error() == std::errc::operation_canceled)
				break;
			// Out of fds and the like: let the others finish first.
			co_await AsyncSleep(ctx, 10ms);
			continue;
		}
		totals->connections++;
		connections.Spawn(HandleClient(ctx, net::Socket(accepted->fd), stop, totals));
	}
	co_await connections.JoinAll(ctx);
}

Task<int> WaitForSignal(IoContext &ctx, SignalSet &signals)
{
	auto sig = co_await AsyncWaitSignal(ctx, signals);
	co_return sig ? *sig : -1;
}

int main(int argc, char **argv)
{
	const uint16_t port = argc > 1 ? static_cast<uint16_t>(std::atoi(argv[1])) : 8080;
	unsigned workers_wanted = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) :
					     std::thread::hardware_concurrency();
	if (workers_wanted == 0)
		workers_wanted = 1;

	try {
		// Before any thread exists: every worker inherits the blocked mask.
		SignalSet signals{SIGINT, SIGTERM};
		IoContext main_ctx;

		// The first listener decides the port (port 0 included); the others
		// join it through SO_REUSEPORT.
		net::ListenOptions opts;
		opts.reuse_port = true;
		auto first = net::TcpListener::BindV4(port, opts);
		if (!first) {
			std::fprintf(stderr, "multicore-echo: bind: %s\n",
				     first.error().message().c_str());
			return 1;
		}
		const uint16_t bound = first->Port();
		std::vector<net::TcpListener> listeners;
		listeners.push_back(std::move(*first));
		for (unsigned i = 1; i < workers_wanted; i++) {
			auto l = net::TcpListener::BindV4(bound, opts);
			if (!l) {
				std::fprintf(stderr, "multicore-echo: bind: %s\n",
					     l.error().message().c_str());
				return 1;
			}
			listeners.push_back(std::move(*l));
		}

		Totals totals;
		std::stop_source stop;
		std::latch ready(workers_wanted);
		std::vector<Worker> workers;
		for (unsigned i = 0; i < workers_wanted; i++) {
			workers.emplace_back(i);
			Worker &w = workers.back();
			w.Start(
				[&ready, &totals, st = stop.get_token(),
				 l = std::move(listeners[i])](IoContext &ctx) mutable {
					ready.count_down();
					ctx.RunUntilDone(Server(ctx, std::move(l), st, &totals));
				},
				static_cast<int>(i));
		}
		// Every worker made its IoContext and runs, or one could not.
		while (!ready.try_wait()) {
			for (auto &w : workers) {
				if (w.StartError()) {
					std::fprintf(stderr, "multicore-echo: worker %zu: %s\n",
						     w.Id(), w.StartError().message().c_str());
					stop.request_stop();
					return 1;
				}
			}
			std::this_thread::sleep_for(1ms);
		}
		std::printf("multicore-echo: %u workers listening on 0.0.0.0:%u\n", workers_wanted,
			    static_cast<unsigned>(bound));
		std::fflush(stdout);

		const int sig = main_ctx.RunUntilDone(WaitForSignal(main_ctx, signals));
		std::printf("multicore-echo: signal %d, stopping\n", sig);
		std::fflush(stdout);
		// Every accept and receive watches the token: the servers return,
		// then the workers' threads end.
		stop.request_stop();
		for (auto &w : workers)
			w.Join();
		std::printf("multicore-echo: served %llu connections, %llu bytes\n",
			    static_cast<unsigned long long>(totals.connections.load()),
			    static_cast<unsigned long long>(totals.bytes.load()));
	} catch (const std::system_error &e) {
		std::fprintf(stderr, "multicore-echo: %s\n", e.what());
		return e.code() == std::errc::function_not_supported ||
				       e.code() == std::errc::operation_not_permitted ?
			       77 :
			       1;
	}
	return 0;
}
