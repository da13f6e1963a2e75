// SPDX-License-Identifier: MIT
//
// SignalSet + AsyncWaitSignal: a signal raised by the process completes the
// wait with its number; an unblocked wait can be stopped.
#include "kio_cxx_test.hpp"

#include <csignal>

using namespace kio;
using namespace std::chrono_literals;

namespace {

Task<> RaiseLater(IoContext &ctx, int sig)
{
	co_await AsyncSleep(ctx, 2ms);
	cr_assert_eq(kill(getpid(), sig), 0);
}

Task<int> Wait(IoContext &ctx, SignalSet &set)
{
	TaskGroup g;
	g.Spawn(RaiseLater(ctx, SIGUSR2));
	auto sig = co_await AsyncWaitSignal(ctx, set).WithTimeout(10s);
	KXT_SKIP_IF_ENOSYS(sig, "kio_signal_wait");
	cr_assert(sig.has_value(), "wait: %s", sig ? "" : sig.error().message().c_str());
	cr_assert_eq(*sig, SIGUSR2);
	co_await g.JoinAll(ctx);

	// A signal raised before the wait is pending, not lost.
	cr_assert_eq(kill(getpid(), SIGUSR1), 0);
	auto early = co_await AsyncWaitSignal(ctx, set).WithTimeout(10s);
	cr_assert_eq(*early, SIGUSR1);

	kio::StopSource src;
	src.request_stop();
	auto stopped = co_await AsyncWaitSignal(ctx, set).WithStopToken(src.get_token());
	cr_assert(stopped.error() == std::errc::operation_canceled);
	auto none = co_await AsyncWaitSignal(ctx, set).WithTimeout(5ms);
	cr_assert(none.error() == std::errc::timed_out);
	co_return 1;
}

} // namespace

Test(signal, wait_for_raised_signals, .timeout = 30)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	SignalSet set{SIGUSR1, SIGUSR2};
	cr_assert_eq(ctx->RunUntilDone(Wait(*ctx, set)), 1);
}

Test(signal, bad_signal_set_throws)
{
	bool threw = false;
	try {
		SignalSet set{SIGKILL};
	} catch (const std::system_error &e) {
		threw = e.code() == std::errc::invalid_argument;
	}
	cr_assert(threw);
}
