// SPDX-License-Identifier: MIT
//
// A small stand-in for <criterion/criterion.h>, used ONLY by the TSan build:
// Criterion's runner cannot start under ThreadSanitizer (its inheritable
// arena is mapped where TSan keeps its shadow memory; upstream issue
// Snaipe/Criterion#274). It offers the subset the C++ tests use -- Test()
// with .signal/.exit_code/.timeout, cr_assert*, cr_expect*, cr_skip_test --
// and a main() that runs every test in its own forked child, one after the
// other, as Criterion does, and prints a Criterion-like synthesis line.
#ifndef KIO_CRITERION_SHIM_H
#define KIO_CRITERION_SHIM_H

#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace kxt_shim {

// Field order as in Criterion's criterion_test_extra_data, so designated
// initializers written for Criterion compile here too.
struct Opts {
	int sentinel_ = 0;
	int signal = 0;
	int exit_code = 0;
	bool disabled = false;
	const char *description = nullptr;
	double timeout = 0;
};

struct Entry {
	const char *suite;
	const char *name;
	void (*fn)();
	Opts opts;
};

inline std::vector<Entry> &Registry()
{
	static std::vector<Entry> r;
	return r;
}

struct Registrar {
	Registrar(const char *suite, const char *name, void (*fn)(), Opts o)
	{
		Registry().push_back({suite, name, fn, o});
	}
};

constexpr int kSkipCode = 77;

inline bool &ExpectFailed()
{
	static bool failed = false;
	return failed;
}

inline std::string Fmt(const char *fmt = "", ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	std::vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return buf;
}

inline void Report(const char *file, int line, const char *expr, const std::string &msg)
{
	std::fprintf(stderr, "%s:%d: Assertion failed: %s%s%s\n", file, line, expr,
		     msg.empty() ? "" : ": ", msg.c_str());
	std::fflush(stderr);
}

[[noreturn]] inline void Fail(const char *file, int line, const char *expr, const std::string &msg)
{
	Report(file, line, expr, msg);
	std::_Exit(1);
}

inline void Expect(const char *file, int line, const char *expr, const std::string &msg)
{
	Report(file, line, expr, msg);
	ExpectFailed() = true;
}

[[noreturn]] inline void Skip(const std::string &msg)
{
	std::fprintf(stderr, "skipped: %s\n", msg.c_str());
	std::fflush(stderr);
	std::_Exit(kSkipCode);
}

} // namespace kxt_shim

#define KXT_SHIM_ID(S, N, X) S##_##N##_##X

#define Test(Suite, Name, ...)                                                                \
	static void KXT_SHIM_ID(Suite, Name, impl)();                                         \
	static kxt_shim::Registrar KXT_SHIM_ID(Suite, Name, reg)(                             \
		#Suite, #Name, &KXT_SHIM_ID(Suite, Name, impl), kxt_shim::Opts{__VA_ARGS__}); \
	static void KXT_SHIM_ID(Suite, Name, impl)()

#define KXT_SHIM_CHECK(how, cond, text, ...)                                                    \
	do {                                                                                    \
		if (!(cond))                                                                    \
			kxt_shim::how(__FILE__, __LINE__, text, kxt_shim::Fmt("" __VA_ARGS__)); \
	} while (0)

#define cr_assert(c, ...) KXT_SHIM_CHECK(Fail, c, #c, __VA_ARGS__)
#define cr_assert_not(c, ...) KXT_SHIM_CHECK(Fail, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) KXT_SHIM_CHECK(Fail, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) KXT_SHIM_CHECK(Fail, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) KXT_SHIM_CHECK(Fail, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) KXT_SHIM_CHECK(Fail, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) KXT_SHIM_CHECK(Fail, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) KXT_SHIM_CHECK(Fail, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) KXT_SHIM_CHECK(Fail, (p) == nullptr, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) KXT_SHIM_CHECK(Fail, (p) != nullptr, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) \
	KXT_SHIM_CHECK(Fail, std::strcmp((a), (b)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_assert_fail(...) \
	kxt_shim::Fail(__FILE__, __LINE__, "fail", kxt_shim::Fmt("" __VA_ARGS__))
#define cr_assert_throw(stmt, type, ...)                                                \
	do {                                                                            \
		bool kxt_thrown_ = false;                                               \
		try {                                                                   \
			stmt;                                                           \
		} catch (const type &) {                                                \
			kxt_thrown_ = true;                                             \
		} catch (...) {                                                         \
		}                                                                       \
		KXT_SHIM_CHECK(Fail, kxt_thrown_, #stmt " throws " #type, __VA_ARGS__); \
	} while (0)

#define cr_expect(c, ...) KXT_SHIM_CHECK(Expect, c, #c, __VA_ARGS__)
#define cr_expect_not(c, ...) KXT_SHIM_CHECK(Expect, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_expect_eq(a, b, ...) KXT_SHIM_CHECK(Expect, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) KXT_SHIM_CHECK(Expect, (a) != (b), #a " != " #b, __VA_ARGS__)

#define cr_skip_test(...) kxt_shim::Skip(kxt_shim::Fmt("" __VA_ARGS__))

// One forked child per test, run in turn. Exit status 0 when every test
// passed or was skipped.
int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : nullptr; // "suite::name" filter
	int passed = 0, failed = 0, skipped = 0;
	for (const kxt_shim::Entry &t : kxt_shim::Registry()) {
		std::string id = std::string(t.suite) + "::" + t.name;
		if (t.opts.disabled || (only && id != only))
			continue;
		std::fflush(nullptr);
		pid_t pid = fork();
		if (pid < 0) {
			std::perror("fork");
			return 1;
		}
		if (pid == 0) {
			alarm(t.opts.timeout > 0 ? static_cast<unsigned>(t.opts.timeout + 0.999) :
						   120);
			t.fn();
			// exit(), not _Exit(): the sanitizer's exit hooks turn a
			// report into a failing status.
			std::exit(kxt_shim::ExpectFailed() ? 1 : 0);
		}
		int st = 0;
		while (waitpid(pid, &st, 0) < 0) {
		}
		bool ok;
		if (WIFEXITED(st) && WEXITSTATUS(st) == kxt_shim::kSkipCode &&
		    t.opts.exit_code != kxt_shim::kSkipCode) {
			std::printf("[SKIP] %s\n", id.c_str());
			skipped++;
			continue;
		}
		if (t.opts.signal)
			ok = WIFSIGNALED(st) && WTERMSIG(st) == t.opts.signal;
		else
			ok = WIFEXITED(st) && WEXITSTATUS(st) == t.opts.exit_code;
		if (ok) {
			passed++;
			std::printf("[PASS] %s\n", id.c_str());
		} else {
			failed++;
			if (WIFSIGNALED(st))
				std::printf("[FAIL] %s: killed by signal %d\n", id.c_str(),
					    WTERMSIG(st));
			else
				std::printf("[FAIL] %s: exit status %d\n", id.c_str(),
					    WEXITSTATUS(st));
		}
	}
	std::printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Skipped: %d\n",
		    passed + failed, passed, failed, skipped);
	return failed ? 1 : 0;
}

#endif // KIO_CRITERION_SHIM_H
