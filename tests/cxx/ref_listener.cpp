// SPDX-License-Identifier: MIT
//
// net::TcpListener::Bind(port) as the reference has it: a Result<Socket>
// listening on every interface, non-blocking, SO_REUSEADDR, SO_REUSEPORT,
// and AsyncAccept(ctx, server.Get()) on it. BindV4 keeps kio's defaults.
#include "kio_cxx_test.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <span>

using namespace kio;
using namespace std::chrono_literals;

namespace {

int IntOpt(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof v;
	cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

uint16_t PortOf(int fd)
{
	sockaddr_in sin{};
	socklen_t len = sizeof sin;
	cr_assert_eq(getsockname(fd, reinterpret_cast<sockaddr *>(&sin), &len), 0);
	return ntohs(sin.sin_port);
}

Task<> Client(IoContext &ctx, uint16_t port)
{
	net::Socket sock(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	auto addr = net::SocketAddress::V4(port, "127.0.0.1");
	auto c = co_await AsyncConnect(ctx, sock, addr);
	cr_assert(c.has_value(), "connect: %s", c ? "" : c.error().message().c_str());
	auto n = co_await AsyncSend(ctx, sock, std::span<const char>("ping", 4));
	cr_assert(n.has_value());
	std::array<char, 4> buf{};
	auto r = co_await AsyncRecv(ctx, sock.Get(), std::span(buf));
	cr_assert(r.has_value());
	cr_assert_eq(*r, 4u);
	cr_assert_eq(std::memcmp(buf.data(), "pong", 4), 0);
}

Task<> ServeOne(IoContext &ctx, net::Socket &server)
{
	auto client = co_await AsyncAccept(ctx, server.Get());
	cr_assert(client.has_value(), "accept: %s",
		  client ? "" : client.error().message().c_str());
	net::Socket conn(client->fd);
	std::array<char, 4> buf{};
	auto r = co_await AsyncRecv(ctx, conn, std::span(buf));
	cr_assert(r.has_value());
	cr_assert_eq(*r, 4u);
	co_await AsyncSend(ctx, conn, std::span<const char>("pong", 4));
}

Task<> PingPong(IoContext &ctx, net::Socket &server, uint16_t port)
{
	TaskGroup tasks;
	tasks.Spawn(ServeOne(ctx, server));
	tasks.Spawn(Client(ctx, port));
	co_await tasks.JoinAll(ctx);
}

} // namespace

Test(ref_listener, bind_port_has_the_reference_defaults)
{
	KXT_LEAK_GUARD();
	auto listener = net::TcpListener::Bind(0);
	cr_assert(listener.has_value(), "%s", listener ? "" : listener.error().message().c_str());
	net::Socket server = std::move(*listener);
	int fd = server.Get();
	cr_assert_eq(fd, server.Fd());
	cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(IntOpt(fd, SOL_SOCKET, SO_REUSEADDR), 1);
	cr_assert_eq(IntOpt(fd, SOL_SOCKET, SO_REUSEPORT), 1);
	cr_assert_eq(IntOpt(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	cr_assert_eq(IntOpt(fd, IPPROTO_TCP, TCP_NODELAY), 1);
	sockaddr_in sin{};
	socklen_t len = sizeof sin;
	cr_assert_eq(getsockname(fd, reinterpret_cast<sockaddr *>(&sin), &len), 0);
	cr_assert_eq(sin.sin_family, AF_INET);
	cr_assert_eq(sin.sin_addr.s_addr, htonl(INADDR_ANY)); // every interface
	cr_assert_neq(sin.sin_port, 0);
}

Test(ref_listener, accept_on_the_non_blocking_listener)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	auto listener = net::TcpListener::Bind(0);
	cr_assert(listener.has_value());
	net::Socket server = std::move(*listener);
	ctx->RunUntilDone(PingPong(*ctx, server, PortOf(server.Get())));
	cr_assert_eq(ctx->Pending(), 0u);
}

Test(ref_listener, two_listeners_share_a_port)
{
	KXT_LEAK_GUARD();
	auto a = net::TcpListener::Bind(0);
	cr_assert(a.has_value());
	uint16_t port = PortOf(a->Get());
	auto b = net::TcpListener::Bind(port); // SO_REUSEPORT: one per thread
	cr_assert(b.has_value(), "%s", b ? "" : b.error().message().c_str());
}

Test(ref_listener, port_taken_without_reuseport_fails_cleanly)
{
	KXT_LEAK_GUARD();
	auto owner = net::TcpListener::BindV4(0); // kio's defaults: no SO_REUSEPORT
	cr_assert(owner.has_value());
	cr_assert_eq(IntOpt(owner->Fd(), SOL_SOCKET, SO_REUSEPORT), 0);
	cr_assert_eq(fcntl(owner->Fd(), F_GETFL) & O_NONBLOCK, 0);
	auto taken = net::TcpListener::Bind(owner->Port());
	cr_assert(!taken.has_value());
	cr_assert(taken.error() == std::errc::address_in_use);
}

Test(ref_listener, bind_address_with_backlog_and_listener_to_socket)
{
	KXT_LEAK_GUARD();
	auto s = net::TcpListener::Bind(net::SocketAddress::V4(0, "127.0.0.1"), 16);
	cr_assert(s.has_value());
	cr_assert(fcntl(s->Get(), F_GETFL) & O_NONBLOCK);
	auto bad = net::TcpListener::Bind(net::SocketAddress(), 16);
	cr_assert(!bad.has_value());
	cr_assert(bad.error() == std::errc::invalid_argument);
	// kio's TcpListener gives its Socket up, as the reference's Bind did.
	auto l = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(l.has_value());
	int fd = l->Fd();
	net::Socket sock = std::move(*l);
	cr_assert_eq(sock.Get(), fd);
	cr_assert_eq(l->Fd(), -1);
	cr_assert_eq(l->Get(), -1);
}
