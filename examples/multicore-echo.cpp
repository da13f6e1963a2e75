// SPDX-License-Identifier: MIT
//
// multicore-echo - a TCP echo server with one Worker (thread + IoContext)
// per CPU, each accepting on its own SO_REUSEPORT listener of the same port,
// so the kernel spreads connections over the cores. SIGINT or SIGTERM stops
// it cleanly.
//
//   multicore-echo [--bind ADDR] [--port N] [--workers N] [PORT [WORKERS]]
//   multicore-echo --help
//
// ADDR is an IPv4 or IPv6 address (127.0.0.1, ::1, [::1]; 0.0.0.0 or ::
// for every interface) and defaults to 127.0.0.1: loopback only. The port
// (--port, or PORT) defaults to 8080 (0: the kernel picks one); the
// workers (--workers, or WORKERS) default to the number of CPUs. Worker i
// is pinned to CPU i (a CPU the process may not use is reported in kio's
// log and left unpinned). Prints
//   multicore-echo: N workers listening on ADDR:PORT
// ("[ADDR]:PORT" for IPv6) once every worker accepts, and after a signal
//   multicore-echo: signal S, stopping
//   multicore-echo: served C connections, B bytes
// then exits 0. --help prints the usage and exits 0; a bad option or
// argument exits 2; it exits 1 when it cannot bind, 77 when the system
// has no io_uring.
//
// Shutdown: the signals are blocked in main() before any thread starts
// (SignalSet), so only the signalfd sees them. main's own IoContext waits
// for one and requests stop on a kio::StopSource shared with the
// workers; each accept loop and each connection watches its token
// (WithStopToken), ends, the workers' RunUntilDone return and their threads
// finish: Join() just waits. (Worker::RequestStop() would stop the loops at
// once instead, leaving the connections to the IoContext's destruction.)
#include <kio/kio.hpp>

#include <getopt.h>

#include <array>
#include <cerrno>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <optional>
#include <span>
#include <thread>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

struct Totals {
	std::atomic<uint64_t> connections{0};
	std::atomic<uint64_t> bytes{0};
};

Task<> HandleClient(IoContext &ctx, net::Socket client, kio::StopToken stop, Totals *totals)
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

Task<> Server(IoContext &ctx, net::TcpListener listener, kio::StopToken stop, Totals *totals)
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

namespace {

// --help: on stdout, exit 0; a usage error: on stderr, exit 2.
int Usage(std::FILE *to, int status)
{
	std::fprintf(to,
		     "usage: multicore-echo [--bind ADDR] [--port N] [--workers N] [PORT [WORKERS]]\n"
		     "       multicore-echo --help\n"
		     "  --bind ADDR  IPv4 or IPv6 address to listen on; 0.0.0.0 or :: for every\n"
		     "               interface (127.0.0.1: loopback only)\n"
		     "  --port N     port, also given as PORT; 0 lets the kernel choose (8080)\n"
		     "  --workers N  threads, one IoContext each, also given as WORKERS\n"
		     "               (the number of CPUs)\n"
		     "  --help       this text\n"
		     "Stops cleanly on SIGINT or SIGTERM.\n");
	return status;
}

// A whole number in [min, max], or -1.
long ParseNum(const char *text, long min, long max)
{
	char *end;
	errno = 0;
	long v = std::strtol(text, &end, 10);
	return errno || end == text || *end || v < min || v > max ? -1 : v;
}

} // namespace

int main(int argc, char **argv)
{
	static const option longopts[] = {
		{"bind", required_argument, nullptr, 'b'},
		{"port", required_argument, nullptr, 'p'},
		{"workers", required_argument, nullptr, 'w'},
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	const char *bind_addr = "127.0.0.1";
	long port = 8080;
	long workers_arg = std::thread::hardware_concurrency();
	if (workers_arg <= 0)
		workers_arg = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, nullptr)) != -1) {
		switch (opt) {
		case 'b':
			bind_addr = optarg;
			break;
		case 'p':
			port = ParseNum(optarg, 0, 65535);
			break;
		case 'w':
			workers_arg = ParseNum(optarg, 1, 1024);
			break;
		case 'h':
			return Usage(stdout, 0);
		default:
			return Usage(stderr, 2);
		}
	}
	// The reference program's positional form: PORT [WORKERS].
	if (optind < argc)
		port = ParseNum(argv[optind++], 0, 65535);
	if (optind < argc)
		workers_arg = ParseNum(argv[optind++], 1, 1024);
	if (optind < argc || port < 0 || workers_arg < 0)
		return Usage(stderr, 2);
	auto addr = net::SocketAddress::Parse(bind_addr, static_cast<uint16_t>(port));
	if (!addr) {
		std::fprintf(stderr, "multicore-echo: --bind %s: not an IPv4 or IPv6 address\n",
			     bind_addr);
		return Usage(stderr, 2);
	}
	const unsigned workers_wanted = static_cast<unsigned>(workers_arg);

	try {
		// Before any thread exists: every worker inherits the blocked mask.
		SignalSet signals{SIGINT, SIGTERM};
		IoContext main_ctx;

		// The first listener decides the port (port 0 included); the others
		// join it through SO_REUSEPORT.
		net::ListenOptions opts;
		opts.reuse_port = true;
		auto first = net::TcpListener::Bind(*addr, opts);
		if (!first) {
			std::fprintf(stderr, "multicore-echo: bind: %s\n",
				     first.error().message().c_str());
			return 1;
		}
		const net::SocketAddress bound = first->LocalAddress();
		std::vector<net::TcpListener> listeners;
		listeners.push_back(std::move(*first));
		for (unsigned i = 1; i < workers_wanted; i++) {
			auto l = net::TcpListener::Bind(bound, opts);
			if (!l) {
				std::fprintf(stderr, "multicore-echo: bind: %s\n",
					     l.error().message().c_str());
				return 1;
			}
			listeners.push_back(std::move(*l));
		}

		Totals totals;
		kio::StopSource stop;
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
		std::printf("multicore-echo: %u workers listening on %s\n", workers_wanted,
			    bound.ToString().c_str());
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
