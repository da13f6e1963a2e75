/* SPDX-License-Identifier: MIT */
/*
 * kio_ctx_stats: counters follow what the ops did, and the size-versioned
 * copy fills only what the caller's struct has, zeroing anything past the
 * library's own struct.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

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
	/* All but the time of the reading, which moves on. */
	assert_memory_equal(buf, &full, offsetof(kio_stats, snapshot_ns));
	kio_stats got;
	memcpy(&got, buf, sizeof(got));
	assert_true(got.snapshot_ns >= full.snapshot_ns);
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

static kio_ctx *ctx_with(uint32_t flags, uint32_t sq, uint32_t cq)
{
	kio_ctx_opts o;
	kio_ctx *ctx = NULL;
	kio_ctx_opts_init(&o, sizeof(o));
	o.flags = flags;
	if (sq)
		o.sq_entries = sq;
	if (cq)
		o.cq_entries = cq;
	int rc = kio_ctx_create(&ctx, &o, sizeof(o));
	if (rc == -EPERM || rc == -ENOSYS) {
		fprintf(stderr, "io_uring unavailable (%s): skipping\n", kio_strerror(rc));
		exit(KT_SKIP);
	}
	assert_int_equal(rc, 0);
	return ctx;
}

/* ops_inflight is what was started less what completed, at any point. */
static void test_stats_inflight(void **state)
{
	(void)state;
	enum { N = 5 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r[N], sleeper;

	assert_int_equal(stats_of(ctx).ops_inflight, 0);
	for (int i = 0; i < N; i++)
		assert_true(kio_nop(ctx, kt_rec_cb, kt_rec_reset(&r[i])) >= 0);
	int64_t id = kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, kt_rec_reset(&sleeper));
	assert_true(id >= 0);
	kio_stats s = stats_of(ctx);
	assert_int_equal(s.ops_inflight, N + 1);
	assert_int_equal(s.ops_inflight, kio_ctx_pending(ctx));

	/* The nops end; the sleep does not. */
	for (int i = 0; i < N; i++)
		kt_run_until(ctx, &r[i].done, WAIT_MS);
	for (int i = 0; i < N; i++)
		assert_int_equal(r[i].calls, 1);
	s = stats_of(ctx);
	assert_int_equal(s.ops_submitted, N + 1);
	assert_int_equal(s.ops_completed, N);
	assert_int_equal(s.ops_inflight, 1);
	assert_int_equal(s.ops_inflight, kio_ctx_pending(ctx));
	assert_int_equal(s.ops_max_inflight, N + 1);

	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	s = stats_of(ctx);
	assert_int_equal(s.ops_inflight, 0);
	assert_int_equal(s.ops_completed, N + 1);
	kt_drain_destroy(ctx);
}

static void count_cb(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	int *n = user_data;
	if (res == 0)
		(*n)++;
}

static uint64_t nop_burst(kio_ctx *ctx, int n)
{
	int done = 0;
	for (int i = 0; i < n; i++)
		assert_true(kio_nop(ctx, count_cb, &done) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(done, n);
	return stats_of(ctx).cq_overflows;
}

/*
 * 512 completions at once into a CQ of 8 overflow it (io_uring keeps the
 * rest in its backlog, the epoll backend in its FIFO); into one of 4096
 * they do not. Nothing is lost either way.
 */
static void test_stats_cq_overflow(void **state)
{
	(void)state;
	/* Injected faults change when the loop enters and reaps (ops start
	 * the slow way, rounds are delayed), so a burst may never pile up. */
	if (getenv("KIO_FAULTS"))
		skip();
	kio_ctx *small = ctx_with(0, 8, 8);
	kio_ctx *big = ctx_with(0, 8, 4096);

	assert_int_equal(stats_of(small).cq_overflows, 0);
	uint64_t once = nop_burst(small, 512);
	assert_true(once > 0);
	assert_true(nop_burst(small, 512) > once); /* counts on, per overflow */
	assert_int_equal(stats_of(small).cq_dropped, 0);
	assert_int_equal(stats_of(small).ops_completed, 1024);

	assert_int_equal(nop_burst(big, 512), 0);
	assert_int_equal(stats_of(big).cq_dropped, 0);
	kt_drain_destroy(small);
	kt_drain_destroy(big);
}

/* Every op here is one SQE; the loop adds its own (the wake-up read). */
static void test_stats_sqes(void **state)
{
	(void)state;
	enum { N = 100 };
	kio_ctx *ctx = kt_ctx_new();
	assert_int_equal(stats_of(ctx).sqes_submitted, 0);
	int done = 0;
	for (int i = 0; i < N; i++)
		assert_true(kio_nop(ctx, count_cb, &done) >= 0);
	/* Started, not yet handed over: that takes a round. */
	assert_int_equal(stats_of(ctx).sqes_submitted, 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(done, N);
	kio_stats s = stats_of(ctx);
	assert_true(s.sqes_submitted >= N);
	assert_true(s.sqes_submitted <= N + 2);
	/* A batch goes in with few enters: more than one SQE each. */
	assert_true(s.enter_calls > 0);
	assert_true(s.sqes_submitted > s.enter_calls);
	kt_drain_destroy(ctx);
}

/*
 * With KIO_CTX_STATS_TIME, a loop with only a timer to wait for spends
 * that time blocked: its wait grows by more than its running time, and the
 * two add up to no more than the time the run took. Polling rounds never
 * wait.
 */
static void test_stats_wait_and_run_time(void **state)
{
	(void)state;
	kio_ctx *ctx = ctx_with(KIO_CTX_STATS_TIME, 0, 0);
	kio_stats s0 = stats_of(ctx);
	assert_int_equal(s0.wait_ns, 0);

	for (int i = 0; i < 100; i++)
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	kio_stats s1 = stats_of(ctx);
	assert_int_equal(s1.wait_ns, 0);
	assert_true(s1.run_ns > 0);

	struct kt_rec r;
	uint64_t t0 = kt_now_ns();
	assert_true(kio_sleep(ctx, 50 * KT_MS, kt_rec_cb, kt_rec_reset(&r)) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	uint64_t outer = kt_now_ns() - t0;
	assert_int_equal(r.res, 0);
	kio_stats s2 = stats_of(ctx);
	uint64_t waited = s2.wait_ns - s1.wait_ns, ran = s2.run_ns - s1.run_ns;
	assert_true(waited > ran);
	assert_true(waited + ran <= outer + outer / 100 + 100000);

	/* The time of the reading is CLOCK_MONOTONIC's. */
	uint64_t before = kt_now_ns();
	kio_stats s3 = stats_of(ctx);
	uint64_t after = kt_now_ns();
	assert_true(s3.snapshot_ns >= before && s3.snapshot_ns <= after);
	/* Outside a run, the times stand still. */
	assert_int_equal(s3.wait_ns, s2.wait_ns);
	assert_int_equal(s3.run_ns, s2.run_ns);
	kt_drain_destroy(ctx);
}

/* Without KIO_CTX_STATS_TIME the loop reads no clock for them: both stay 0. */
static void test_stats_time_off_by_default(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	assert_true(kio_sleep(ctx, 5 * KT_MS, kt_rec_cb, kt_rec_reset(&r)) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(r.calls, 1);
	kio_stats s = stats_of(ctx);
	assert_true(s.loop_iterations > 0);
	assert_int_equal(s.wait_ns, 0);
	assert_int_equal(s.run_ns, 0);
	kt_drain_destroy(ctx);
}

/* ---- reading from another thread ---------------------------------------- */

enum { CHAINS = 4, WANT_SNAPSHOTS = 200, WAKE_SQES = 4 };

struct shared {
	kio_ctx *ctx;
	atomic_int snapshots;  /* consistent snapshots the reader took */
	atomic_int loop_done;  /* kio_ctx_run returned */
	int first_rc;          /* the reader's first call */
	int nop_rc;            /* an op started by the reader */
	int failures;
	char why[160];
	kio_stats last;        /* the reader's last snapshot */
};

static void reader_fail(struct shared *sh, const char *why, const kio_stats *s)
{
	if (sh->failures++ == 0)
		snprintf(sh->why, sizeof(sh->why), "%s (submitted %llu, sqes %llu, inflight %llu)", why,
			 (unsigned long long)s->ops_submitted, (unsigned long long)s->sqes_submitted,
			 (unsigned long long)s->ops_inflight);
}

/* One snapshot, checked on its own and against the one before. */
static void check_snapshot(struct shared *sh, const kio_stats *s, const kio_stats *prev)
{
	if (s->ops_completed > s->ops_submitted)
		reader_fail(sh, "completed > submitted", s);
	if (s->ops_completed + s->ops_inflight != s->ops_submitted)
		reader_fail(sh, "completed + inflight != submitted", s);
	if (s->ops_inflight > CHAINS || s->ops_max_inflight > CHAINS)
		reader_fail(sh, "more in flight than chains", s);
	/*
	 * Taken at a round's edge, where each chain has at most its one next
	 * nop not yet handed over: torn fields would break this.
	 */
	if (s->sqes_submitted > s->ops_submitted + WAKE_SQES ||
	    s->ops_submitted > s->sqes_submitted + CHAINS)
		reader_fail(sh, "sqes and ops disagree", s);
	if (!prev)
		return;
	if (s->ops_submitted < prev->ops_submitted || s->ops_completed < prev->ops_completed ||
	    s->loop_iterations < prev->loop_iterations || s->enter_calls < prev->enter_calls ||
	    s->sqes_submitted < prev->sqes_submitted || s->wait_ns < prev->wait_ns ||
	    s->run_ns < prev->run_ns || s->snapshot_ns < prev->snapshot_ns ||
	    s->ops_max_inflight < prev->ops_max_inflight)
		reader_fail(sh, "went backwards", s);
}

static void *reader_main(void *arg)
{
	struct shared *sh = arg;
	kio_stats s, prev;
	int have = 0;

	sh->nop_rc = (int)kio_nop(sh->ctx, kt_rec_cb, &s); /* not this thread's ctx */
	sh->first_rc = kio_ctx_stats(sh->ctx, &s, sizeof(s));
	for (;;) {
		int done = atomic_load(&sh->loop_done);
		int rc = kio_ctx_stats(sh->ctx, &s, sizeof(s));
		if (rc == -EAGAIN) {
			if (done)
				break; /* never published: the checks below fail */
			sched_yield();
			continue;
		}
		if (rc != 0) {
			reader_fail(sh, "kio_ctx_stats failed", &s);
			break;
		}
		check_snapshot(sh, &s, have ? &prev : NULL);
		prev = s;
		have = 1;
		atomic_fetch_add(&sh->snapshots, 1);
		if (done)
			break; /* this one was read after the loop returned */
	}
	sh->last = s;
	return NULL;
}

struct chain {
	kio_ctx *ctx;
	struct shared *sh;
	int ended;
};

static void chain_cb(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	struct chain *c = user_data;
	assert_int_equal(res, 0);
	if (atomic_load(&c->sh->snapshots) < WANT_SNAPSHOTS)
		assert_true(kio_nop(c->ctx, chain_cb, c) >= 0);
	else
		c->ended = 1;
}

/*
 * A reader thread takes snapshots while the loop runs chains of nops: its
 * first call asks for publishing (-EAGAIN), the rest see consistent values
 * that never go back, and after kio_ctx_run() returns it sees the final
 * counts. Ops from that thread are still refused.
 */
static void test_stats_other_thread(void **state)
{
	(void)state;
	static struct shared sh;
	memset(&sh, 0, sizeof(sh));
	sh.ctx = ctx_with(KIO_CTX_STATS_TIME, 0, 0);
	/* The loop thread claims ctx before the reader exists. */
	assert_true(kio_ctx_run_once(sh.ctx, 0) >= 0);

	struct chain chains[CHAINS];
	for (int i = 0; i < CHAINS; i++) {
		chains[i] = (struct chain){ .ctx = sh.ctx, .sh = &sh };
		assert_true(kio_nop(sh.ctx, chain_cb, &chains[i]) >= 0);
	}
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, reader_main, &sh), 0);
	assert_int_equal(kio_ctx_run(sh.ctx), 0);
	atomic_store(&sh.loop_done, 1);
	kio_stats mine = stats_of(sh.ctx);
	assert_int_equal(pthread_join(t, NULL), 0);

	if (sh.failures)
		fail_msg("reader: %s", sh.why);
	assert_int_equal(sh.nop_rc, -EPERM);
	assert_int_equal(sh.first_rc, -EAGAIN);
	assert_true(atomic_load(&sh.snapshots) >= WANT_SNAPSHOTS);
	for (int i = 0; i < CHAINS; i++)
		assert_int_equal(chains[i].ended, 1);
	/* The loop published at the end of its last round. */
	assert_int_equal(sh.last.ops_submitted, mine.ops_submitted);
	assert_int_equal(sh.last.ops_completed, mine.ops_completed);
	assert_int_equal(sh.last.ops_inflight, 0);
	assert_int_equal(sh.last.loop_iterations, mine.loop_iterations);
	assert_int_equal(sh.last.enter_calls, mine.enter_calls);
	assert_int_equal(sh.last.sqes_submitted, mine.sqes_submitted);
	assert_int_equal(sh.last.wait_ns, mine.wait_ns);
	assert_true(sh.last.run_ns <= mine.run_ns); /* the run call's own exit comes after */
	assert_true(sh.last.snapshot_ns <= mine.snapshot_ns);
	assert_true(mine.run_ns > 0); /* KIO_CTX_STATS_TIME: the time was kept */
	kt_drain_destroy(sh.ctx);
}

struct foreign_read {
	kio_ctx *ctx;
	kio_stats s;
	int rc;
};

static void *read_from_thread(void *arg)
{
	struct foreign_read *f = arg;
	f->rc = kio_ctx_stats(f->ctx, &f->s, sizeof(f->s));
	return NULL;
}

/* Before any thread ran ctx, any thread reads its live counters. */
static void test_stats_other_thread_before_run(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int done = 0;
	for (int i = 0; i < 3; i++)
		assert_true(kio_nop(ctx, count_cb, &done) >= 0);
	struct foreign_read f = { .ctx = ctx, .rc = 1 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, read_from_thread, &f), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(f.rc, 0);
	assert_int_equal(f.s.ops_submitted, 3);
	assert_int_equal(f.s.ops_inflight, 3);
	kt_drain_destroy(ctx);
	assert_int_equal(done, 3);
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
		KT_TEST(test_stats_inflight),
		KT_TEST(test_stats_cq_overflow),
		KT_TEST(test_stats_sqes),
		KT_TEST(test_stats_wait_and_run_time),
		KT_TEST(test_stats_time_off_by_default),
		KT_TEST(test_stats_other_thread),
		KT_TEST(test_stats_other_thread_before_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
