// SPDX-License-Identifier: MIT
//
// The call shapes of the reference API, written as its README writes them
// (one include, `using namespace kio;`), compiled in both standards and run:
// an echo server with a TaskGroup, a client, file operations on the
// Result<int> AsyncOpen gives, timeouts, Offload, Notifier and Stats.
#include <kio/kio.hpp>

#include "kio_cxx_test.hpp"

#include <array>
#include <cstring>
#include <span>
#include <string>
#include <thread>

using namespace kio;
using namespace std::chrono_literals;

namespace {

Task<> HandleClient(IoContext &ctx, net::Socket client)
{
	std::array<std::byte, 4096> buf{};
	while (true) {
		auto result = co_await AsyncRecv(ctx, client, buf).WithTimeout(30s);
		if (!result || *result == 0)
			break;
		co_await AsyncSend(ctx, client, std::span{buf.data(), *result});
	}
}

Task<> Server(IoContext &ctx, net::TcpListener &listener, kio::StopToken st)
{
	TaskGroup tasks;
	while (!st.stop_requested()) {
		auto accepted = co_await AsyncAccept(ctx, listener).WithStopToken(st);
		if (!accepted)
			continue;
		tasks.Spawn(HandleClient(ctx, net::Socket(accepted->fd)));
	}
	bool completed = co_await tasks.JoinAllTimeout(ctx, 5s);
	cr_assert(completed);
}

Task<std::string> Client(IoContext &ctx, uint16_t port)
{
	net::Socket sock(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	auto addr = net::SocketAddress::V4(port, "127.0.0.1");
	auto c = co_await AsyncConnect(ctx, sock, addr);
	cr_assert(c.has_value(), "connect: %s", c ? "" : c.error().message().c_str());
	std::string msg = "hello echo";
	auto n = co_await AsyncSend(ctx, sock, msg, MSG_NOSIGNAL);
	cr_assert_eq(*n, msg.size());
	std::string back(msg.size(), '\0');
	auto r = co_await AsyncRecv(ctx, sock, back, MSG_WAITALL);
	cr_assert(r.has_value());
	co_return back;
}

Task<int> EchoRoundTrip(IoContext &ctx)
{
	auto listener = net::TcpListener::BindV4(0, "127.0.0.1");
	cr_assert(listener.has_value());
	uint16_t port = listener->Port();
	kio::StopSource stop;
	TaskGroup server;
	server.Spawn(Server(ctx, *listener, stop.get_token()));
	std::string a = co_await Client(ctx, port);
	std::string b = co_await Client(ctx, port);
	cr_assert_eq(a, std::string("hello echo"));
	cr_assert_eq(b, a);
	stop.request_stop();
	co_await server.JoinAll(ctx);
	co_return 1;
}

Task<int> FileShapes(IoContext &ctx, std::string dir)
{
	std::string path = dir + "/file";
	auto fd = co_await AsyncOpen(ctx, path.c_str(), O_RDWR | O_CREAT, 0644);
	cr_assert(fd.has_value());
	std::string data = "0123456789";
	auto w = co_await AsyncWrite(ctx, fd, data, 0);
	cr_assert_eq(*w, 10u);
	std::array<char, 4> buffer{};
	uint64_t offset = 3;
	auto n = co_await AsyncRead(ctx, fd, buffer, offset);
	cr_assert_eq(*n, 4u);
	cr_assert_eq(std::memcmp(buffer.data(), "3456", 4), 0);
	std::string header = "ab", body = "cd";
	std::array<iovec, 2> iov = {{{header.data(), header.size()}, {body.data(), body.size()}}};
	auto v = co_await AsyncWritev(ctx, fd, iov, 20);
	cr_assert_eq(*v, 4u);
	cr_assert(co_await AsyncFsync(ctx, fd));
	co_await AsyncFallocate(ctx, fd, 0, 0, 4096);
	cr_assert(co_await AsyncFtruncate(ctx, fd, 5));
	cr_assert(co_await AsyncClose(ctx, fd));
	cr_assert(co_await AsyncMkdir(ctx, (dir + "/d").c_str(), 0755));
	cr_assert(co_await AsyncRename(ctx, path.c_str(), (dir + "/d/moved").c_str()));
	cr_assert(co_await AsyncUnlink(ctx, (dir + "/d/moved").c_str()));

	auto missing = co_await AsyncOpen(ctx, (dir + "/nope").c_str(), O_RDONLY);
	cr_assert_not(missing);
	auto r = co_await AsyncRead(ctx, missing, buffer); // an error Result: EBADF
	cr_assert(r.error() == std::errc::bad_file_descriptor);
	co_return 1;
}

int ExpensiveComputation()
{
	return 6 * 7;
}

Task<int> ComputeAsync(IoContext &ctx)
{
	co_await AsyncSleep(ctx, 1ms);
	co_return 42;
}

Task<int> Misc(IoContext &ctx, BlockingPool &pool, Notifier &notifier)
{
	int result = co_await ComputeAsync(ctx);
	cr_assert_eq(result, 42);
	auto off = co_await Offload(ctx, pool, [] { return ExpensiveComputation(); });
	cr_assert_eq(*off, 42);
	std::thread t([&notifier] { notifier.Signal(); });
	co_await notifier.Wait(ctx);
	t.join();
	int p[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
	std::array<std::byte, 8> buf{};
	auto timed = co_await AsyncRecv(ctx, p[0], buf).WithTimeout(2ms);
	if (!timed && timed.error() == std::errc::timed_out)
		result++;
	auto events = co_await AsyncPoll(ctx, p[1], POLLOUT);
	cr_assert(*events & POLLOUT);
	close(p[0]);
	close(p[1]);
	co_return result;
}

} // namespace

Test(reference_api, echo_server_and_client, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx(1024);
	cr_assert_eq(ctx->RunUntilDone(EchoRoundTrip(*ctx)), 1);
}

Test(reference_api, file_operations)
{
	KXT_LEAK_GUARD();
	char tmpl[] = "/tmp/kio-cxx-ref.XXXXXX";
	cr_assert_not_null(mkdtemp(tmpl));
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(FileShapes(*ctx, tmpl)), 1);
	cr_assert_eq(rmdir((std::string(tmpl) + "/d").c_str()), 0);
	cr_assert_eq(rmdir(tmpl), 0);
}

Test(reference_api, tasks_offload_notifier_timeouts_stats, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	BlockingPool pool(2);
	Notifier notifier;
	cr_assert_eq(ctx->RunUntilDone(Misc(*ctx, pool, notifier)), 43);
	auto stats = ctx->Stats().GetSnapshot();
	cr_assert(stats.ops_submitted >= 5);
	cr_assert_eq(stats.ops_completed, stats.ops_submitted);
	cr_assert_eq(stats.timeouts, 1u);
	cr_assert(stats.ops_max_inflight >= 1);
	cr_assert(stats.loop_iterations > 0);
}
