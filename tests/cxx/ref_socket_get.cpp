// SPDX-License-Identifier: MIT
//
// Socket::Get() (the reference's name for Fd()) wherever a program hands a
// descriptor to an op, and SocketAddress::GetIp().
#include "kio_cxx_test.hpp"

#include <sys/socket.h>

#include <array>
#include <cstring>
#include <optional>
#include <span>
#include <string>

using namespace kio;

namespace {

Task<> Echo(IoContext &ctx, net::Socket &a, net::Socket &b)
{
	auto n = co_await AsyncSend(ctx, a.Get(), std::span<const char>("hello", 5));
	cr_assert(n.has_value());
	std::array<char, 5> buf{};
	auto r = co_await AsyncRecv(ctx, b.Get(), std::span(buf));
	cr_assert(r.has_value());
	cr_assert_eq(*r, 5u);
	cr_assert_eq(std::memcmp(buf.data(), "hello", 5), 0);
}

} // namespace

Test(ref_socket_get, get_is_fd)
{
	KXT_LEAK_GUARD();
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	net::Socket a(sv[0]), b(sv[1]);
	cr_assert_eq(a.Get(), sv[0]);
	cr_assert_eq(a.Get(), a.Fd());
	auto ctx = kxt::NewCtx();
	ctx->RunUntilDone(Echo(*ctx, a, b));
	a.Close();
	cr_assert_eq(a.Get(), -1);
	net::Socket empty;
	cr_assert_eq(empty.Get(), -1);
}

Test(ref_socket_get, get_ip)
{
	auto v4 = net::SocketAddress::V4(80, "127.0.0.1");
	std::optional<std::string> ip = v4.GetIp();
	cr_assert(ip.has_value());
	cr_assert_eq(*ip, "127.0.0.1");
	auto v6 = net::SocketAddress::V6(80, "::1");
	cr_assert_eq(v6.GetIp().value_or(""), "::1");
	// Text that is not an address gives an invalid one: no IP at all.
	auto bad = net::SocketAddress::V4(80, "not-an-ip");
	cr_assert(!bad.GetIp().has_value());
	cr_assert(!net::SocketAddress().GetIp().has_value());
}
