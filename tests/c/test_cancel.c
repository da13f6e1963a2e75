/* SPDX-License-Identifier: MIT */
/* kio_op_cancel, kio_op_timeout, kio_cancel_fd and kio_close on pending ops. */
#include "kio_test.h"

#include <fcntl.h>
#include <poll.h>

static void test_cancel_pending_poll(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(r.calls, 0);
	kt_run_until(ctx, &r.done, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ECANCELED);
	assert_int_equal(r.flags & KIO_F_MORE, 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 1);
	kt_close_pipe(p);
}

static void test_cancel_before_submit(void **state)
{
	(void)state;
	/* Cancelled before any loop round handed the op to the kernel. */
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec pl = {0}, sl = {0}, rd = {0};
	char buf[4];
	int64_t a = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &pl);
	int64_t b = kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, &sl);
	int64_t c = kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, kt_rec_cb, &rd);
	assert_true(a >= 0 && b >= 0 && c >= 0);
	assert_int_equal(kio_op_cancel(ctx, a), 0);
	assert_int_equal(kio_op_cancel(ctx, b), 0);
	assert_int_equal(kio_op_cancel(ctx, c), 0);
	assert_int_equal(pl.calls + sl.calls + rd.calls, 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(pl.calls, 1);
	assert_int_equal(pl.res, -ECANCELED);
	assert_int_equal(sl.calls, 1);
	assert_int_equal(sl.res, -ECANCELED);
	assert_int_equal(rd.calls, 1);
	assert_int_equal(rd.res, -ECANCELED);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_cancel_twice(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	int rc = kio_op_cancel(ctx, id);
	assert_true(rc == 0 || rc == -ENOENT);
	kt_run_until(ctx, &r.done, 5000);
	/* After the callback the id is finished for good. */
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ECANCELED);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 1);
	kt_close_pipe(p);
}

static void test_cancel_completed_id(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec done = {0};
	int64_t old = kio_nop(ctx, kt_rec_cb, &done);
	assert_true(old >= 0);
	kt_run_until(ctx, &done.done, 5000);
	assert_int_equal(kio_op_cancel(ctx, old), -ENOENT);
	assert_int_equal(kio_op_timeout(ctx, old, 1), -ENOENT);

	/* Reuse the slots: whichever of these took old's slot must not be touched. */
	enum {
		N = 64
	};
	struct kt_rec r[N];
	int64_t ids[N];
	memset(r, 0, sizeof(r));
	for (int i = 0; i < N; i++) {
		ids[i] = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r[i]);
		assert_true(ids[i] >= 0);
		assert_true(ids[i] != old);
	}
	/* Prove the point: one of them sits in old's slot (ids are
	 * generation << 32 | slot), only its generation differs. */
	int reused = 0;
	for (int i = 0; i < N; i++)
		reused |= (ids[i] & 0xffffffff) == (old & 0xffffffff);
	assert_true(reused);
	assert_int_equal(kio_op_cancel(ctx, old), -ENOENT);
	assert_int_equal(kio_op_timeout(ctx, old, 1), -ENOENT);
	kt_run_for(ctx, 30);
	for (int i = 0; i < N; i++)
		assert_int_equal(r[i].calls, 0);
	assert_int_equal(kio_ctx_pending(ctx), N);

	/* The new ops are live and their own ids work. */
	for (int i = 0; i < N; i++)
		assert_int_equal(kio_op_cancel(ctx, ids[i]), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, -ECANCELED);
	}
	assert_int_equal(done.calls, 1);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_cancel_timeout_poll(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	uint64_t t0 = kt_now_ns();
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 20 * KT_MS), 0);
	kt_run_until(ctx, &r.done, 5000);
	uint64_t dt = kt_now_ns() - t0;
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ETIMEDOUT);
	assert_true(dt >= 20 * KT_MS);
	assert_true(dt < 2000 * KT_MS);
	assert_int_equal(kio_op_timeout(ctx, id, 20 * KT_MS), -ENOENT);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_cancel_timeout_sleep(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r = {0};
	int64_t id = kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10 * KT_MS), 0);
	kt_run_until(ctx, &r.done, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ETIMEDOUT);
	kt_drain_destroy(ctx);
}

static void test_cancel_timeout_rearm_earlier(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10000 * KT_MS), 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, id, 30 * KT_MS), 0);
	kt_run_until(ctx, &r.done, 5000);
	uint64_t dt = kt_now_ns() - t0;
	assert_int_equal(r.res, -ETIMEDOUT);
	assert_true(dt >= 30 * KT_MS);
	assert_true(dt < 3000 * KT_MS);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_cancel_timeout_rearm_later(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 20 * KT_MS), 0);
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, id, 300 * KT_MS), 0);
	/* The first deadline is gone. */
	kt_run_for(ctx, 100);
	assert_int_equal(r.calls, 0);
	kt_run_until(ctx, &r.done, 5000);
	uint64_t dt = kt_now_ns() - t0;
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ETIMEDOUT);
	assert_true(dt >= 300 * KT_MS);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

/* A deadline already linked in the timer wheel (the loop ran past the
 * flush of new deadlines, at most 1 ms), re-armed later: the old one
 * passes without firing, the new one fires, never early. */
static void test_cancel_timeout_rearm_linked_later(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 60 * KT_MS), 0);
	kt_run_for(ctx, 10);
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, id, 300 * KT_MS), 0);
	kt_run_for(ctx, 150);
	assert_int_equal(r.calls, 0);
	kt_run_until(ctx, &r.done, 5000);
	uint64_t dt = kt_now_ns() - t0;
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ETIMEDOUT);
	assert_true(dt >= 300 * KT_MS);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

/* The same, re-armed earlier: the deadline moves up. */
static void test_cancel_timeout_rearm_linked_earlier(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10000 * KT_MS), 0);
	kt_run_for(ctx, 10);
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, id, 30 * KT_MS), 0);
	kt_run_until(ctx, &r.done, 5000);
	uint64_t dt = kt_now_ns() - t0;
	assert_int_equal(r.res, -ETIMEDOUT);
	assert_true(dt >= 30 * KT_MS);
	assert_true(dt < 3000 * KT_MS);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

/* Later, then earlier again before the flush: the last call wins. And a
 * linked deadline re-armed, then disarmed: nothing fires. */
static void test_cancel_timeout_rearm_linked_last_wins(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0}, q = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	int64_t qid = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &q);
	assert_true(id >= 0 && qid >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 100 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, qid, 30 * KT_MS), 0);
	kt_run_for(ctx, 10);
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, id, 10000 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, id, 40 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, qid, 200 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, qid, 0), 0);
	kt_run_until(ctx, &r.done, 5000);
	uint64_t dt = kt_now_ns() - t0;
	assert_int_equal(r.res, -ETIMEDOUT);
	assert_true(dt >= 40 * KT_MS);
	assert_true(dt < 3000 * KT_MS);
	kt_run_for(ctx, 100);
	assert_int_equal(q.calls, 0);
	assert_int_equal(kio_op_cancel(ctx, qid), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(q.res, -ECANCELED);
	kt_close_pipe(p);
}

/* An idle timeout kept alive: a periodic timer re-arms a 400 ms deadline
 * every 10 ms for 300 ms, so it never fires then; once left alone it
 * fires, at least 400 ms after the last re-arm. */
struct keepalive {
	kio_ctx *ctx;
	int64_t victim, timer;
	int ticks;
	uint64_t last;
};

static void keepalive_cb(void *ud, int32_t res, uint32_t flags)
{
	struct keepalive *k = ud;
	(void)flags;
	if (res != 0)
		return;
	assert_int_equal(kio_op_timeout(k->ctx, k->victim, 400 * KT_MS), 0);
	k->last = kt_now_ns();
	if (++k->ticks == 30)
		assert_int_equal(kio_op_cancel(k->ctx, k->timer), 0);
}

static void test_cancel_timeout_rearm_keepalive(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	struct keepalive k = {.ctx = ctx};
	k.victim = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(k.victim >= 0);
	assert_int_equal(kio_op_timeout(ctx, k.victim, 400 * KT_MS), 0);
	k.timer = kio_timer_periodic(ctx, 10 * KT_MS, keepalive_cb, &k);
	assert_true(k.timer >= 0);
	kt_run_until(ctx, &r.done, 10000);
	uint64_t end = kt_now_ns();
	assert_int_equal(k.ticks, 30);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ETIMEDOUT);
	assert_true(end - k.last >= 400 * KT_MS);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

/* A re-arm noted for an op that then ends: the slot's next op (a timer
 * linked at once) is not touched by it. */
static void test_cancel_timeout_rearm_then_slot_reused(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0}, s = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10000 * KT_MS), 0);
	kt_run_for(ctx, 10);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(kio_op_timeout(ctx, id, 5 * KT_MS), 0);
	kt_run_until(ctx, &r.done, 5000);
	assert_true(r.res > 0);
	uint64_t t0 = kt_now_ns();
	int64_t sid = kio_sleep(ctx, 100 * KT_MS, kt_rec_cb, &s);
	assert_true(sid >= 0);
	kt_run_until(ctx, &s.done, 5000);
	assert_int_equal(s.res, 0);
	assert_true(kt_now_ns() - t0 >= 100 * KT_MS);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_cancel_timeout_disarm(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 20 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, id, 0), 0);
	kt_run_for(ctx, 80);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	kt_run_until(ctx, &r.done, 5000);
	assert_int_equal(r.calls, 1);
	assert_true(r.res > 0);
	assert_true(r.res & POLLIN);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_cancel_timeout_read_completes_first(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	assert_int_equal(write(p[1], "0123456789", 10), 10);
	static char buf[4096];
	struct kt_rec r = {0};
	int64_t id = kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 1000 * KT_MS), 0);
	kt_run_until(ctx, &r.done, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 10);
	assert_memory_equal(buf, "0123456789", 10);
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_cancel_timeout_read_data_before_expiry(void **state)
{
	(void)state;
	/* The read waits in the kernel; data arrives well before the deadline. */
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	static char buf[4096];
	struct kt_rec r = {0};
	int64_t id = kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 2000 * KT_MS), 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(p[1], "0123456789", 10), 10);
	kt_run_until(ctx, &r.done, 1500);
	assert_int_equal(r.res, 10);
	/* The disarmed deadline must not come back. */
	assert_int_equal(kio_op_timeout(ctx, id, 1), -ENOENT);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 1);
	kt_close_pipe(p);
}

static void test_cancel_fd_counts(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2], q[2];
	kt_pipe(p);
	kt_pipe(q);
	struct kt_rec r[3], other = {0};
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 3; i++)
		assert_true(kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r[i]) >= 0);
	int64_t oid = kio_poll(ctx, q[0], POLLIN, kt_rec_cb, &other);
	assert_true(oid >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);

	assert_int_equal(kio_cancel_fd(ctx, p[0]), 3);
	for (int i = 0; i < 3; i++)
		kt_run_until(ctx, &r[i].done, 5000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, -ECANCELED);
	}
	/* Nothing left on it; the other fd's op is untouched. */
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 0);
	kt_run_for(ctx, 10);
	assert_int_equal(other.calls, 0);
	assert_int_equal(kio_ctx_pending(ctx), 1);
	assert_int_equal(kio_op_cancel(ctx, oid), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(other.res, -ECANCELED);
	kt_close_pipe(p);
	kt_close_pipe(q);
}

static void test_cancel_fd_before_submit(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r[3];
	memset(r, 0, sizeof(r));
	char buf[4];
	assert_true(kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r[0]) >= 0);
	assert_true(kio_poll_multishot(ctx, p[0], POLLIN, kt_rec_cb, &r[1]) >= 0);
	assert_true(kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, kt_rec_cb, &r[2]) >=
		    0);
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 3);
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].finals, 1);
		assert_int_equal(r[i].res, -ECANCELED);
	}
	kt_drain_destroy(ctx);
	kt_close_pipe(p);
}

static void test_cancel_fd_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	assert_int_equal(kio_cancel_fd(ctx, -1), -EBADF);
	assert_int_equal(kio_cancel_fd(NULL, 0), -EINVAL);
	assert_int_equal(kio_cancel_fd(ctx, 9999), 0);
	kt_drain_destroy(ctx);
}

static void test_cancel_close_pending_reads(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	char b1[8], b2[8];
	struct kt_rec r1 = {0}, r2 = {0}, cl = {0};
	assert_true(kio_read(ctx, p[0], b1, sizeof(b1), KIO_OFFSET_CURRENT, kt_rec_cb, &r1) >= 0);
	assert_true(kio_read(ctx, p[0], b2, sizeof(b2), KIO_OFFSET_CURRENT, kt_rec_cb, &r2) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	int rfd = p[0];
	assert_true(kio_close(ctx, rfd, kt_rec_cb, &cl) >= 0);
	kt_run_until(ctx, &cl.done, 5000);
	kt_run_until(ctx, &r1.done, 5000);
	kt_run_until(ctx, &r2.done, 5000);
	assert_int_equal(cl.calls, 1);
	assert_int_equal(cl.res, 0);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.res, -ECANCELED);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.res, -ECANCELED);
	errno = 0;
	assert_int_equal(fcntl(rfd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	kt_drain_destroy(ctx);
	close(p[1]);
}

static void test_cancel_invalid_ids(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	const int64_t bad[] = {-1,    -2,           INT64_MIN,           0,        1,
			       12345, 0x7fffffffll, 0x123456789abcdefll, INT64_MAX};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kio_op_cancel(ctx, bad[i]), -ENOENT);
		assert_int_equal(kio_op_timeout(ctx, bad[i], 1000), -ENOENT);
		assert_int_equal(kio_op_timeout(ctx, bad[i], 0), -ENOENT);
	}
	/* With a live op, ids next to it are still not ops. */
	struct kt_rec r = {0};
	int64_t id = kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(kio_op_cancel(ctx, id + 1), -ENOENT);
	assert_int_equal(kio_op_cancel(ctx, id ^ (1ll << 40)), -ENOENT);
	/* Its slot and generation with the sign bit set, or another tag. */
	assert_int_equal(kio_op_cancel(ctx, id | INT64_MIN), -ENOENT);
	assert_int_equal(kio_op_timeout(ctx, id | INT64_MIN, 1000), -ENOENT);
	for (int bit = 24; bit < 32; bit++)
		assert_int_equal(kio_op_cancel(ctx, id ^ (1ll << bit)), -ENOENT);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ECANCELED);
}

/* An id means something only to the context that issued it: another
 * context refuses it (-ENOENT) even when its own op sits in the same slot
 * with the same generation, and its op is left alone. */
static void test_cancel_foreign_context_id(void **state)
{
	(void)state;
	enum { N = 8 };
	kio_ctx *ctx[N];
	struct kt_rec r[N];
	int64_t id[N];
	for (int i = 0; i < N; i++) {
		ctx[i] = kt_ctx_new();
		id[i] = kio_sleep(ctx[i], 10000 * KT_MS, kt_rec_cb, kt_rec_reset(&r[i]));
		assert_true(id[i] >= 0);
	}
	for (int i = 0; i < N; i++) {
		for (int j = 0; j < N; j++) {
			if (i == j)
				continue;
			/* Same slot, same generation: only the context tells them apart. */
			assert_true(id[i] != id[j]);
			assert_int_equal(kio_op_cancel(ctx[j], id[i]), -ENOENT);
			assert_int_equal(kio_op_timeout(ctx[j], id[i], 1), -ENOENT);
		}
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(kio_ctx_run_once(ctx[i], 0), 0);
		assert_int_equal(r[i].calls, 0); /* nobody else's cancel reached it */
		assert_int_equal(kio_op_cancel(ctx[i], id[i]), 0);
		kt_run_until(ctx[i], &r[i].done, 5000);
		assert_int_equal(r[i].res, -ECANCELED);
		kt_drain_destroy(ctx[i]);
	}
}

static void test_cancel_null_ctx(void **state)
{
	(void)state;
	assert_int_equal(kio_op_cancel(NULL, 0), -EINVAL);
	assert_int_equal(kio_op_timeout(NULL, 0, 1000), -EINVAL);
	assert_int_equal(kio_cancel_fd(NULL, 0), -EINVAL);
}

static void test_cancel_multishot_poll(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	int64_t id = kio_poll_multishot(ctx, p[0], POLLIN, kt_rec_cb, &r);
	assert_true(id >= 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	uint64_t deadline = kt_now_ns() + 5000 * KT_MS;
	while (r.calls == 0 && kt_now_ns() < deadline)
		assert_true(kio_ctx_run_once(ctx, 10 * KT_MS) >= 0);
	assert_true(r.calls >= 1);
	assert_int_equal(r.finals, 0);
	assert_true(r.flags & KIO_F_MORE);
	assert_true(r.res & POLLIN);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &r.done, 5000);
	assert_int_equal(r.finals, 1);
	assert_int_equal(r.res, -ECANCELED);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);
	kt_drain_destroy(ctx);
	assert_int_equal(r.finals, 1);
	kt_close_pipe(p);
}

struct self_cancel {
	kio_ctx *ctx;
	int64_t self;
	int64_t victim;
	int calls;
	int self_rc;
	int victim_rc;
};

static void self_cancel_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)res;
	(void)flags;
	struct self_cancel *s = ud;
	s->calls++;
	s->victim_rc = kio_op_cancel(s->ctx, s->victim);
	s->self_rc = kio_op_cancel(s->ctx, s->self);
}

static void test_cancel_from_callback(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec v = {0};
	struct self_cancel s = {.ctx = ctx};
	s.victim = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &v);
	assert_true(s.victim >= 0);
	s.self = kio_sleep(ctx, 5 * KT_MS, self_cancel_cb, &s);
	assert_true(s.self >= 0);
	kt_run_until(ctx, &v.done, 5000);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.victim_rc, 0);
	/* Its own id during its final callback: finished or not, no second call. */
	assert_true(s.self_rc == 0 || s.self_rc == -ENOENT);
	assert_int_equal(v.res, -ECANCELED);
	kt_drain_destroy(ctx);
	assert_int_equal(s.calls, 1);
	assert_int_equal(v.calls, 1);
	kt_close_pipe(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_cancel_pending_poll),
		KT_TEST(test_cancel_before_submit),
		KT_TEST(test_cancel_twice),
		KT_TEST(test_cancel_completed_id),
		KT_TEST(test_cancel_timeout_poll),
		KT_TEST(test_cancel_timeout_sleep),
		KT_TEST(test_cancel_timeout_rearm_earlier),
		KT_TEST(test_cancel_timeout_rearm_later),
		KT_TEST(test_cancel_timeout_rearm_linked_later),
		KT_TEST(test_cancel_timeout_rearm_linked_earlier),
		KT_TEST(test_cancel_timeout_rearm_linked_last_wins),
		KT_TEST(test_cancel_timeout_rearm_keepalive),
		KT_TEST(test_cancel_timeout_rearm_then_slot_reused),
		KT_TEST(test_cancel_timeout_disarm),
		KT_TEST(test_cancel_timeout_read_completes_first),
		KT_TEST(test_cancel_timeout_read_data_before_expiry),
		KT_TEST(test_cancel_fd_counts),
		KT_TEST(test_cancel_fd_before_submit),
		KT_TEST(test_cancel_fd_bad_args),
		KT_TEST(test_cancel_close_pending_reads),
		KT_TEST(test_cancel_invalid_ids),
		KT_TEST(test_cancel_foreign_context_id),
		KT_TEST(test_cancel_null_ctx),
		KT_TEST(test_cancel_multishot_poll),
		KT_TEST(test_cancel_from_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
