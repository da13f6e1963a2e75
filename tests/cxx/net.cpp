// SPDX-License-Identifier: MIT
// net::Socket options (read back with getsockopt), SocketAddress parsing
// and printing, TcpListener on port 0 accepting a real connection,
// SO_REUSEPORT listeners, Resolve and ResolveAsync.
#include "kio_cxx_test.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

namespace {

int IntOption(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0, "getsockopt: %s", strerror(errno));
	return v;
}

net::Socket TcpSocket(int family = AF_INET)
{
	auto s = net::Socket::Create(family, SOCK_STREAM);
	cr_assert(s.has_value(), "socket: %s", s.error().message().c_str());
	return std::move(*s);
}

} // namespace

namespace {

struct ListenOut {
	net::SocketAddress client_local, peer;
	std::string echoed;
};

Task<Result<void>> InvalidAddressFailsConnectWithEinval(IoContext &c, int fd)
{
	co_return co_await AsyncConnect(c, fd, net::SocketAddress::V4(80, "999.0.0.1"));
}

Task<> ListenerOnPort0GetsAPortAndAccepts(IoContext &c, const net::TcpListener *l, ListenOut *o)
{
	net::Socket client = TcpSocket();
	auto dst = net::SocketAddress::V4(l->Port(), "127.0.0.1");
	TaskGroup g;
	g.Spawn([](IoContext &cx, int fd, net::SocketAddress to) -> Task<> {
		auto r = co_await AsyncConnect(cx, fd, to);
		cr_assert(r.has_value(), "connect: %s", r.error().message().c_str());
		auto s = co_await AsyncSend(cx, fd, std::string_view("ping"));
		cr_assert(s && *s == 4);
	}(c, client.Fd(), dst));
	auto accepted = co_await AsyncAccept(c, *l).WithTimeout(10s);
	cr_assert(accepted.has_value(), "accept: %s", accepted.error().message().c_str());
	net::Socket conn(accepted->fd);
	o->peer = net::SocketAddress(reinterpret_cast<const sockaddr *>(&accepted->addr),
				     accepted->addrlen);
	char buf[8];
	auto n = co_await AsyncRecv(c, conn, std::span(buf, 4), MSG_WAITALL).WithTimeout(10s);
	cr_assert(n && *n == 4);
	o->echoed.assign(buf, 4);
	cr_assert(co_await g.JoinAllTimeout(c, 10s));
	sockaddr_storage ss{};
	socklen_t sl = sizeof(ss);
	getsockname(client.Fd(), reinterpret_cast<sockaddr *>(&ss), &sl);
	o->client_local = net::SocketAddress(reinterpret_cast<sockaddr *>(&ss), sl);
}

Task<std::tuple<Result<net::SocketAddress>, Result<std::vector<net::SocketAddress>>,
		Result<net::SocketAddress>>>
ResolveAsyncOnThePool(IoContext &c, BlockingPool &p)
{
	auto a = co_await net::ResolveAsync(c, p, "localhost", 8080, AF_INET);
	auto b = co_await net::ResolveAllAsync(c, p, "127.0.0.1", 1);
	auto e = co_await net::ResolveAsync(c, p, "host.invalid", 1).WithTimeout(20s);
	co_return std::tuple{a, b, e};
}

} // namespace

Test(net, socket_options_are_really_set)
{
	KXT_LEAK_GUARD();
	net::Socket s = TcpSocket();
	cr_assert(s.IsValid());
	cr_assert_eq(IntOption(s.Fd(), SOL_SOCKET, SO_REUSEADDR), 0);
	cr_assert(s.SetReuseAddr());
	cr_assert_eq(IntOption(s.Fd(), SOL_SOCKET, SO_REUSEADDR), 1);
	cr_assert(s.SetReusePort());
	cr_assert_eq(IntOption(s.Fd(), SOL_SOCKET, SO_REUSEPORT), 1);
	cr_assert(s.SetNodelay());
	cr_assert_eq(IntOption(s.Fd(), IPPROTO_TCP, TCP_NODELAY), 1);
	cr_assert(s.SetNodelay(false));
	cr_assert_eq(IntOption(s.Fd(), IPPROTO_TCP, TCP_NODELAY), 0);

	// The kernel doubles the request (for its bookkeeping) within its caps.
	const int before_snd = IntOption(s.Fd(), SOL_SOCKET, SO_SNDBUF);
	cr_assert(s.SetSendBuffer(4096));
	const int snd = IntOption(s.Fd(), SOL_SOCKET, SO_SNDBUF);
	cr_assert_eq(snd, 8192, "SO_SNDBUF %d (was %d)", snd, before_snd);
	cr_assert(s.SetRecvBuffer(8192));
	cr_assert_eq(IntOption(s.Fd(), SOL_SOCKET, SO_RCVBUF), 16384);

	cr_assert_eq(fcntl(s.Fd(), F_GETFL) & O_NONBLOCK, 0, "blocking by default");
	cr_assert(s.SetNonBlocking());
	cr_assert_neq(fcntl(s.Fd(), F_GETFL) & O_NONBLOCK, 0);
	cr_assert(s.SetNonBlocking(false));
	cr_assert_eq(fcntl(s.Fd(), F_GETFL) & O_NONBLOCK, 0);
	cr_assert_neq(fcntl(s.Fd(), F_GETFD) & FD_CLOEXEC, 0, "close-on-exec");

	auto got = s.GetOption(SOL_SOCKET, SO_TYPE);
	cr_assert(got && *got == SOCK_STREAM);
}

Test(net, options_on_a_closed_socket_fail_with_ebadf)
{
	KXT_LEAK_GUARD();
	net::Socket s = TcpSocket();
	s.Close();
	cr_assert_not(s.IsValid());
	auto r = s.SetNodelay();
	cr_assert(!r && r.error() == std::errc::bad_file_descriptor);
	auto nb = s.SetNonBlocking();
	cr_assert(!nb && nb.error() == std::errc::bad_file_descriptor);
	s.Close(); // twice: a no-op
}

Test(net, socket_ownership_moves_and_releases)
{
	KXT_LEAK_GUARD();
	net::Socket a = TcpSocket();
	const int fd = a.Fd();
	net::Socket b(std::move(a));
	cr_assert_eq(a.Fd(), -1);
	cr_assert_eq(b.Fd(), fd);
	net::Socket c;
	c = std::move(b);
	cr_assert_eq(c.Fd(), fd);
	const int raw = c.Release();
	cr_assert_eq(raw, fd);
	cr_assert_eq(c.Fd(), -1);
	cr_assert_neq(fcntl(raw, F_GETFD), -1, "Release does not close");
	net::Socket d(raw); // closes it at scope exit (the leak guard checks)
}

Test(net, socket_address_v4_and_v6)
{
	auto a = net::SocketAddress::V4(8080, "127.0.0.1");
	cr_assert(a.IsValid() && a.IsV4() && !a.IsV6());
	cr_assert_eq(a.Port(), 8080);
	cr_assert_eq(a.Family(), AF_INET);
	cr_assert_eq(a.Len(), sizeof(sockaddr_in));
	cr_assert_eq(a.ToString(), "127.0.0.1:8080");
	cr_assert_eq(a.Ip(), "127.0.0.1");
	auto *in = reinterpret_cast<const sockaddr_in *>(a.Get());
	cr_assert_eq(ntohs(in->sin_port), 8080);
	cr_assert_eq(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);

	auto any = net::SocketAddress::V4(0);
	cr_assert_eq(any.ToString(), "0.0.0.0:0");

	auto b = net::SocketAddress::V6(443, "::1");
	cr_assert(b.IsV6());
	cr_assert_eq(b.Len(), sizeof(sockaddr_in6));
	cr_assert_eq(b.ToString(), "[::1]:443");
	cr_assert_eq(net::SocketAddress::V6(1, "2001:db8::1").ToString(), "[2001:db8::1]:1");

	auto p = net::SocketAddress::Parse("[::1]", 7);
	cr_assert(p && p->IsV6() && p->Port() == 7);
	auto q = net::SocketAddress::Parse("10.0.0.1", 9);
	cr_assert(q && q->IsV4() && q->ToString() == "10.0.0.1:9");
	cr_assert(net::SocketAddress::V4(80, "10.0.0.1") == net::SocketAddress::V4(80, "10.0.0.1"));
	cr_assert_not(net::SocketAddress::V4(80, "10.0.0.1") ==
		      net::SocketAddress::V4(81, "10.0.0.1"));

	// From a raw sockaddr (what accept returns).
	net::SocketAddress c(a.Get(), a.Len());
	cr_assert(c == a);
	sockaddr bogus{};
	bogus.sa_family = AF_UNIX;
	cr_assert_not(net::SocketAddress(&bogus, sizeof(bogus)).IsValid());
	cr_assert_not(net::SocketAddress(a.Get(), 4).IsValid(), "too short");
}

Test(net, socket_address_parse_errors)
{
	const char *bad_v4[] = {"256.1.1.1",  "1.2.3",
				"1.2.3.4.5",  "abc",
				"",           " 1.2.3.4",
				"1.2.3.4 ",   "::1",
				"1.2.3.4:80", "01234567890123456789012345678901234567890123456789"};
	for (const char *text : bad_v4) {
		auto r = net::SocketAddress::ParseV4(text, 80);
		cr_assert(!r && r.error() == std::errc::invalid_argument, "'%s' parsed as IPv4",
			  text);
		auto v = net::SocketAddress::V4(80, text);
		cr_assert_not(v.IsValid(), "'%s'", text);
		cr_assert_eq(v.Len(), 0u);
		cr_assert_eq(v.Port(), 0);
		cr_assert_eq(v.Family(), AF_UNSPEC);
		cr_assert_eq(v.ToString(), "(invalid)");
	}
	const char *bad_v6[] = {"1::2::3", ":::", "[::1]", "127.0.0.1", "g::1", ""};
	for (const char *text : bad_v6) {
		auto r = net::SocketAddress::ParseV6(text, 80);
		cr_assert(!r && r.error() == std::errc::invalid_argument, "'%s' parsed as IPv6",
			  text);
		cr_assert_not(net::SocketAddress::V6(80, text).IsValid());
	}
	// A NUL inside the view is not cut off silently.
	cr_assert_not(net::SocketAddress::ParseV4(std::string_view("1.2.3.4\0x", 9), 1));
	cr_assert_not(net::SocketAddress::Parse("[::1", 1));
}

Test(net, invalid_address_fails_connect_with_einval, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	net::Socket s = TcpSocket();
	auto r = ctx->RunUntilDone(InvalidAddressFailsConnectWithEinval(*ctx, s.Fd()));
	cr_assert(!r && r.error() == std::errc::invalid_argument);
	auto l = net::TcpListener::Bind(net::SocketAddress());
	cr_assert(!l && l.error() == std::errc::invalid_argument);
	auto l2 = net::TcpListener::BindV4(0, "not an ip");
	cr_assert(!l2 && l2.error() == std::errc::invalid_argument);
}

Test(net, listener_on_port_0_gets_a_port_and_accepts, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	auto listener = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(listener.has_value(), "bind: %s", listener.error().message().c_str());
	const uint16_t port = listener->Port();
	cr_assert_neq(port, 0);
	sockaddr_in bound{};
	socklen_t len = sizeof(bound);
	cr_assert_eq(getsockname(listener->Fd(), reinterpret_cast<sockaddr *>(&bound), &len), 0);
	cr_assert_eq(ntohs(bound.sin_port), port);
	cr_assert_eq(IntOption(listener->Fd(), SOL_SOCKET, SO_ACCEPTCONN), 1);
	cr_assert_eq(IntOption(listener->Fd(), SOL_SOCKET, SO_REUSEADDR), 1);

	ListenOut out;
	ctx->RunUntilDone(ListenerOnPort0GetsAPortAndAccepts(*ctx, &*listener, &out));
	cr_assert_eq(out.echoed, "ping");
	cr_assert(out.peer.IsValid());
	cr_assert(out.peer == out.client_local, "accept's peer %s, client %s",
		  out.peer.ToString().c_str(), out.client_local.ToString().c_str());
}

Test(net, listener_v6_port_0)
{
	KXT_LEAK_GUARD();
	auto l = net::TcpListener::BindV6(0, "::1");
	if (!l && (l.error() == std::errc::address_family_not_supported ||
		   l.error() == std::errc::address_not_available))
		cr_skip_test("no IPv6 loopback");
	cr_assert(l.has_value(), "bind: %s", l.error().message().c_str());
	cr_assert_neq(l->Port(), 0);
	cr_assert(l->LocalAddress().IsV6());
	cr_assert_eq(l->LocalAddress().Ip(), "::1");
	// The wildcard address: dual stack unless v6_only (a specific IPv6
	// address is always v6-only, the kernel's rule).
	auto dual = net::TcpListener::BindV6(0);
	cr_assert(dual.has_value());
	cr_assert_eq(IntOption(dual->Fd(), IPPROTO_IPV6, IPV6_V6ONLY), 0);
	auto only = net::TcpListener::BindV6(0, {.v6_only = true});
	cr_assert(only.has_value());
	cr_assert_eq(IntOption(only->Fd(), IPPROTO_IPV6, IPV6_V6ONLY), 1);
}

Test(net, same_port_needs_reuse_port)
{
	KXT_LEAK_GUARD();
	auto first = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(first.has_value());
	auto clash = net::TcpListener::BindV4(first->Port(), "127.0.0.1");
	cr_assert(!clash && clash.error() == std::errc::address_in_use);

	net::ListenOptions opts;
	opts.reuse_port = true;
	opts.backlog = 16;
	auto a = net::TcpListener::BindV4(0, "127.0.0.1", opts);
	cr_assert(a.has_value());
	cr_assert_eq(IntOption(a->Fd(), SOL_SOCKET, SO_REUSEPORT), 1);
	auto b = net::TcpListener::BindV4(a->Port(), "127.0.0.1", opts);
	cr_assert(b.has_value(), "second SO_REUSEPORT listener: %s", b.error().message().c_str());
	cr_assert_eq(b->Port(), a->Port());
}

Test(net, resolve_numeric_and_localhost)
{
	auto n = net::Resolve("127.0.0.1", 4242);
	cr_assert(n.has_value(), "%s", n.error().message().c_str());
	cr_assert_eq(n->ToString(), "127.0.0.1:4242");
	auto l = net::Resolve("localhost", 80, AF_INET);
	cr_assert(l.has_value(), "%s", l.error().message().c_str());
	cr_assert_eq(l->ToString(), "127.0.0.1:80");
	auto all = net::ResolveAll("::1", 5);
	cr_assert(all && all->size() >= 1 && (*all)[0].IsV6());
}

Test(net, resolve_errors)
{
	// ".invalid" never resolves (RFC 6761); without DNS the answer may be
	// "try again" instead of "no such name".
	auto r = net::Resolve("host.invalid", 80);
	cr_assert_not(r.has_value());
	cr_assert(r.error() == std::errc::no_such_file_or_directory ||
			  r.error() == std::errc::resource_unavailable_try_again,
		  "%s", r.error().message().c_str());
	auto fam = net::Resolve("127.0.0.1", 80, AF_INET6);
	cr_assert_not(fam.has_value());
}

Test(net, resolve_async_on_the_pool, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	{
		BlockingPool pool(1);
		auto [one, all, bad] = ctx->RunUntilDone(ResolveAsyncOnThePool(*ctx, pool));
		KXT_SKIP_IF_ENOSYS(one, "kio_resolve");
		cr_assert(one.has_value(), "%s", one.error().message().c_str());
		cr_assert_eq(one->ToString(), "127.0.0.1:8080");
		cr_assert(all && all->size() == 1 && (*all)[0].Port() == 1);
		cr_assert_not(bad.has_value());
	}
}
