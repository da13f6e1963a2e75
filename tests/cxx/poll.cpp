// SPDX-License-Identifier: MIT
//
// AsyncPoll: readiness masks, waiting for data, errors and timeouts.
#include "kio_cxx_test.hpp"

#include <poll.h>

using namespace kio;
using namespace std::chrono_literals;

namespace {

Task<> WriteLater(IoContext &ctx, int fd)
{
	co_await AsyncSleep(ctx, 5ms);
	cr_assert_eq(write(fd, "x", 1), 1);
}

Task<int> Polls(IoContext &ctx)
{
	int p[2];
	kxt::Pipe(p);
	auto w = co_await AsyncPoll(ctx, p[1], POLLOUT);
	cr_assert(w.has_value());
	cr_assert(*w & POLLOUT);

	TaskGroup g;
	g.Spawn(WriteLater(ctx, p[1]));
	auto r = co_await AsyncPoll(ctx, p[0], POLLIN);
	cr_assert(r.has_value());
	cr_assert(*r & POLLIN);
	co_await g.JoinAll(ctx);

	char c;
	cr_assert_eq(read(p[0], &c, 1), 1);
	auto t = co_await AsyncPoll(ctx, p[0], POLLIN).WithTimeout(5ms);
	cr_assert(t.error() == std::errc::timed_out);

	close(p[1]);
	auto hup = co_await AsyncPoll(ctx, p[0], POLLIN);
	cr_assert(*hup & POLLHUP);
	close(p[0]);

	auto bad = co_await AsyncPoll(ctx, -1, POLLIN);
	cr_assert(bad.error() == std::errc::bad_file_descriptor);
	co_return 1;
}

} // namespace

Test(poll, readiness_errors_and_timeout)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Polls(*ctx)), 1);
}
