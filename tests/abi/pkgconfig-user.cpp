// SPDX-License-Identifier: MIT
//
// A first C++ program as a user writes it against an installed kio: only
// <kio/kio.hpp> and the flags `pkg-config --cflags --libs kio-cxx` gives.
// argv[1] is the version the build was configured with.
#include <kio/kio.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

using namespace kio;
using namespace std::chrono_literals;

static Task<std::string> Echo(IoContext &ctx)
{
	int p[2];
	if (pipe(p) != 0)
		co_return "pipe failed";
	co_await AsyncSleep(ctx, 1ms);
	auto w = co_await AsyncWrite(ctx, p[1], "hello");
	char buf[16] = {};
	auto r = co_await AsyncRead(ctx, p[0], buf).WithTimeout(5s);
	close(p[0]);
	close(p[1]);
	if (!w || !r)
		co_return "I/O failed";
	co_return std::string(buf, *r);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::fprintf(stderr, "usage: %s EXPECTED_VERSION\n", argv[0]);
		return 2;
	}
	if (std::strcmp(kio_version_string(), argv[1]) != 0) {
		std::fprintf(stderr, "version mismatch: library %s, expected %s\n",
			     kio_version_string(), argv[1]);
		return 1;
	}
	try {
		IoContext ctx;
		std::string got = ctx.RunUntilDone(Echo(ctx));
		if (got != "hello") {
			std::fprintf(stderr, "unexpected result: %s\n", got.c_str());
			return 1;
		}
	} catch (const std::system_error &e) {
		if (e.code() == std::errc::operation_not_permitted ||
		    e.code() == std::errc::function_not_supported) {
			std::printf("io_uring unavailable (%s): skipping\n", e.what());
			return 77;
		}
		throw;
	}
	std::printf("kio-cxx %s: task completed\n", kio_version_string());
	return 0;
}
