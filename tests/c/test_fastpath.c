/* SPDX-License-Identifier: MIT */
/*
 * The loop's fast paths against their slow twins: an op starts inline only
 * when nothing unusual is pending, and a completion is finished inline only
 * for a plain op. These tests drive the edges between the two: a full SQ
 * under SQPOLL, the op table growing while callbacks start more ops, an
 * fd-tracked op that had a timeout armed and disarmed, and the counters the
 * fast paths keep (or derive).
 */
#include "kio_test.h"

#define WAIT_MS 5000

static kio_stats stats_of(kio_ctx *ctx)
{
	kio_stats s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(kio_ctx_stats(ctx, &s, sizeof(s)), 0);
	return s;
}

static int counted;

static void count_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)ud;
	assert_int_equal(res, 0);
	assert_int_equal(flags, 0);
	counted++;
}

/* SQPOLL: the kernel thread takes SQEs on its own schedule, so kio's view
 * of the SQ head goes stale; with 8 entries, 300 NOPs fill the SQ many
 * times over and every one must still run its callback once. */
static void test_sqpoll_small_sq(void **state)
{
	(void)state;
	kio_ctx_opts opts;
	kio_ctx_opts_init(&opts, sizeof(opts));
	opts.flags = KIO_CTX_SQPOLL;
	opts.sq_entries = 8;
	opts.sqpoll_idle_ms = 20;
	kio_ctx *ctx = NULL;
	int rc = kio_ctx_create(&ctx, &opts, sizeof(opts));
	if (rc == -EPERM || rc == -ENOSYS) {
		fprintf(stderr, "SQPOLL unavailable (%s): skipping\n", kio_strerror(rc));
		skip();
	}
	assert_int_equal(rc, 0);
	enum { N = 300 };
	counted = 0;
	for (int i = 0; i < N; i++)
		assert_true(kio_nop(ctx, count_cb, NULL) >= 0);
	assert_int_equal(counted, 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(counted, N);
	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, N);
	assert_int_equal(s.ops_completed, N);
	kt_drain_destroy(ctx);
}

/* Each of the first ops' callbacks starts more ops, so the op table
 * (64 slots at first) grows while completions are being delivered. */
struct spawner {
	kio_ctx *ctx;
	int started;
	int done;
	int limit;
};

static void spawn_cb(void *ud, int32_t res, uint32_t flags)
{
	struct spawner *sp = ud;
	assert_int_equal(res, 0);
	assert_int_equal(flags, 0);
	sp->done++;
	for (int i = 0; i < 3 && sp->started < sp->limit; i++) {
		assert_true(kio_nop(sp->ctx, spawn_cb, sp) >= 0);
		sp->started++;
	}
}

static void test_growth_inside_callbacks(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct spawner sp = {ctx, 0, 0, 5000};
	for (int i = 0; i < 40; i++) {
		assert_true(kio_nop(ctx, spawn_cb, &sp) >= 0);
		sp.started++;
	}
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(sp.started, sp.limit);
	assert_int_equal(sp.done, sp.limit);
	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, sp.limit);
	assert_int_equal(s.ops_completed, sp.limit);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	/* More than the table's first 64 slots were in flight at once. */
	assert_true(s.ops_max_inflight > 64);
	kt_drain_destroy(ctx);
}

/* The peak of in-flight ops is exact even when callbacks start more ops
 * than have completed so far: 4 ops, each callback starts 3 more once. */
static int second_wave;

static void wave_cb(void *ud, int32_t res, uint32_t flags)
{
	kio_ctx *ctx = ud;
	(void)flags;
	assert_int_equal(res, 0);
	if (second_wave < 12) {
		for (int i = 0; i < 3; i++)
			assert_true(kio_nop(ctx, wave_cb, ctx) >= 0);
		second_wave += 3;
	}
}

static void test_max_inflight_exact(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	second_wave = 0;
	for (int i = 0; i < 4; i++)
		assert_true(kio_nop(ctx, wave_cb, ctx) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, 16);
	assert_int_equal(s.ops_completed, 16);
	/* 4 in flight; each of them ends (-1) and starts 3 (+3): 6, 8, 10, 12. */
	assert_int_equal(s.ops_max_inflight, 12);
	kt_drain_destroy(ctx);
}

/* Reads on one pipe end: plain fd-tracked ops finish on the fast path and
 * must drop their count, as must one whose timeout was armed and then
 * disarmed (it finishes on the slow path). kio_cancel_fd() reports the
 * count. */
static void test_fd_counts_dropped(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	char in[4];
	struct kt_rec r[4];
	assert_int_equal(write(p[1], "abcd", 4), 4);
	for (int i = 0; i < 4; i++)
		assert_true(kio_read(ctx, p[0], &in[i], 1, KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&r[i])) >= 0);
	for (int i = 0; i < 4; i++) {
		kt_run_until(ctx, &r[i].done, WAIT_MS);
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, 1);
	}
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 0);

	struct kt_rec t;
	char c;
	int64_t id = kio_read(ctx, p[0], &c, 1, KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&t));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10000 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, id, 0), 0);
	assert_int_equal(kio_ctx_run_once(ctx, 0) >= 0, 1);
	assert_int_equal(t.calls, 0);
	assert_int_equal(write(p[1], "z", 1), 1);
	kt_run_until(ctx, &t.done, WAIT_MS);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.res, 1);
	assert_int_equal(c, 'z');
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 0);
	/* The finished id is stale now. */
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	/* Pending reads are counted until they end. */
	struct kt_rec q[3];
	char buf[3];
	for (int i = 0; i < 3; i++)
		assert_true(kio_read(ctx, p[0], &buf[i], 1, KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&q[i])) >= 0);
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 3);
	for (int i = 0; i < 3; i++) {
		kt_run_until(ctx, &q[i].done, WAIT_MS);
		assert_int_equal(q[i].calls, 1);
		assert_int_equal(q[i].res, -ECANCELED);
	}
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 0);
	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_completed, s.ops_submitted);
	assert_int_equal(s.ops_cancelled, 3);
	kt_close_pipe(p);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_sqpoll_small_sq),
		KT_TEST(test_growth_inside_callbacks),
		KT_TEST(test_max_inflight_exact),
		KT_TEST(test_fd_counts_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
