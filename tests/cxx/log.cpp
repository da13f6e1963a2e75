// SPDX-License-Identifier: MIT
// ALOG_*: "{}" formatting, its documented mismatch behaviour, levels (run
// time and build time), delivery to kio's log handler, ALOG_FATAL.
//
// Built with KIO_LOG_BUILD_LEVEL 1: ALOG_DEBUG is compiled out here.
#define KIO_LOG_BUILD_LEVEL 1
#include <kio/log.hpp>

#include <criterion/criterion.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>
#include <vector>

using kio::alog::Format;

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

void StartCapture()
{
	kio_log_set_handler(&Capture, nullptr);
	kio_log_set_level(KIO_LOG_DEBUG);
}

std::vector<std::pair<int, std::string>> Drain()
{
	cr_assert(kio::alog::Flush(), "kio_log_flush timed out");
	std::lock_guard lock(g_captured.mu);
	return std::exchange(g_captured.messages, {});
}

struct Point {
	int x, y;
};

std::ostream &operator<<(std::ostream &os, const Point &p)
{
	return os << '(' << p.x << ',' << p.y << ')';
}

enum class Color {
	Red = 7
};

} // namespace

Test(log, substitutes_each_placeholder_in_order)
{
	std::string s = "str";
	std::string_view sv = "view";
	cr_assert_eq(Format("{} {} {} {} {}", 42, -7, s, sv, "lit"), "42 -7 str view lit");
	cr_assert_eq(Format("{}/{}/{}", true, false, 'c'), "true/false/c");
	cr_assert_eq(Format("u64 {} i8 {}", UINT64_MAX, static_cast<signed char>(-5)),
		     "u64 18446744073709551615 i8 -5");
	cr_assert_eq(Format("{} {}", 1.5, 0.1), "1.5 0.1", "shortest round-trip form");
	cr_assert_eq(Format("{}", Color::Red), "7");
	cr_assert_eq(Format("{}", Point{1, 2}), "(1,2)", "operator<< fallback");
	cr_assert_eq(Format("{}", std::make_error_code(std::errc::timed_out)),
		     std::make_error_code(std::errc::timed_out).message());
	const char *null_str = nullptr;
	cr_assert_eq(Format("[{}]", null_str), "[(null)]");
	cr_assert_eq(Format("no placeholders"), "no placeholders");
}

Test(log, pointers_print_as_hex)
{
	int x = 0;
	char expect[32];
	snprintf(expect, sizeof(expect), "%p", static_cast<void *>(&x));
	cr_assert_eq(Format("{}", &x), std::string(expect));
	cr_assert_eq(Format("{}", nullptr), "nullptr");
}

Test(log, specs_hex_and_precision)
{
	cr_assert_eq(Format("{:x} {:X} {:x}", 255, 48879u, 'A'), "ff BEEF 41");
	cr_assert_eq(Format("{:.2} {:.0} {:.3f}", 3.14159, 2.5, 1.0), "3.14 2 1.000");
	cr_assert_eq(Format("{:>10}", 5), "5", "unknown spec: printed as {}");
	cr_assert_eq(Format("{0}", 5), "5", "an index counts as an ignored spec");
}

Test(log, double_braces_escape)
{
	cr_assert_eq(Format("{{}} {{{}}}", 1), "{} {1}");
	cr_assert_eq(Format("}}{{"), "}{");
}

Test(log, too_few_arguments_leave_placeholders)
{
	cr_assert_eq(Format("a={} b={} c={:x}", 1), "a=1 b={} c={:x}");
	cr_assert_eq(Format("{}"), "{}");
}

Test(log, too_many_arguments_are_appended)
{
	cr_assert_eq(Format("x={}", 1, 2, "three"), "x=1 2 three");
	cr_assert_eq(Format("plain", 9), "plain 9");
}

Test(log, stray_braces_are_literal)
{
	cr_assert_eq(Format("open { never closed", 1), "open { never closed 1");
	cr_assert_eq(Format("a } b {}", 2), "a } b 2");
}

Test(log, long_messages_are_cut_with_an_ellipsis)
{
	std::string big(3000, 'y');
	char buf[64];
	size_t n = kio::alog::FormatTo(buf, sizeof(buf), "{}{}", big, "tail");
	cr_assert_eq(n, sizeof(buf));
	cr_assert_eq(std::string(buf + 61, 3), "...");
	cr_assert_eq(buf[0], 'y');
	std::string full = Format("{}", big);
	cr_assert_eq(full.size(), static_cast<size_t>(KIO_LOG_MAX_MESSAGE));
	cr_assert_eq(full.substr(full.size() - 3), "...");
	// Exactly full: not marked.
	cr_assert_eq(kio::alog::FormatTo(buf, 4, "{}", "abcd"), 4u);
	cr_assert_eq(std::string(buf, 4), "abcd");
}

Test(log, messages_reach_the_handler_with_their_level, .timeout = 20)
{
	StartCapture();
	ALOG_INFO("conn {}:{}", "127.0.0.1", 8080);
	ALOG_WARN("latency {}ms", 12);
	ALOG_ERROR("failed: {}", "path");
	auto got = Drain();
	cr_assert_eq(got.size(), 3u);
	cr_assert_eq(got[0].first, KIO_LOG_INFO);
	cr_assert_eq(got[0].second, "conn 127.0.0.1:8080");
	cr_assert_eq(got[1].first, KIO_LOG_WARN);
	cr_assert_eq(got[1].second, "latency 12ms");
	cr_assert_eq(got[2].first, KIO_LOG_ERROR);
	kio_log_set_handler(nullptr, nullptr);
}

Test(log, runtime_level_filters_before_formatting, .timeout = 20)
{
	StartCapture();
	kio::alog::SetLevel(kio::alog::Level::Error);
	cr_assert(kio::alog::GetLevel() == kio::alog::Level::Error);
	int evaluated = 0;
	ALOG_INFO("hidden {}", ++evaluated);
	ALOG_WARN("hidden {}", ++evaluated);
	cr_assert_eq(evaluated, 0, "arguments of a filtered message are not evaluated");
	ALOG_ERROR("shown {}", ++evaluated);
	cr_assert_eq(evaluated, 1);
	auto got = Drain();
	cr_assert_eq(got.size(), 1u);
	cr_assert_eq(got[0].second, "shown 1");
	kio_log_set_handler(nullptr, nullptr);
}

Test(log, build_level_compiles_debug_out, .timeout = 20)
{
	StartCapture(); // run-time level DEBUG: only the build level can stop it
	int evaluated = 0;
	ALOG_DEBUG("compiled out {}", ++evaluated);
	ALOG_INFO("kept {}", evaluated);
	auto got = Drain();
	cr_assert_eq(evaluated, 0);
	cr_assert_eq(got.size(), 1u);
	cr_assert_eq(got[0].second, "kept 0");
	kio_log_set_handler(nullptr, nullptr);
}

Test(log, reference_style_level_variable)
{
	kio::alog::g_level = kio::alog::Level::Warn;
	cr_assert_eq(kio_log_level(), KIO_LOG_WARN);
	kio_log_set_level(KIO_LOG_ERROR);
	cr_assert(kio::alog::g_level == kio::alog::Level::Error, "reads the live level");
	kio::alog::g_colors = true; // accepted; the default sink stays plain
	cr_assert(kio::alog::Enabled(kio::alog::Level::Fatal));
	cr_assert_not(kio::alog::Enabled(kio::alog::Level::Warn));
}

static void ExitOnFatal(void *, int level, const char *msg, size_t len)
{
	// exit_group directly: sanitizer runtimes hook _exit() and may take
	// longer than ALOG_FATAL's one-second wait before the abort.
	if (level == KIO_LOG_FATAL && std::string(msg, len) == "giving up: 3")
		syscall(SYS_exit_group, 42);
}

// The handler sees the message before the process aborts: it exits 42.
Test(log, fatal_is_delivered_before_abort, .exit_code = 42, .timeout = 20)
{
	kio_log_set_handler(&ExitOnFatal, nullptr);
	ALOG_FATAL("giving up: {}", 3);
}

Test(log, fatal_aborts, .signal = SIGABRT, .timeout = 20)
{
	kio_log_set_handler(&Capture, nullptr);
	ALOG_FATAL("unrecoverable");
}
