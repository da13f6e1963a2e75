// SPDX-License-Identifier: MIT
//
// The log in the reference library's shapes: alog::debug/info/warn/error
// as functions, alog::start(fd) and alog::stop(), g_level with
// Level::Disabled and atomic-style store()/load(), dropped_count(), the
// LOG_BUILD_LEVEL spelling of the build-time filter, and the default
// level (WARN).
//
// Built with LOG_BUILD_LEVEL 1: debug messages are compiled out here.
#define LOG_BUILD_LEVEL 1
#include <kio/kio.hpp>

#include <criterion/criterion.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace alog = kio::alog;

namespace {

struct Captured {
	std::mutex mu;
	std::vector<std::pair<int, std::string>> messages;
};

Captured g_captured;

void Capture(void *, int level, const char *msg, size_t len)
{
	std::lock_guard lock(g_captured.mu);
	g_captured.messages.emplace_back(level, std::string(msg, len));
}

std::vector<std::pair<int, std::string>> Drain()
{
	alog::stop();
	std::lock_guard lock(g_captured.mu);
	return std::exchange(g_captured.messages, {});
}

// Everything readable from a non-blocking pipe right now.
std::string ReadAvailable(int fd)
{
	std::string out;
	char buf[512];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		out.append(buf, static_cast<size_t>(n));
	return out;
}

} // namespace

Test(log_reference, default_level_is_warn)
{
	if (getenv("KIO_LOG_LEVEL"))
		cr_skip_test("KIO_LOG_LEVEL is set in the environment");
	cr_assert_eq(kio_log_level(), KIO_LOG_WARN);
	cr_assert(alog::g_level == alog::Level::Warn);
	kio_log_set_handler(&Capture, nullptr);
	alog::info("not shown at the default level");
	alog::warn("shown at the default level");
	auto got = Drain();
	cr_assert_eq(got.size(), 1u);
	cr_assert_eq(got[0].second, "shown at the default level");
	kio_log_set_handler(nullptr, nullptr);
}

Test(log_reference, functions_log_at_their_level)
{
	kio_log_set_handler(&Capture, nullptr);
	alog::g_level = alog::Level::Debug;
	int evaluated = 0;
	alog::debug("compiled out by LOG_BUILD_LEVEL {}", ++evaluated);
	alog::info("connection from {}:{}", "127.0.0.1", 8080);
	alog::warn("high latency: {}ms", 12.5);
	alog::error("failed to open file: {}", std::string("/nowhere"));
	auto got = Drain();
	cr_assert_eq(got.size(), 3u);
	cr_assert_eq(got[0].first, KIO_LOG_INFO);
	cr_assert_eq(got[0].second, "connection from 127.0.0.1:8080");
	cr_assert_eq(got[1].first, KIO_LOG_WARN);
	cr_assert_eq(got[1].second, "high latency: 12.5ms");
	cr_assert_eq(got[2].first, KIO_LOG_ERROR);
	cr_assert_eq(got[2].second, "failed to open file: /nowhere");
	// A function's arguments are evaluated even when its body is compiled
	// out (the ALOG_ macros do not evaluate theirs).
	cr_assert_eq(evaluated, 1);
	kio_log_set_handler(nullptr, nullptr);
}

Test(log_reference, disabled_silences_everything)
{
	kio_log_set_handler(&Capture, nullptr);
	alog::g_level = alog::Level::Disabled;
	cr_assert(alog::g_level == alog::Level::Disabled);
	cr_assert(alog::g_level.load() == alog::Level::Disabled);
	cr_assert(!alog::Enabled(alog::Level::Error));
	cr_assert(!alog::Enabled(alog::Level::Fatal));
	alog::error("not shown");
	ALOG_ERROR("not shown either: {}", 1);
	cr_assert(Drain().empty());

	alog::g_level.store(alog::Level::Warn);
	cr_assert(alog::g_level.load() == alog::Level::Warn);
	cr_assert_eq(kio_log_level(), KIO_LOG_WARN);
	alog::info("filtered");
	alog::warn("back on");
	auto got = Drain();
	cr_assert_eq(got.size(), 1u);
	cr_assert_eq(got[0].second, "back on");
	kio_log_set_handler(nullptr, nullptr);
}

// Disabled does not stop ALOG_FATAL from ending the program; it only
// keeps it quiet.
Test(log_reference, fatal_still_aborts_when_disabled, .signal = SIGABRT, .timeout = 20)
{
	alog::g_level = alog::Level::Disabled;
	ALOG_FATAL("unrecoverable");
}

Test(log_reference, start_sends_lines_to_a_descriptor_and_stop_flushes, .timeout = 20)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	alog::g_level = alog::Level::Info;
	alog::start(p[1]);
	alog::info("to the pipe {}", 1);
	ALOG_ERROR("and {}", "this");
	alog::stop();
	cr_assert_eq(ReadAvailable(p[0]), "kio: INFO: to the pipe 1\nkio: ERROR: and this\n");

	// Logging goes on after stop().
	alog::warn("after stop");
	alog::stop();
	cr_assert_eq(ReadAvailable(p[0]), "kio: WARN: after stop\n");

	// start() with stderr keeps the handler in place.
	alog::start();
	alog::warn("still the pipe");
	alog::stop();
	cr_assert_eq(ReadAvailable(p[0]), "kio: WARN: still the pipe\n");

	kio_log_set_handler(nullptr, nullptr);
	close(p[0]);
	close(p[1]);
}

Test(log_reference, dropped_count_is_the_c_counter)
{
	cr_assert_eq(alog::dropped_count(), kio_log_dropped());
	cr_assert_eq(alog::dropped_count(), alog::Dropped());
}
