/* SPDX-License-Identifier: MIT */
/*
 * kio_ctx_stats: counters follow what the ops did, and the size-versioned
 * copy fills only what the caller's struct has, zeroing anything past the
 * library's own struct.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <poll.h>

#define WAIT_MS 5000
#define SENTINEL 0xA5

static kio_stats stats_of(kio_ctx *ctx)
{
	kio_stats s;
	memset(&s, SENTINEL, sizeof(s));
	assert_int_equal(kio_ctx_stats(ctx, &s, sizeof(s)), 0);
	return s;
}

static void test_stats_fresh(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, 0);
	assert_int_equal(s.ops_completed, 0);
	assert_int_equal(s.ops_errors, 0);
	assert_int_equal(s.ops_timeouts, 0);
	assert_int_equal(s.ops_cancelled, 0);
	assert_int_equal(s.ops_max_inflight, 0);
	kt_drain_destroy(ctx);
}

static void test_stats_nops(void **state)
{
	(void)state;
	enum { N = 100 };
	kio_ctx *ctx = kt_ctx_new();
	static struct kt_rec r[N];

	for (int i = 0; i < N; i++)
		assert_true(kio_nop(ctx, kt_rec_cb, kt_rec_reset(&r[i])) >= 0);
	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, N);
	assert_int_equal(s.ops_completed, 0);
	assert_int_equal(kio_ctx_pending(ctx), N);

	/* Refused calls are not ops. */
	assert_int_equal(kio_nop(ctx, NULL, NULL), -EINVAL);
	assert_int_equal(stats_of(ctx).ops_submitted, N);

	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(r[i].calls, 1);
	s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, N);
	assert_int_equal(s.ops_completed, N);
	assert_int_equal(s.ops_errors, 0);
	assert_int_equal(s.ops_timeouts, 0);
	assert_int_equal(s.ops_cancelled, 0);
	assert_int_equal(s.ops_max_inflight, N);
	assert_true(s.loop_iterations > 0);
	assert_true(s.enter_calls > 0);

	/* Later rounds add to the loop counters, never take away. */
	uint64_t loops = s.loop_iterations, enters = s.enter_calls;
	struct kt_rec one;
	assert_true(kio_nop(ctx, kt_rec_cb, kt_rec_reset(&one)) >= 0);
	kt_run_until(ctx, &one.done, WAIT_MS);
	s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, N + 1);
	assert_int_equal(s.ops_completed, N + 1);
	assert_true(s.loop_iterations > loops);
	assert_true(s.enter_calls >= enters);
	assert_int_equal(s.ops_max_inflight, N);

	kt_drain_destroy(ctx);
}

static void test_stats_errors(void **state)
{
	(void)state;
	enum { N = 3 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r[N];

	/* Closing an fd that is not open: the kernel's -EBADF counts as an error. */
	errno = 0;
	assert_int_equal(fcntl(9999, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	for (int i = 0; i < N; i++)
		assert_true(kio_close(ctx, 9999, kt_rec_cb, kt_rec_reset(&r[i])) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(r[i].res, -EBADF);

	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, N);
	assert_int_equal(s.ops_completed, N);
	assert_int_equal(s.ops_errors, N);
	assert_int_equal(s.ops_cancelled, 0);
	assert_int_equal(s.ops_timeouts, 0);
	kt_drain_destroy(ctx);
}

static void test_stats_cancels(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec a, b, c;

	int64_t ia = kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, kt_rec_reset(&a));
	int64_t ib = kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, kt_rec_reset(&b));
	assert_true(ia >= 0 && ib >= 0);
	assert_true(kio_nop(ctx, kt_rec_cb, kt_rec_reset(&c)) >= 0);
	assert_int_equal(kio_op_cancel(ctx, ia), 0);
	assert_int_equal(kio_op_cancel(ctx, ib), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(a.res, -ECANCELED);
	assert_int_equal(b.res, -ECANCELED);
	assert_int_equal(c.res, 0);

	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, 3);
	assert_int_equal(s.ops_completed, 3);
	assert_int_equal(s.ops_cancelled, 2);
	assert_int_equal(s.ops_errors, 0);
	assert_int_equal(s.ops_timeouts, 0);
	kt_drain_destroy(ctx);
}

static void test_stats_timeouts(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* Nobody writes: the poll can only end by its timeout. */
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10 * KT_MS), 0);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ETIMEDOUT);

	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, 1);
	assert_int_equal(s.ops_completed, 1);
	assert_int_equal(s.ops_timeouts, 1);
	assert_int_equal(s.ops_cancelled, 0);
	assert_int_equal(s.ops_errors, 0);

	assert_int_equal(close(p[0]), 0);
	assert_int_equal(close(p[1]), 0);
	kt_drain_destroy(ctx);
}

/* Some traffic so that the counters are not all zero. */
static void make_traffic(kio_ctx *ctx)
{
	struct kt_rec r[5];
	for (int i = 0; i < 4; i++)
		assert_true(kio_nop(ctx, kt_rec_cb, kt_rec_reset(&r[i])) >= 0);
	assert_true(kio_close(ctx, 9999, kt_rec_cb, kt_rec_reset(&r[4])) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(r[4].res, -EBADF);
}

static void check_prefix(kio_ctx *ctx, size_t out_size)
{
	unsigned char buf[sizeof(kio_stats) + 64];
	kio_stats full = stats_of(ctx);

	memset(buf, SENTINEL, sizeof(buf));
	assert_int_equal(kio_ctx_stats(ctx, (kio_stats *)(void *)buf, out_size), 0);
	assert_memory_equal(buf, &full, out_size);
	for (size_t i = out_size; i < sizeof(buf); i++)
		if (buf[i] != SENTINEL)
			fail_msg("out_size %zu: byte %zu was written", out_size, i);
}

static void test_stats_smaller_size_fills_prefix(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	make_traffic(ctx);
	assert_true(stats_of(ctx).ops_submitted > 0);

	/* An older caller's struct that ends before ops_errors. */
	check_prefix(ctx, offsetof(kio_stats, ops_errors));
	check_prefix(ctx, sizeof(uint64_t));
	check_prefix(ctx, sizeof(kio_stats) - sizeof(uint64_t));
	check_prefix(ctx, 3);
	check_prefix(ctx, 0);
	kt_drain_destroy(ctx);
}

static void test_stats_larger_size_zeroes_tail(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	unsigned char buf[sizeof(kio_stats) + 40];
	make_traffic(ctx);
	kio_stats full = stats_of(ctx);

	memset(buf, SENTINEL, sizeof(buf));
	/* A newer caller's struct: the fields this library lacks read as 0. */
	assert_int_equal(kio_ctx_stats(ctx, (kio_stats *)(void *)buf, sizeof(buf) - 8), 0);
	assert_memory_equal(buf, &full, sizeof(kio_stats));
	for (size_t i = sizeof(kio_stats); i < sizeof(buf) - 8; i++)
		if (buf[i] != 0)
			fail_msg("byte %zu past the library's struct is 0x%02x, not 0", i, buf[i]);
	/* ...and nothing past out_size is touched. */
	for (size_t i = sizeof(buf) - 8; i < sizeof(buf); i++)
		assert_int_equal(buf[i], SENTINEL);
	kt_drain_destroy(ctx);
}

static void test_stats_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_stats s;
	memset(&s, SENTINEL, sizeof(s));
	assert_int_equal(kio_ctx_stats(NULL, &s, sizeof(s)), -EINVAL);
	assert_int_equal(kio_ctx_stats(ctx, NULL, sizeof(s)), -EINVAL);
	assert_int_equal(kio_ctx_stats(ctx, NULL, 0), -EINVAL);
	assert_int_equal(kio_ctx_stats(NULL, NULL, 0), -EINVAL);
	/* A refused call leaves out alone. */
	unsigned char *p = (unsigned char *)&s;
	for (size_t i = 0; i < sizeof(s); i++)
		assert_int_equal(p[i], SENTINEL);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_stats_fresh),
		KT_TEST(test_stats_nops),
		KT_TEST(test_stats_errors),
		KT_TEST(test_stats_cancels),
		KT_TEST(test_stats_timeouts),
		KT_TEST(test_stats_smaller_size_fills_prefix),
		KT_TEST(test_stats_larger_size_zeroes_tail),
		KT_TEST(test_stats_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
