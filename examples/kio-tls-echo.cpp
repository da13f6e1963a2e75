// SPDX-License-Identifier: MIT
//
// kio-tls-echo - a TLS echo server on the C++ layer: one coroutine per
// connection (TaskGroup), tls::Stream for the session, SIGINT or SIGTERM
// for a clean stop.
//
//   kio-tls-echo [--bind ADDR] --port P --cert CERT --key KEY
//   kio-tls-echo --help
//
// CERT is the PEM certificate chain (leaf first), KEY its private key;
// P 0 lets the kernel pick the port. ADDR is an IPv4 or IPv6 address
// (127.0.0.1, ::1, [::1]; 0.0.0.0 or :: for every interface) and defaults
// to 127.0.0.1: loopback only. One line per event on standard output:
//   kio-tls-echo: listening on ADDR:PORT     ("[ADDR]:PORT" for IPv6)
//   kio-tls-echo: #N from ADDR: handshake done, TLS 1.3, user-space TLS
//   kio-tls-echo: #N from ADDR: handshake failed: REASON
//   kio-tls-echo: #N: echoed B bytes
//   kio-tls-echo: #N: closed by close_notify, B bytes in all
//   kio-tls-echo: #N: ended: REASON, B bytes in all
//   kio-tls-echo: signal S, stopping
//   kio-tls-echo: served C connections, B bytes
// then exits 0. --help prints the usage and exits 0; a bad option or
// argument exits 2; a bad certificate or key, or an address it cannot bind,
// exits 1 with the reason; no io_uring exits 77.
//
// Stopping: a kio::StopSource is requested when a signal arrives; the
// accept loop and every handshake and read watch its token
// (WithStopToken), so each connection ends at once and the TaskGroup
// joins them all before main returns.
#include <kio/kio.hpp>

#include <getopt.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

using namespace kio;
using namespace std::chrono_literals;

namespace {

struct Totals {
	uint64_t connections = 0;
	uint64_t bytes = 0;
};

// How a handshake went: version and which path kernel TLS took.
std::string Describe(const tls::Stream &s)
{
	std::string d = s.Version() == KIO_TLS_VERSION_1_3 ? "TLS 1.3" : "TLS 1.2";
	switch (s.Ktls()) {
	case 0:
		return d + ", user-space TLS";
	case KIO_TLS_KTLS_TX:
		return d + ", kernel TLS (tx)";
	case KIO_TLS_KTLS_RX:
		return d + ", kernel TLS (rx)";
	default:
		return d + ", kernel TLS (tx, rx)";
	}
}

// The error's text, and OpenSSL's reason when there is one.
std::string Reason(const std::error_code &ec, const tls::Stream &s)
{
	std::string r = ec.message();
	if (*s.LastError())
		r += std::string(" (") + s.LastError() + ")";
	return r;
}

Task<> Echo(tls::Stream stream, uint64_t id, std::string peer,
	    kio::StopToken stop, Totals *totals)
{
	// A client that never finishes its handshake does not hold the slot.
	auto hs = co_await stream.AsyncHandshake().WithTimeout(10s).WithStopToken(stop);
	if (!hs) {
		std::printf("kio-tls-echo: #%llu from %s: handshake failed: %s\n",
			    static_cast<unsigned long long>(id), peer.c_str(),
			    Reason(hs.error(), stream).c_str());
		std::fflush(stdout);
		co_return;
	}
	std::printf("kio-tls-echo: #%llu from %s: handshake done, %s\n",
		    static_cast<unsigned long long>(id), peer.c_str(), Describe(stream).c_str());
	std::fflush(stdout);

	std::array<std::byte, 16384> buf;
	uint64_t total = 0;
	while (true) {
		auto n = co_await stream.AsyncRead(buf).WithTimeout(60s).WithStopToken(stop);
		if (n && *n == 0) {
			// The peer's close_notify: answer with ours.
			co_await stream.AsyncShutdown().WithTimeout(5s);
			std::printf("kio-tls-echo: #%llu: closed by close_notify, %llu bytes in all\n",
				    static_cast<unsigned long long>(id),
				    static_cast<unsigned long long>(total));
			break;
		}
		if (!n) {
			// tls::Errc::truncated: the peer went without close_notify.
			std::printf("kio-tls-echo: #%llu: ended: %s, %llu bytes in all\n",
				    static_cast<unsigned long long>(id),
				    Reason(n.error(), stream).c_str(),
				    static_cast<unsigned long long>(total));
			break;
		}
		// A TLS write sends everything or fails: no loop over short writes.
		auto w = co_await stream.AsyncWrite(std::span(buf).first(*n)).WithTimeout(30s);
		if (!w) {
			std::printf("kio-tls-echo: #%llu: ended: write: %s, %llu bytes in all\n",
				    static_cast<unsigned long long>(id),
				    Reason(w.error(), stream).c_str(),
				    static_cast<unsigned long long>(total));
			break;
		}
		total += *n;
		totals->bytes += *n;
		std::printf("kio-tls-echo: #%llu: echoed %zu bytes\n",
			    static_cast<unsigned long long>(id), *n);
		std::fflush(stdout);
	}
	std::fflush(stdout);
}

Task<> Serve(IoContext &ctx, net::TcpListener listener, tls::Context *config,
	     kio::StopToken stop, Totals *totals)
{
	TaskGroup connections;
	while (!stop.stop_requested()) {
		auto accepted = co_await AsyncAccept(ctx, listener).WithStopToken(stop);
		if (!accepted) {
			if (accepted.error() == std::errc::operation_canceled)
				break;
			co_await AsyncSleep(ctx, 100ms); // out of fds: let some go first
			continue;
		}
		net::Socket sock(accepted->fd);
		std::string peer =
			net::SocketAddress(reinterpret_cast<const sockaddr *>(&accepted->addr),
					   accepted->addrlen)
				.ToString();
		const uint64_t id = ++totals->connections;
		auto stream = tls::Stream::Create(ctx, *config, std::move(sock), tls::Role::Server);
		if (!stream) {
			std::printf("kio-tls-echo: #%llu from %s: %s\n",
				    static_cast<unsigned long long>(id), peer.c_str(),
				    stream.error().message().c_str());
			continue;
		}
		connections.Spawn(Echo(std::move(*stream), id, std::move(peer), stop, totals));
	}
	co_await connections.JoinAll(ctx);
}

Task<> Main(IoContext &ctx, SignalSet &signals, net::TcpListener listener, tls::Context *config,
	    Totals *totals)
{
	kio::StopSource stop;
	TaskGroup server;
	server.Spawn(Serve(ctx, std::move(listener), config, stop.get_token(), totals));
	auto sig = co_await AsyncWaitSignal(ctx, signals);
	std::printf("kio-tls-echo: signal %d, stopping\n", sig ? *sig : -1);
	std::fflush(stdout);
	stop.request_stop();
	co_await server.JoinAll(ctx);
}

// --help: on stdout, exit 0; a usage error: on stderr, exit 2.
int Usage(std::FILE *to, int status)
{
	std::fprintf(to,
		     "usage: kio-tls-echo [--bind ADDR] --port P --cert CERT --key KEY\n"
		     "       kio-tls-echo --help\n"
		     "  --bind ADDR  IPv4 or IPv6 address to listen on; 0.0.0.0 or :: for every\n"
		     "               interface (127.0.0.1: loopback only)\n"
		     "  --port P     port; 0 lets the kernel choose\n"
		     "  --cert CERT  PEM certificate chain, leaf first\n"
		     "  --key KEY    its private key (PEM)\n"
		     "  --help       this text\n"
		     "Stops cleanly on SIGINT or SIGTERM.\n");
	return status;
}

} // namespace

int main(int argc, char **argv)
{
	static const option longopts[] = {
		{"bind", required_argument, nullptr, 'b'},
		{"port", required_argument, nullptr, 'p'},
		{"cert", required_argument, nullptr, 'c'},
		{"key", required_argument, nullptr, 'k'},
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	const char *bind_addr = "127.0.0.1";
	long port = -1;
	const char *cert = nullptr;
	const char *key = nullptr;
	char *end;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, nullptr)) != -1) {
		switch (opt) {
		case 'b':
			bind_addr = optarg;
			break;
		case 'p':
			errno = 0;
			port = std::strtol(optarg, &end, 10);
			if (errno || end == optarg || *end)
				port = -1;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'h':
			return Usage(stdout, 0);
		default:
			return Usage(stderr, 2);
		}
	}
	if (optind < argc || port < 0 || port > 65535 || !cert || !key)
		return Usage(stderr, 2);
	auto addr = net::SocketAddress::Parse(bind_addr, static_cast<uint16_t>(port));
	if (!addr) {
		std::fprintf(stderr, "kio-tls-echo: --bind %s: not an IPv4 or IPv6 address\n",
			     bind_addr);
		return Usage(stderr, 2);
	}

	try {
		// Before anything else: the signals go to the signalfd only.
		SignalSet signals{SIGINT, SIGTERM};
		IoContext ctx;

		auto config = tls::Context::Create();
		if (!config) {
			std::fprintf(stderr, "kio-tls-echo: TLS: %s\n",
				     config.error().message().c_str());
			return 1;
		}
		if (auto r = config->SetCertFile(cert, key); !r) {
			std::fprintf(stderr, "kio-tls-echo: %s, %s: %s (%s)\n", cert, key,
				     r.error().message().c_str(), config->LastError());
			return 1;
		}
		auto listener = net::TcpListener::Bind(*addr);
		if (!listener) {
			std::fprintf(stderr, "kio-tls-echo: bind %s: %s\n", addr->ToString().c_str(),
				     listener.error().message().c_str());
			return 1;
		}
		std::printf("kio-tls-echo: listening on %s\n",
			    listener->LocalAddress().ToString().c_str());
		std::fflush(stdout);

		Totals totals;
		ctx.RunUntilDone(Main(ctx, signals, std::move(*listener), &*config, &totals));
		std::printf("kio-tls-echo: served %llu connections, %llu bytes\n",
			    static_cast<unsigned long long>(totals.connections),
			    static_cast<unsigned long long>(totals.bytes));
	} catch (const std::system_error &e) {
		std::fprintf(stderr, "kio-tls-echo: %s\n", e.what());
		return e.code() == std::errc::function_not_supported ||
				       e.code() == std::errc::operation_not_permitted ?
			       77 :
			       1;
	}
	return 0;
}
