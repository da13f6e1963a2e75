// SPDX-License-Identifier: MIT
//
// Helpers shared by the Criterion tests of the C++ layer.
//
// KXT_CTX(ctx) makes an IoContext, or skips the test when the kernel gives
// no io_uring. KXT_LEAK_GUARD(name) checks at scope exit that the test left
// no fd and no thread behind (both counted in /proc/self).
#ifndef KIO_CXX_TEST_HPP
#define KIO_CXX_TEST_HPP

#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <memory>
#include <system_error>

#include <kio/kio.hpp>

namespace kxt {

inline int CountDir(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	if (!d)
		return -1;
	while (struct dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

inline int CountFds()
{
	return CountDir("/proc/self/fd") - 1;
}
inline int CountThreads()
{
	return CountDir("/proc/self/task");
}

// Threads may take a moment to vanish from /proc after join.
inline int SettledThreads(int want)
{
	int n = CountThreads();
	for (int i = 0; i < 200 && n != want; i++) {
		usleep(5000);
		n = CountThreads();
	}
	return n;
}

// TSan starts a background thread of its own with the first thread a test
// creates: the thread count only means something without it.
#if defined(__SANITIZE_THREAD__)
#define KXT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KXT_TSAN 1
#endif
#endif
#ifndef KXT_TSAN
#define KXT_TSAN 0
#endif

struct LeakGuard {
	int fds = CountFds();
	int threads = CountThreads();
	~LeakGuard()
	{
		int f = CountFds();
		cr_expect_eq(f, fds, "fd leak: %d open before, %d after", fds, f);
		if (!KXT_TSAN) {
			int t = SettledThreads(threads);
			cr_expect_eq(t, threads, "thread leak: %d before, %d after", threads, t);
		}
	}
};

inline std::unique_ptr<kio::IoContext> NewCtx(uint32_t sq = 256)
{
	try {
		return std::make_unique<kio::IoContext>(sq);
	} catch (const std::system_error &e) {
		if (e.code() == std::errc::operation_not_permitted ||
		    e.code() == std::errc::function_not_supported)
			cr_skip_test("io_uring unavailable: %s", e.what());
		throw;
	}
}

inline void Pipe(int p[2])
{
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
}

// Suspends once and comes back through the loop (a post), so other
// coroutines run in between: co_await kxt::YieldTo(ctx).
struct Yield {
	kio_ctx *ctx;
	std::coroutine_handle<> h;
	bool await_ready() const noexcept
	{
		return false;
	}
	bool await_suspend(std::coroutine_handle<> awaiting) noexcept
	{
		h = awaiting;
		return kio_ctx_post(ctx, &Resume, this) == 0;
	}
	void await_resume() const noexcept
	{
	}
	static void Resume(void *ud, int32_t res, uint32_t) noexcept
	{
		if (res == 0)
			static_cast<Yield *>(ud)->h.resume();
	}
};

inline Yield YieldTo(kio::IoContext &ctx)
{
	return Yield{ctx.Native(), {}};
}

// A C function the layer may still lack (-ENOSYS stubs): skip, not fail.
#define KXT_SKIP_IF_ENOSYS(result, what)                                                \
	do {                                                                            \
		if (!(result) && (result).error() == std::errc::function_not_supported) \
			cr_skip_test("%s: not implemented yet (ENOSYS)", what);         \
	} while (0)

} // namespace kxt

#define KXT_LEAK_GUARD() kxt::LeakGuard kxt_leak_guard_

#endif // KIO_CXX_TEST_HPP
