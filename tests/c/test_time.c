/* SPDX-License-Identifier: MIT */
/*
 * Timers: kio_sleep, kio_sleep_until and kio_timer_periodic. Timing checks
 * are sanity bounds only: never early, and not absurdly late (< 1 s).
 */
#include "kio_test.h"

#define WAIT_MS 5000
#define LATE_BOUND_NS (1000 * KT_MS)

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A one-shot timer's record: when (CLOCK_MONOTONIC) and how it fired. */
struct shot {
	int calls;
	int32_t res;
	uint32_t flags;
	uint64_t at;
	int done;
	/* for the ordering tests */
	int index;
	int *order;
	int *order_len;
};

static void shot_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct shot *s = user_data;
	s->at = kt_now_ns();
	s->calls++;
	s->res = res;
	s->flags = flags;
	s->done = 1;
	if (s->order)
		s->order[(*s->order_len)++] = s->index;
}

static void test_time_sleep_20ms(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct shot s = { 0 };

	uint64_t t0 = kt_now_ns();
	int64_t id = kio_sleep(ctx, 20 * KT_MS, shot_cb, &s);
	assert_true(id >= 0);
	assert_int_equal(s.calls, 0);
	assert_int_equal(kio_ctx_pending(ctx), 1);

	kt_run_until(ctx, &s.done, WAIT_MS);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.res, 0);
	assert_int_equal(s.flags, 0);
	assert_true(s.at - t0 >= 20 * KT_MS);
	assert_true(s.at - t0 < 20 * KT_MS + LATE_BOUND_NS);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	kt_drain_destroy(ctx);
}

/* A small deterministic generator, so a failure reproduces. */
static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_time_sleep_order(void **state)
{
	(void)state;
	enum { N = 1000 };
	kio_ctx *ctx = kt_ctx_new();
	static struct shot s[N];
	static uint64_t lo[N], hi[N];
	static int order[N];
	int order_len = 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < N; i++) {
		/* 0..50 ms at nanosecond resolution, so ties are rare. */
		uint64_t d = rng_next(&x) % (50 * KT_MS);
		s[i] = (struct shot){ .index = i, .order = order, .order_len = &order_len };
		uint64_t before = kt_now_ns();
		assert_true(kio_sleep(ctx, d, shot_cb, &s[i]) >= 0);
		uint64_t after = kt_now_ns();
		/* kio read its clock somewhere in [before, after]. */
		lo[i] = before + d;
		hi[i] = after + d;
		assert_int_equal(s[i].calls, 0);
	}
	assert_int_equal(kio_ctx_pending(ctx), N);
	assert_int_equal(order_len, 0);

	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(order_len, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(s[i].calls, 1);
		assert_int_equal(s[i].res, 0);
		assert_true(s[i].at >= lo[i]);
	}
	/* A timer may fire before another only if its deadline could be earlier. */
	for (int k = 1; k < N; k++) {
		int a = order[k - 1], b = order[k];
		if (lo[a] > hi[b])
			fail_msg("sleep %d (deadline >= %llu) fired before sleep %d (deadline <= %llu)",
				 a, (unsigned long long)lo[a], b, (unsigned long long)hi[b]);
	}
	kt_drain_destroy(ctx);
}

static void test_time_sleep_until_order(void **state)
{
	(void)state;
	enum { N = 200 };
	kio_ctx *ctx = kt_ctx_new();
	static struct shot s[N];
	static uint64_t deadline[N];
	static int order[N];
	int order_len = 0;
	uint64_t x = 0x2545f4914f6cdd1dull;
	uint64_t base = kt_now_ns() + 5 * KT_MS;

	for (int i = 0; i < N; i++) {
		deadline[i] = base + rng_next(&x) % (20 * KT_MS);
		s[i] = (struct shot){ .index = i, .order = order, .order_len = &order_len };
		assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, deadline[i], shot_cb, &s[i]) >= 0);
	}
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(order_len, N);
	for (int k = 0; k < N; k++) {
		assert_true(s[order[k]].at >= deadline[order[k]]);
		if (k > 0)
			assert_true(deadline[order[k - 1]] <= deadline[order[k]]);
	}
	kt_drain_destroy(ctx);
}

static void test_time_sleep_zero_next_round(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct shot s = { 0 };

	assert_true(kio_sleep(ctx, 0, shot_cb, &s) >= 0);
	assert_int_equal(s.calls, 0);
	assert_int_equal(kio_ctx_pending(ctx), 1);
	/* Due at once: the very next round runs it, without waiting. */
	assert_int_equal(kio_ctx_run_once(ctx, 0), 1);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.res, 0);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kt_drain_destroy(ctx);
}

/* A sleep(0) started from a timer's callback does not run inside kio_sleep either. */
struct chain {
	kio_ctx *ctx;
	int calls;
	int started_ok;
	int inline_calls;
	struct shot next;
};

static void chain_cb(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	struct chain *c = user_data;
	c->calls++;
	if (res == 0) {
		c->started_ok = kio_sleep(c->ctx, 0, shot_cb, &c->next) >= 0;
		c->inline_calls = c->next.calls;
	}
}

static void test_time_sleep_zero_from_callback(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct chain c = { .ctx = ctx };

	assert_true(kio_sleep(ctx, 0, chain_cb, &c) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 1);
	assert_int_equal(c.calls, 1);
	assert_true(c.started_ok);
	assert_int_equal(c.inline_calls, 0);
	kt_run_until(ctx, &c.next.done, WAIT_MS);
	assert_int_equal(c.next.calls, 1);
	assert_int_equal(c.next.res, 0);
	kt_drain_destroy(ctx);
}

static void test_time_sleep_until_monotonic(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct shot s = { 0 }, past = { 0 }, zero = { 0 };

	uint64_t deadline = kt_now_ns() + 20 * KT_MS;
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, deadline, shot_cb, &s) >= 0);
	assert_int_equal(s.calls, 0);
	kt_run_until(ctx, &s.done, WAIT_MS);
	assert_int_equal(s.res, 0);
	assert_true(s.at >= deadline);
	assert_true(s.at < deadline + LATE_BOUND_NS);

	/* Deadlines in the past fire on the next round, not inline. */
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, kt_now_ns() - 1000 * KT_MS, shot_cb, &past)
		    >= 0);
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, 0, shot_cb, &zero) >= 0);
	assert_int_equal(past.calls + zero.calls, 0);
	assert_int_equal(kio_ctx_run_once(ctx, 0), 2);
	assert_int_equal(past.calls, 1);
	assert_int_equal(zero.calls, 1);
	assert_int_equal(past.res, 0);
	assert_int_equal(zero.res, 0);
	kt_drain_destroy(ctx);
}

static void test_time_sleep_until_realtime(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct shot s = { 0 }, past = { 0 }, zero = { 0 };

	uint64_t t0 = kt_now_ns();
	uint64_t deadline = realtime_ns() + 20 * KT_MS;
	assert_true(kio_sleep_until(ctx, CLOCK_REALTIME, deadline, shot_cb, &s) >= 0);
	assert_int_equal(s.calls, 0);
	kt_run_until(ctx, &s.done, WAIT_MS);
	assert_int_equal(s.res, 0);
	/* Converted to a monotonic deadline; allow 1 ms for the two clock reads. */
	assert_true(realtime_ns() + 1 * KT_MS >= deadline);
	assert_true(s.at - t0 >= 19 * KT_MS);
	assert_true(s.at - t0 < 20 * KT_MS + LATE_BOUND_NS);

	assert_true(kio_sleep_until(ctx, CLOCK_REALTIME, realtime_ns() - 1000 * KT_MS, shot_cb, &past)
		    >= 0);
	assert_true(kio_sleep_until(ctx, CLOCK_REALTIME, 0, shot_cb, &zero) >= 0);
	assert_int_equal(past.calls + zero.calls, 0);
	assert_int_equal(kio_ctx_run_once(ctx, 0), 2);
	assert_int_equal(past.calls, 1);
	assert_int_equal(zero.calls, 1);
	assert_int_equal(past.res, 0);
	assert_int_equal(zero.res, 0);
	kt_drain_destroy(ctx);
}

static void test_time_sleep_until_bad_clock(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	static const int bad[] = { CLOCK_BOOTTIME, CLOCK_PROCESS_CPUTIME_ID,
				   CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, CLOCK_TAI,
				   -1, 12345 };

	kt_rec_reset(&r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kio_sleep_until(ctx, bad[i], 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_sleep_until(ctx, CLOCK_MONOTONIC, 0, NULL, &r), -EINVAL);
	assert_int_equal(kio_sleep_until(NULL, CLOCK_MONOTONIC, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_sleep(ctx, 0, NULL, &r), -EINVAL);
	assert_int_equal(kio_sleep(NULL, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_int_equal(kio_ctx_run_once(ctx, 0), 0);
	assert_int_equal(r.calls, 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
}

/* A periodic timer's record; cancels itself at tick cancel_at if ctx is set. */
struct ticks {
	kio_ctx *ctx;
	int64_t id;
	int cancel_at;
	int more;
	int finals;
	int after_final;
	int bad_res;
	int32_t final_res;
	uint64_t last_at;
	int done;
};

static void ticks_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct ticks *t = user_data;
	if (t->finals)
		t->after_final++;
	if (flags & KIO_F_MORE) {
		t->more++;
		t->last_at = kt_now_ns();
		if (res != 0)
			t->bad_res++;
		if (t->ctx && t->more == t->cancel_at)
			assert_int_equal(kio_op_cancel(t->ctx, t->id), 0);
	} else {
		t->finals++;
		t->final_res = res;
		t->done = 1;
	}
}

static void test_time_periodic_ticks_then_cancel(void **state)
{
	(void)state;
	enum { N = 5 };
	const uint64_t period = 5 * KT_MS;
	kio_ctx *ctx = kt_ctx_new();
	struct ticks t = { 0 };

	uint64_t t0 = kt_now_ns();
	int64_t id = kio_timer_periodic(ctx, period, ticks_cb, &t);
	assert_true(id >= 0);
	assert_int_equal(t.more + t.finals, 0);
	assert_int_equal(kio_ctx_pending(ctx), 1);

	uint64_t deadline = t0 + (uint64_t)WAIT_MS * KT_MS;
	while (t.more < N && !t.done) {
		uint64_t now = kt_now_ns();
		assert_true(now < deadline);
		assert_true(kio_ctx_run_once(ctx, (int64_t)(deadline - now)) >= 0);
	}
	assert_int_equal(t.finals, 0);
	assert_int_equal(t.bad_res, 0);
	/* Never early: the Nth tick comes at least N periods after the start. */
	assert_true(t.last_at - t0 >= (uint64_t)t.more * period);
	assert_int_equal(kio_ctx_pending(ctx), 1);

	int ticks_at_cancel = t.more;
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(t.finals, 0);
	kt_run_until(ctx, &t.done, WAIT_MS);
	assert_int_equal(t.finals, 1);
	assert_int_equal(t.final_res, -ECANCELED);
	assert_int_equal(t.more, ticks_at_cancel);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	kt_drain_destroy(ctx);
	assert_int_equal(t.after_final, 0);
}

static void test_time_periodic_cancel_from_callback(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct ticks t = { .ctx = ctx, .cancel_at = 3 };

	t.id = kio_timer_periodic(ctx, 2 * KT_MS, ticks_cb, &t);
	assert_true(t.id >= 0);
	/* kio_ctx_run returns once the final callback ran: nothing is pending. */
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(t.more, 3);
	assert_int_equal(t.finals, 1);
	assert_int_equal(t.final_res, -ECANCELED);
	assert_int_equal(t.bad_res, 0);
	kt_drain_destroy(ctx);
	assert_int_equal(t.after_final, 0);
}

static void test_time_periodic_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;

	kt_rec_reset(&r);
	assert_int_equal(kio_timer_periodic(ctx, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_timer_periodic(ctx, KT_MS, NULL, &r), -EINVAL);
	assert_int_equal(kio_timer_periodic(NULL, KT_MS, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_int_equal(kio_ctx_run_once(ctx, 0), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
}

/* kio_ctx_run_once(ctx, -1) with timers pending and none due: it waits
 * for the nearest and returns once its callback ran, never early; a far
 * timer stays. */
static void test_time_run_once_waits_for_timer(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r = {0}, far = {0};
	uint64_t t0 = kt_now_ns();
	int64_t far_id = kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, &far);
	assert_true(far_id >= 0);
	assert_true(kio_sleep(ctx, 20 * KT_MS, kt_rec_cb, &r) >= 0);
	int n = 0;
	while (n == 0)
		n = kio_ctx_run_once(ctx, -1);
	assert_int_equal(n, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 0);
	assert_true(kt_now_ns() - t0 >= 20 * KT_MS);
	assert_int_equal(far.calls, 0);
	assert_int_equal(kio_op_cancel(ctx, far_id), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(far.res, -ECANCELED);
}

static void test_time_sleep_cancel(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct shot s = { 0 };

	uint64_t t0 = kt_now_ns();
	int64_t id = kio_sleep(ctx, 10000 * KT_MS, shot_cb, &s);
	assert_true(id >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(s.calls, 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	/* The cancel reports through the callback, later. */
	assert_int_equal(s.calls, 0);
	kt_run_until(ctx, &s.done, WAIT_MS);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.res, -ECANCELED);
	assert_int_equal(s.flags & KIO_F_MORE, 0);
	assert_true(s.at - t0 < LATE_BOUND_NS);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);
	kt_drain_destroy(ctx);
	assert_int_equal(s.calls, 1);
}

static void test_time_pending_counts_timers(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct shot a = { 0 }, b = { 0 }, far = { 0 };
	struct ticks t = { 0 };

	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_true(kio_sleep(ctx, 1 * KT_MS, shot_cb, &a) >= 0);
	assert_int_equal(kio_ctx_pending(ctx), 1);
	assert_true(kio_sleep(ctx, 2 * KT_MS, shot_cb, &b) >= 0);
	int64_t far_id = kio_sleep(ctx, 10000 * KT_MS, shot_cb, &far);
	assert_true(far_id >= 0);
	int64_t tick_id = kio_timer_periodic(ctx, 1 * KT_MS, ticks_cb, &t);
	assert_true(tick_id >= 0);
	assert_int_equal(kio_ctx_pending(ctx), 4);

	kt_run_until(ctx, &a.done, WAIT_MS);
	kt_run_until(ctx, &b.done, WAIT_MS);
	/* Fired one-shots leave; the far sleep and the live periodic stay. */
	assert_int_equal(kio_ctx_pending(ctx), 2);
	assert_int_equal(kio_op_cancel(ctx, far_id), 0);
	assert_int_equal(kio_op_cancel(ctx, tick_id), 0);
	kt_run_until(ctx, &far.done, WAIT_MS);
	kt_run_until(ctx, &t.done, WAIT_MS);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_int_equal(far.res, -ECANCELED);
	assert_int_equal(t.final_res, -ECANCELED);
	kt_drain_destroy(ctx);
}

/*
 * kio_ctx_run() with deadlines pending waits without a timeout of its own
 * while a kernel timeout it armed covers the nearest deadline (io_uring;
 * epoll waits with a timeout). These go through kio_ctx_run(), the path
 * that uses it: a deadline that appears earlier than the armed one must
 * move it, one that goes away leaves a harmless early wake-up, and
 * nothing fires early.
 */
struct wake_case {
	kio_ctx *ctx;
	int64_t far_id;
	struct shot near;
	uint64_t near_armed; /* when the near sleep was started */
	uint64_t near_ns;
	int64_t cancel_id;   /* cancelled by the NOP's callback, or -1 */
};

static void wake_near_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct wake_case *w = user_data;
	shot_cb(&w->near, res, flags);
	assert_int_equal(kio_op_cancel(w->ctx, w->far_id), 0);
}

/* The NOP completes while the kernel timeout waits for the far sleep:
 * its callback starts a nearer one (and may cancel another). */
static void wake_nop_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct wake_case *w = user_data;
	(void)flags;
	assert_int_equal(res, 0);
	if (w->cancel_id >= 0)
		assert_int_equal(kio_op_cancel(w->ctx, w->cancel_id), 0);
	w->near_armed = kt_now_ns();
	assert_true(kio_sleep(w->ctx, w->near_ns, wake_near_cb, w) >= 0);
}

/* A deadline earlier than the armed kernel timeout, started from a
 * callback: it fires on time, not at the far one. */
static void test_time_run_earlier_deadline_from_callback(void **state)
{
	(void)state;
	struct wake_case w = {.ctx = kt_ctx_new(), .near_ns = 30 * KT_MS, .cancel_id = -1};
	struct kt_rec far = {0};
	w.far_id = kio_sleep(w.ctx, 10000 * KT_MS, kt_rec_cb, &far);
	assert_true(w.far_id >= 0);
	assert_true(kio_nop(w.ctx, wake_nop_cb, &w) >= 0);
	assert_int_equal(kio_ctx_run(w.ctx), 0);
	assert_int_equal(w.near.calls, 1);
	assert_int_equal(w.near.res, 0);
	assert_true(w.near.at - w.near_armed >= w.near_ns);
	assert_true(w.near.at - w.near_armed < w.near_ns + LATE_BOUND_NS);
	assert_int_equal(far.calls, 1);
	assert_int_equal(far.res, -ECANCELED);
	kt_drain_destroy(w.ctx);
}

/* The deadline the kernel timeout was armed for goes away (cancelled)
 * and a later one is started: the early wake-up fires nothing, the later
 * sleep fires at its own time, not before. */
static void test_time_run_armed_deadline_cancelled(void **state)
{
	(void)state;
	struct wake_case w = {.ctx = kt_ctx_new(), .near_ns = 60 * KT_MS};
	struct kt_rec far = {0}, mid = {0};
	w.far_id = kio_sleep(w.ctx, 10000 * KT_MS, kt_rec_cb, &far);
	assert_true(w.far_id >= 0);
	w.cancel_id = kio_sleep(w.ctx, 20 * KT_MS, kt_rec_cb, &mid);
	assert_true(w.cancel_id >= 0);
	/* The NOP's callback runs in the first round, after the kernel
	 * timeout went out for the 20 ms sleep. */
	assert_true(kio_nop(w.ctx, wake_nop_cb, &w) >= 0);
	assert_int_equal(kio_ctx_run(w.ctx), 0);
	assert_int_equal(mid.calls, 1);
	assert_int_equal(mid.res, -ECANCELED);
	assert_int_equal(w.near.calls, 1);
	assert_int_equal(w.near.res, 0);
	assert_true(w.near.at - w.near_armed >= w.near_ns);
	assert_true(w.near.at - w.near_armed < w.near_ns + LATE_BOUND_NS);
	kt_drain_destroy(w.ctx);
}

/* A periodic timer beside a far sleep, through kio_ctx_run(): every tick
 * fires at or after its due time (the kernel timeout is armed again after
 * each), and the run ends once both are cancelled. */
struct run_ticks {
	kio_ctx *ctx;
	int64_t far_id, tick_id;
	uint64_t t0, period;
	int n;
	int early;
};

static void run_ticks_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct run_ticks *t = user_data;
	if (!(flags & KIO_F_MORE))
		return; /* the cancel's final callback */
	assert_int_equal(res, 0);
	t->n++;
	if (kt_now_ns() - t->t0 < (uint64_t)t->n * t->period)
		t->early++;
	if (t->n == 10) {
		assert_int_equal(kio_op_cancel(t->ctx, t->tick_id), 0);
		assert_int_equal(kio_op_cancel(t->ctx, t->far_id), 0);
	}
}

static void test_time_run_periodic_beside_far_sleep(void **state)
{
	(void)state;
	struct run_ticks t = {.ctx = kt_ctx_new(), .period = 5 * KT_MS};
	struct kt_rec far = {0};
	t.far_id = kio_sleep(t.ctx, 10000 * KT_MS, kt_rec_cb, &far);
	assert_true(t.far_id >= 0);
	t.t0 = kt_now_ns();
	t.tick_id = kio_timer_periodic(t.ctx, t.period, run_ticks_cb, &t);
	assert_true(t.tick_id >= 0);
	assert_int_equal(kio_ctx_run(t.ctx), 0);
	assert_int_equal(t.n, 10);
	assert_int_equal(t.early, 0);
	assert_true(kt_now_ns() - t.t0 < 10 * t.period + LATE_BOUND_NS);
	assert_int_equal(far.res, -ECANCELED);
	kt_drain_destroy(t.ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_time_sleep_20ms),
		KT_TEST(test_time_sleep_order),
		KT_TEST(test_time_sleep_until_order),
		KT_TEST(test_time_sleep_zero_next_round),
		KT_TEST(test_time_sleep_zero_from_callback),
		KT_TEST(test_time_sleep_until_monotonic),
		KT_TEST(test_time_sleep_until_realtime),
		KT_TEST(test_time_sleep_until_bad_clock),
		KT_TEST(test_time_periodic_ticks_then_cancel),
		KT_TEST(test_time_periodic_cancel_from_callback),
		KT_TEST(test_time_periodic_bad_args),
		KT_TEST(test_time_run_once_waits_for_timer),
		KT_TEST(test_time_sleep_cancel),
		KT_TEST(test_time_pending_counts_timers),
		KT_TEST(test_time_run_earlier_deadline_from_callback),
		KT_TEST(test_time_run_armed_deadline_cancelled),
		KT_TEST(test_time_run_periodic_beside_far_sleep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
