// SPDX-License-Identifier: MIT
//
// Socket awaitables over loopback and socketpairs: accept/connect with the
// peer address, send/recv with flags, sendmsg/recvmsg, sendfile, socket,
// shutdown, and their error paths. Every test ends by itself.
#include "kio_cxx_test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

namespace {

struct Pair {
	int fd[2];
	Pair()
	{
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0);
	}
	~Pair()
	{
		close(fd[0]);
		close(fd[1]);
	}
};

// What net::SocketAddress offers: Get() and Len().
struct Addr {
	sockaddr_in sin{};
	const sockaddr *Get() const
	{
		return reinterpret_cast<const sockaddr *>(&sin);
	}
	socklen_t Len() const
	{
		return sizeof sin;
	}
};

struct Listener {
	int fd = -1;
	Addr addr;
	int Fd() const
	{
		return fd;
	}
	Listener()
	{
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert(fd >= 0);
		addr.sin.sin_family = AF_INET;
		addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		cr_assert_eq(bind(fd, addr.Get(), addr.Len()), 0);
		cr_assert_eq(listen(fd, 16), 0);
		socklen_t len = sizeof addr.sin;
		cr_assert_eq(getsockname(fd, reinterpret_cast<sockaddr *>(&addr.sin), &len), 0);
	}
	~Listener()
	{
		close(fd);
	}
};

Task<> Client(IoContext &ctx, Addr to, int *fd_out, uint16_t *port_out)
{
	auto s = co_await AsyncSocket(ctx, AF_INET, SOCK_STREAM | SOCK_CLOEXEC);
	cr_assert(s.has_value());
	auto c = co_await AsyncConnect(ctx, *s, to);
	cr_assert(c.has_value(), "connect: %s", c ? "" : c.error().message().c_str());
	sockaddr_in local{};
	socklen_t len = sizeof local;
	cr_assert_eq(getsockname(*s, reinterpret_cast<sockaddr *>(&local), &len), 0);
	*port_out = ntohs(local.sin_port);
	*fd_out = *s;
}

Task<int> AcceptConnect(IoContext &ctx)
{
	Listener l;
	int client = -1;
	uint16_t client_port = 0;
	TaskGroup g;
	g.Spawn(Client(ctx, l.addr, &client, &client_port));
	auto a = co_await AsyncAccept(ctx, l);
	KXT_SKIP_IF_ENOSYS(a, "kio_accept");
	cr_assert(a.has_value(), "accept: %s", a ? "" : a.error().message().c_str());
	co_await g.JoinAll(ctx);
	cr_assert(a->fd >= 0);
	cr_assert_eq(a->addr.ss_family, AF_INET);
	auto *peer = reinterpret_cast<const sockaddr_in *>(&a->addr);
	cr_assert_eq(a->addrlen, sizeof(sockaddr_in));
	cr_assert_eq(ntohs(peer->sin_port), client_port);

	// Both ends talk.
	auto n = co_await AsyncSend(ctx, client, "ping");
	cr_assert_eq(*n, 4u);
	std::array<char, 16> buf{};
	auto r =
		co_await AsyncRecv(ctx, a->fd, std::span(buf).first(4), MSG_WAITALL).WithTimeout(5s);
	cr_assert(r.has_value());
	cr_assert_eq(*r, 4u);
	cr_assert_eq(std::memcmp(buf.data(), "ping", 4), 0);

	cr_assert(co_await AsyncShutdown(ctx, client, SHUT_WR));
	auto eof = co_await AsyncRecv(ctx, a->fd, buf);
	cr_assert_eq(*eof, 0u);
	cr_assert(co_await AsyncClose(ctx, client));
	cr_assert(co_await AsyncClose(ctx, a->fd));
	co_return 1;
}

Task<int> RefusedAndBad(IoContext &ctx)
{
	Addr nowhere;
	{
		Listener l; // take a free port, then close it
		nowhere = l.addr;
	}
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	auto c = co_await AsyncConnect(ctx, s, nowhere.Get(), nowhere.Len());
	KXT_SKIP_IF_ENOSYS(c, "kio_connect");
	cr_assert(c.error() == std::errc::connection_refused, "got %s",
		  c ? "success" : c.error().message().c_str());
	// Not listening: accept fails at once.
	auto a = co_await AsyncAccept(ctx, s);
	cr_assert(a.error() == std::errc::invalid_argument, "got %s",
		  a ? "success" : a.error().message().c_str());
	close(s);

	char buf[4];
	cr_assert((co_await AsyncSend(ctx, -1, "x")).error() == std::errc::bad_file_descriptor);
	cr_assert((co_await AsyncRecv(ctx, -1, buf)).error() == std::errc::bad_file_descriptor);
	cr_assert((co_await AsyncAccept(ctx, -1)).error() == std::errc::bad_file_descriptor);
	cr_assert((co_await AsyncConnect(ctx, -1, nowhere)).error() ==
		  std::errc::bad_file_descriptor);
	cr_assert((co_await AsyncShutdown(ctx, -1, SHUT_RD)).error() ==
		  std::errc::bad_file_descriptor);
	cr_assert((co_await AsyncConnect(ctx, 0, nullptr, 0)).error() ==
		  std::errc::invalid_argument);
	co_return 1;
}

Task<int> PairOps(IoContext &ctx)
{
	Pair p;
	std::array<char, 8> buf{};
	buf.fill('.');
	// Nothing to read: MSG_DONTWAIT fails at once, a timeout ends the wait
	// and the buffer stays untouched.
	auto w = co_await AsyncRecv(ctx, p.fd[0], buf, MSG_DONTWAIT);
	KXT_SKIP_IF_ENOSYS(w, "kio_recv");
	cr_assert(w.error() == std::errc::resource_unavailable_try_again ||
		  w.error() == std::errc::operation_would_block);
	auto t = co_await AsyncRecv(ctx, p.fd[0], buf).WithTimeout(5ms);
	cr_assert(t.error() == std::errc::timed_out);
	cr_assert_eq(buf[0], '.');

	cr_assert_eq(*co_await AsyncSend(ctx, p.fd[1], "abc"), 3u);
	auto peek = co_await AsyncRecv(ctx, p.fd[0], buf, MSG_PEEK);
	cr_assert_eq(*peek, 3u);
	auto got = co_await AsyncRecv(ctx, p.fd[0], buf);
	cr_assert_eq(*got, 3u);

	// sendmsg / recvmsg with two iovecs each.
	char h[] = "head", b[] = "body";
	iovec out[2] = {{h, 4}, {b, 4}};
	msghdr m{};
	m.msg_iov = out;
	m.msg_iovlen = 2;
	cr_assert_eq(*co_await AsyncSendmsg(ctx, p.fd[1], &m), 8u);
	char x[3] = {}, y[5] = {};
	iovec in[2] = {{x, 3}, {y, 5}};
	msghdr rm{};
	rm.msg_iov = in;
	rm.msg_iovlen = 2;
	cr_assert_eq(*co_await AsyncRecvmsg(ctx, p.fd[0], &rm, MSG_WAITALL), 8u);
	cr_assert_eq(std::memcmp(x, "hea", 3), 0);
	cr_assert_eq(std::memcmp(y, "dbody", 5), 0);

	// The peer is gone: EPIPE, and no SIGPIPE kills the test.
	close(p.fd[0]);
	p.fd[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	auto dead = co_await AsyncSend(ctx, p.fd[1], "x");
	cr_assert(dead.error() == std::errc::broken_pipe ||
		  dead.error() == std::errc::connection_reset);
	co_return 1;
}

Task<> Drain(IoContext &ctx, int fd, std::vector<char> *into, size_t want)
{
	std::array<char, 4096> buf;
	while (into->size() < want) {
		auto r = co_await AsyncRecv(ctx, fd, buf).WithTimeout(5s);
		cr_assert(r.has_value());
		if (*r == 0)
			break;
		into->insert(into->end(), buf.data(), buf.data() + *r);
	}
}

Task<int> Sendfile(IoContext &ctx)
{
	char path[] = "/tmp/kio-cxx-sendfile.XXXXXX";
	int file = mkstemp(path);
	cr_assert(file >= 0);
	unlink(path);
	std::vector<char> data(200000);
	for (size_t i = 0; i < data.size(); i++)
		data[i] = static_cast<char>('a' + i % 23);
	cr_assert_eq(write(file, data.data(), data.size()), (ssize_t)data.size());

	Pair p;
	std::vector<char> got;
	TaskGroup g;
	g.Spawn(Drain(ctx, p.fd[0], &got, data.size() - 1000));
	auto n = co_await AsyncSendfile(ctx, p.fd[1], file, 1000, data.size() - 1000);
	KXT_SKIP_IF_ENOSYS(n, "kio_sendfile");
	cr_assert(n.has_value(), "sendfile: %s", n ? "" : n.error().message().c_str());
	cr_assert_eq(*n, data.size() - 1000);
	co_await g.JoinAll(ctx);
	cr_assert_eq(got.size(), data.size() - 1000);
	cr_assert_eq(std::memcmp(got.data(), data.data() + 1000, got.size()), 0);

	auto bad = co_await AsyncSendfile(ctx, p.fd[1], -1, 0, 10);
	cr_assert(bad.error() == std::errc::bad_file_descriptor);
	close(file);
	co_return 1;
}

Task<int> MoreOps(IoContext &ctx)
{
	auto bad = co_await AsyncSocket(ctx, 12345, SOCK_STREAM);
	cr_assert(bad.error() == std::errc::address_family_not_supported, "got %s",
		  bad ? "a socket" : bad.error().message().c_str());
	msghdr m{};
	cr_assert((co_await AsyncSendmsg(ctx, -1, &m)).error() == std::errc::bad_file_descriptor);
	cr_assert((co_await AsyncRecvmsg(ctx, -1, &m)).error() == std::errc::bad_file_descriptor);
	cr_assert((co_await AsyncSendZc(ctx, -1, "x")).error() == std::errc::bad_file_descriptor);

	Pair p;
	std::vector<char> big(64 * 1024, 'z');
	auto zc = co_await AsyncSendZc(ctx, p.fd[1], big);
	if (!zc && zc.error() == std::errc::operation_not_supported)
		co_return 1; // kernel without IORING_OP_SEND_ZC
	cr_assert(zc.has_value(), "send_zc: %s", zc ? "" : zc.error().message().c_str());
	cr_assert(*zc > 0 && *zc <= big.size());
	std::vector<char> got(*zc);
	auto r = co_await AsyncRecv(ctx, p.fd[0], got, MSG_WAITALL);
	cr_assert_eq(*r, *zc);
	cr_assert_eq(got[0], 'z');
	co_return 1;
}

} // namespace

Test(net_ops, socket_sendzc_and_msg_errors, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(MoreOps(*ctx)), 1);
}

Test(net_ops, accept_connect_send_recv_loopback, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(AcceptConnect(*ctx)), 1);
}

Test(net_ops, refused_and_bad_fds, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(RefusedAndBad(*ctx)), 1);
}

Test(net_ops, socketpair_flags_msg_and_epipe, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(PairOps(*ctx)), 1);
}

Test(net_ops, sendfile_moves_the_whole_range, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Sendfile(*ctx)), 1);
}
