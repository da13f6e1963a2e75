/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the CMocka tests of the C ABI.
 *
 * Every test is wrapped in KT_TEST (or calls kt_leak_begin/kt_leak_end
 * itself) so each test ends by proving that no fd and no thread leaked, and tests use kt_ctx_new() so a machine without
 * io_uring skips (exit 77) instead of failing.
 */
#ifndef KIO_TEST_H
#define KIO_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <kio/kio.h>

#define KT_SKIP 77

static inline uint64_t kt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int kt_count_dir(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Open fds of this process (the count includes none of opendir's own). */
static inline int kt_count_fds(void) { return kt_count_dir("/proc/self/fd") - 1; }

/*
 * Threads of this process, leaving out kio's log thread ("kio-log"): the
 * first message the library or a test logs starts it, and it stays until
 * exit by design (kio_log_write(3)), so it is never a leak. A thread that
 * exits while being counted is not counted.
 */
static inline int kt_threads_named(FILE *names)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		int named = fgets(comm, sizeof(comm), f) != NULL;
		if (names && named)
			fprintf(names, "thread %s: %s", e->d_name, comm);
		/* kio's log thread lives as long as the process; the kernel's
		 * io_uring workers (iou-wrk-*, iou-sqp-*) belong to the task, and
		 * kernels before 6.6 or so keep one alive after its ring is gone. */
		if (!named || (strcmp(comm, "kio-log\n") != 0 && strncmp(comm, "iou-", 4) != 0))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* The count alone; kt_threads_named(stderr) also names every thread, for
 * a check that failed. */
static inline int kt_count_threads(void)
{
	return kt_threads_named(NULL);
}

/* Creates a ctx with default options; exits 77 when the kernel has no io_uring for us. */
static inline kio_ctx *kt_ctx_new(void)
{
	kio_ctx *ctx = NULL;
	int rc = kio_ctx_create(&ctx, NULL, 0);
	if (rc == -EPERM || rc == -ENOSYS) {
		fprintf(stderr, "io_uring unavailable (%s): skipping\n", kio_strerror(rc));
		exit(KT_SKIP);
	}
	assert_int_equal(rc, 0);
	assert_non_null(ctx);
	return ctx;
}

#define KT_MS 1000000ull

/* A pipe whose fds do not leak into children; fails the test if it cannot. */
static inline void kt_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
}

/* Closes both ends; an end already closed by the test is marked -1. */
static inline void kt_close_pipe(int p[2])
{
	if (p[0] >= 0)
		assert_int_equal(close(p[0]), 0);
	if (p[1] >= 0)
		assert_int_equal(close(p[1]), 0);
}

/* Runs ctx for about ms milliseconds (bounded), whatever happens. */
static inline void kt_run_for(kio_ctx *ctx, uint64_t ms)
{
	uint64_t end = kt_now_ns() + ms * KT_MS;
	for (uint64_t now = kt_now_ns(); now < end; now = kt_now_ns())
		assert_true(kio_ctx_run_once(ctx, (int64_t)(end - now)) >= 0);
}

/* Runs ctx until *flag becomes non-zero; fails the test after timeout_ms. */
static inline void kt_run_until(kio_ctx *ctx, const volatile int *flag, int64_t timeout_ms)
{
	uint64_t deadline = kt_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (!*flag) {
		uint64_t now = kt_now_ns();
		if (now >= deadline)
			fail_msg("condition not reached within %lld ms", (long long)timeout_ms);
		int rc = kio_ctx_run_once(ctx, (int64_t)(deadline - now));
		assert_true(rc >= 0);
	}
}

/* Runs ctx until nothing is pending, then destroys it. */
static inline void kt_drain_destroy(kio_ctx *ctx)
{
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kio_ctx_destroy(ctx);
}

/* What a callback saw: use kt_rec_cb with a struct kt_rec as user_data. */
struct kt_rec {
	int calls;       /* all callbacks */
	int finals;      /* callbacks without KIO_F_MORE */
	int32_t res;     /* res of the last callback */
	uint32_t flags;  /* flags of the last callback */
	int done;        /* set by the final callback */
	pthread_t thread;
};

static inline void kt_rec_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct kt_rec *r = (struct kt_rec *)user_data;
	r->calls++;
	r->res = res;
	r->flags = flags;
	r->thread = pthread_self();
	if (!(flags & KIO_F_MORE)) {
		r->finals++;
		r->done = 1;
	}
}

/* Resets r and hands it over as user_data. */
static inline struct kt_rec *kt_rec_reset(struct kt_rec *r)
{
	memset(r, 0, sizeof(*r));
	return r;
}

/*
 * id is what an op call just returned: it must be an op id, and the
 * callback must not have run inside the call. Runs ctx until the callback
 * ran once, without KIO_F_MORE, on this thread; returns its res.
 */
static inline int32_t kt_await_op(kio_ctx *ctx, int64_t id, struct kt_rec *r)
{
	if (id < 0)
		fail_msg("op did not start: %lld (%s)", (long long)id, kio_strerror((int)id));
	assert_int_equal(r->calls, 0);
	kt_run_until(ctx, &r->done, 5000);
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->finals, 1);
	assert_int_equal(r->flags & KIO_F_MORE, 0);
	assert_true(pthread_equal(r->thread, pthread_self()));
	return r->res;
}

/* Leak check around a test: fds and threads must be back where they were. */
struct kt_leak {
	int fds;
	int threads;
};

/* TSan starts a helper thread of its own at the first pthread_create():
 * let that happen before the baseline, or it reads as a leaked thread. */
#if defined(__SANITIZE_THREAD__)
#define KT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KT_TSAN 1
#endif
#endif

static inline void *kt_thread_noop(void *arg) { return arg; }

static inline void kt_leak_begin(struct kt_leak *l)
{
#ifdef KT_TSAN
	pthread_t t;
	if (pthread_create(&t, NULL, kt_thread_noop, NULL) == 0)
		pthread_join(t, NULL);
#endif
	l->fds = kt_count_fds();
	l->threads = kt_count_threads();
}

static inline void kt_leak_end(const struct kt_leak *l)
{
	/* Threads that exited may take a moment to leave /proc/self/task: the
	 * kernel's io_uring workers (iou-wrk-*) of a destroyed ring exit on their
	 * own schedule, later still on a loaded machine. Only a count that stays
	 * off until the deadline is a leak. */
	uint64_t deadline = kt_now_ns() + 5000000000ull;
	while (kt_count_threads() != l->threads && kt_now_ns() < deadline)
		usleep(1000);
	if (kt_count_threads() != l->threads)
		kt_threads_named(stderr);
	assert_int_equal(kt_count_fds(), l->fds);
	assert_int_equal(kt_count_threads(), l->threads);
}

/* Per-test leak check: pass as the setup/teardown of cmocka_unit_test_setup_teardown. */
static inline int kt_setup(void **state)
{
	struct kt_leak *l = (struct kt_leak *)malloc(sizeof(*l));
	if (!l)
		return -1;
	kt_leak_begin(l);
	*state = l;
	return 0;
}

static inline int kt_teardown(void **state)
{
	struct kt_leak *l = (struct kt_leak *)*state;
	kt_leak_end(l);
	free(l);
	return 0;
}

#define KT_TEST(fn) cmocka_unit_test_setup_teardown(fn, kt_setup, kt_teardown)

/* A temporary directory, removed by kt_tmpdir_remove(); path owned by the caller. */
static inline char *kt_tmpdir(void)
{
	char tmpl[] = "/tmp/kio-test-XXXXXX";
	char *p = mkdtemp(tmpl);
	assert_non_null(p);
	return strdup(p);
}

static inline void kt_tmpdir_remove(char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

/*
 * Runs fn in a child process and checks that it is stopped by kio's misuse
 * check: killed by SIGABRT after printing want on stderr (kio built with
 * assertions), or, under a sanitizer, by the sanitizer's own report. In a build with NDEBUG the check logs and returns instead:
 * then the child must exit 0. The child never hangs the test: it is killed
 * after 10 s, and that fails.
 */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
static inline void kt_expect_misuse_caught(void (*fn)(void), const char *want)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The test runner catches SIGABRT to report a failed test; the
		 * child must die of it instead. */
		signal(SIGABRT, SIG_DFL);
		sigset_t abrt;
		sigemptyset(&abrt);
		sigaddset(&abrt, SIGABRT);
		sigprocmask(SIG_UNBLOCK, &abrt, NULL);
		dup2(p[1], 2);
		fn();
		_exit(0);
	}
	close(p[1]);
	char out[8192];
	size_t len = 0;
	uint64_t end = kt_now_ns() + 10000 * KT_MS;
	for (;;) {
		struct pollfd pfd = {p[0], POLLIN, 0};
		int64_t left = (int64_t)(end - kt_now_ns()) / (int64_t)KT_MS;
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = read(p[0], out + len, sizeof(out) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = 0;
	close(p[0]);
	/* Its stderr closes a moment before it can be reaped. */
	int status = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && kt_now_ns() < end) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("the misuse hung (killed after 10 s); stderr: %s", out);
	}
#ifdef NDEBUG
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the misuse check should return in an NDEBUG build; stderr: %s", out);
#else
	/* Under a sanitizer, its own report of the use after free (or its
	 * refusal to start threads in a fork child) comes first: fine too. */
	int asan = strstr(out, "Sanitizer") != NULL && status != 0;
	if (!asan && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
		fail_msg("not stopped by SIGABRT (status %#x); stderr: %s", status, out);
	if (!asan && !strstr(out, want))
		fail_msg("no \"%s\" on stderr: %s", want, out);
#endif
}

#endif /* KIO_TEST_H */
