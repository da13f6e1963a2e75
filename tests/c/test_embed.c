/* SPDX-License-Identifier: MIT */
/*
 * Embedding: a host loop that only poll(2)s kio_ctx_fd() and calls
 * kio_ctx_run_once(ctx, 0) when it is readable must see every kind of work
 * kio can have: timers, completions, posts from other threads.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <poll.h>

/*
 * The host loop: never a blocking kio call. Returns the number of
 * kio_ctx_run_once() rounds it ran; fails the test after timeout_ms.
 */
static int host_loop_until(kio_ctx *ctx, const volatile int *flag, int64_t timeout_ms)
{
	int fd = kio_ctx_fd(ctx);
	assert_true(fd >= 0);
	uint64_t deadline = kt_now_ns() + (uint64_t)timeout_ms * KT_MS;
	int rounds = 0;
	while (!*flag) {
		uint64_t now = kt_now_ns();
		if (now >= deadline)
			fail_msg("host loop: not done within %lld ms", (long long)timeout_ms);
		int wait_ms = (int)((deadline - now) / KT_MS) + 1;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, wait_ms);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0)
			continue;
		assert_false(pfd.revents & (POLLERR | POLLNVAL));
		assert_true(pfd.revents & POLLIN);
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
		rounds++;
	}
	return rounds;
}

static void test_embed_fd_owned_and_stable(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int fd1 = kio_ctx_fd(ctx);
	assert_true(fd1 >= 0);
	int fd2 = kio_ctx_fd(ctx);
	assert_int_equal(fd1, fd2);
	assert_true(fcntl(fd1, F_GETFD) >= 0);
	/* Owned by ctx: kio_ctx_destroy() closes it (the leak check proves it). */
	kio_ctx_destroy(ctx);
}

static void test_embed_sleep(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	(void)kio_ctx_fd(ctx);
	struct kt_rec r = {0};
	uint64_t t0 = kt_now_ns();
	assert_true(kio_sleep(ctx, 20 * KT_MS, kt_rec_cb, &r) >= 0);
	host_loop_until(ctx, &r.done, 5000);
	uint64_t dt = kt_now_ns() - t0;
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 0);
	assert_true(dt >= 20 * KT_MS);
	assert_true(dt < 2000 * KT_MS);
	kt_drain_destroy(ctx);
}

static void test_embed_sleep_fd_first(void **state)
{
	(void)state;
	/* The fd asked for after the timer was armed must still carry it. */
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r = {0};
	uint64_t t0 = kt_now_ns();
	assert_true(kio_sleep(ctx, 20 * KT_MS, kt_rec_cb, &r) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	host_loop_until(ctx, &r.done, 5000);
	assert_true(kt_now_ns() - t0 >= 20 * KT_MS);
	assert_int_equal(r.calls, 1);
	kt_drain_destroy(ctx);
}

static void test_embed_nop(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	(void)kio_ctx_fd(ctx);
	struct kt_rec r = {0};
	assert_true(kio_nop(ctx, kt_rec_cb, &r) >= 0);
	host_loop_until(ctx, &r.done, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 0);
	kt_drain_destroy(ctx);
}

struct poster {
	kio_ctx *ctx;
	void *ud;
	int rc;
};

static void *poster_main(void *arg)
{
	struct poster *p = arg;
	p->rc = kio_ctx_post(p->ctx, kt_rec_cb, p->ud);
	return NULL;
}

static void test_embed_post_from_thread(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	(void)kio_ctx_fd(ctx);
	/* Settle first so only the post can make the fd readable. */
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	struct kt_rec r = {0};
	struct poster p = {.ctx = ctx, .ud = &r, .rc = 1};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, poster_main, &p), 0);
	host_loop_until(ctx, &r.done, 5000);
	pthread_join(th, NULL);
	assert_int_equal(p.rc, 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 0);
	assert_true(pthread_equal(r.thread, pthread_self()));
	kt_drain_destroy(ctx);
}

struct writer {
	int fd;
	ssize_t rc;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	w->rc = write(w->fd, "hello", 5);
	return NULL;
}

static void test_embed_pipe_read(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	(void)kio_ctx_fd(ctx);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char buf[16] = {0};
	struct kt_rec r = {0};
	assert_true(kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, kt_rec_cb, &r) >= 0);
	/* Let the host loop hand the read to the kernel before the data exists. */
	struct pollfd pfd = {.fd = kio_ctx_fd(ctx), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);

	struct writer w = {.fd = p[1]};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
	host_loop_until(ctx, &r.done, 5000);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, 5);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 5);
	assert_memory_equal(buf, "hello", 5);
	kt_drain_destroy(ctx);
	close(p[0]);
	close(p[1]);
}

static void test_embed_cancel_kernel_op(void **state)
{
	(void)state;
	/* A cancel asked between rounds must make the fd readable by itself. */
	kio_ctx *ctx = kt_ctx_new();
	int fd = kio_ctx_fd(ctx);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	char buf[16];
	struct kt_rec r = {0};
	int64_t id = kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, kt_rec_cb, &r);
	assert_true(id >= 0);
	/* Hand the read to the kernel, then run until the host loop is idle. */
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	while (poll(&pfd, 1, 0) == 1)
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);

	assert_int_equal(kio_op_cancel(ctx, id), 0);
	host_loop_until(ctx, &r.done, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ECANCELED);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_embed_fd_quiet_when_idle(void **state)
{
	(void)state;
	/* A host loop must not spin: with nothing to do the fd stops being readable. */
	kio_ctx *ctx = kt_ctx_new();
	int fd = kio_ctx_fd(ctx);
	struct kt_rec r = {0};
	assert_true(kio_nop(ctx, kt_rec_cb, &r) >= 0);
	host_loop_until(ctx, &r.done, 5000);
	for (int i = 0; i < 4; i++)
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_embed_fd_owned_and_stable), KT_TEST(test_embed_sleep),
		KT_TEST(test_embed_sleep_fd_first),      KT_TEST(test_embed_nop),
		KT_TEST(test_embed_post_from_thread),    KT_TEST(test_embed_pipe_read),
		KT_TEST(test_embed_fd_quiet_when_idle), KT_TEST(test_embed_cancel_kernel_op),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
