/* SPDX-License-Identifier: MIT */
/*
 * The timer wheel behind timers and op timeouts (lib/core/timer_wheel.hpp):
 * what a wheel can get wrong. Its ticks are 2^16 ns; level 0 has 4096
 * buckets of a tick and each level above 64 buckets, so entries change level
 * at multiples of 2^28 ns (268 ms) and 2^34 ns (17 s) of CLOCK_MONOTONIC,
 * and deadlines far past the span of the low levels sit in the high ones. Checked here: every callback runs
 * exactly once, never before its deadline, in deadline order (equal
 * deadlines in the order they were armed); cancel and re-arm at every
 * level; arming from callbacks; edge values of the clock; an idle loop
 * with a far timer does not wake per tick.
 */
#include <poll.h>

#include <kio/stats.h>

#include "kio_test.h"

#define WAIT_MS 5000

struct fired {
	int calls;
	int32_t res;
	uint64_t at;
	int done;
	int index;
	int *order;
	int *order_len;
};

static void fired_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct fired *f = user_data;
	(void)flags;
	f->at = kt_now_ns();
	f->calls++;
	f->res = res;
	f->done = 1;
	if (f->order)
		f->order[(*f->order_len)++] = f->index;
}

/* Runs ctx until every one of n records fired. */
static void run_until_all(kio_ctx *ctx, struct fired *f, int n)
{
	for (int i = 0; i < n; i++)
		kt_run_until(ctx, &f[i].done, WAIT_MS);
}

/* Checks n timers armed at deadline[]: each fired once with res 0, never
 * early, in deadline order and, for equal deadlines, in index order. */
static void check_fired_in_order(struct fired *f, const uint64_t *deadline, const int *order, int n)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal(f[i].calls, 1);
		assert_int_equal(f[i].res, 0);
		if (f[i].at < deadline[i])
			fail_msg("timer %d fired %llu ns early", i,
				 (unsigned long long)(deadline[i] - f[i].at));
	}
	for (int k = 1; k < n; k++) {
		int a = order[k - 1], b = order[k];
		if (deadline[a] > deadline[b] || (deadline[a] == deadline[b] && a > b))
			fail_msg("timer %d (deadline %llu) fired before timer %d (deadline %llu)", a,
				 (unsigned long long)deadline[a], b, (unsigned long long)deadline[b]);
	}
}

static uint64_t round_up(uint64_t x, uint64_t unit)
{
	return (x + unit - 1) / unit * unit;
}

/* Deadlines on both sides of tick boundaries, of 2^22 ns and of 2^28 ns
 * (where level 1's buckets start), and of the end of level 0's ring, 2^28
 * ns from now (before it level 0, past it level 1). */
static void test_wheel_level_boundaries(void **state)
{
	(void)state;
	enum { PER = 9, GROUPS = 4, N = GROUPS * PER };
	kio_ctx *ctx = kt_ctx_new();
	static struct fired f[N];
	static uint64_t deadline[N];
	static int order[N];
	int order_len = 0;
	const uint64_t units[3] = { 1ull << 16, 1ull << 22, 1ull << 28 };
	uint64_t base = kt_now_ns() + 2 * KT_MS;

	int n = 0;
	for (int u = 0; u < GROUPS; u++) {
		uint64_t b = u < 3 ? round_up(base, units[u]) : kt_now_ns() + (1ull << 28);
		const int64_t offs[PER] = { -65537, -65536, -1, 0, 0, 1, 65535, 65536, 2 * 65536 + 7 };
		for (int k = 0; k < PER; k++, n++)
			deadline[n] = b + (uint64_t)offs[k];
	}
	/* Armed out of deadline order, so order comes from the wheel. */
	for (int i = N - 1; i >= 0; i--) {
		f[i] = (struct fired){ .index = i, .order = order, .order_len = &order_len };
		assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, deadline[i], fired_cb, &f[i]) >= 0);
	}
	run_until_all(ctx, f, N);
	assert_int_equal(order_len, N);
	/* Equal deadlines: armed from the highest index down. */
	for (int k = 1; k < N; k++) {
		int a = order[k - 1], b = order[k];
		assert_true(deadline[a] <= deadline[b]);
		if (deadline[a] == deadline[b])
			assert_true(a > b);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(f[i].calls, 1);
		assert_true(f[i].at >= deadline[i]);
	}
	kt_drain_destroy(ctx);
}

/* Many timers on one deadline fire in the order they were armed, also
 * when the wheel moves some down a level: a third armed far ahead (above
 * level 0), a third near the deadline but before the wheel moved the first
 * third down, a third after. */
/* Arms timer i at deadline[i]; its record notes when it fires in order[]. */
static void arm_at(kio_ctx *ctx, struct fired *f, const uint64_t *deadline, int *order,
		   int *order_len, int i)
{
	f[i] = (struct fired){ .index = i, .order = order, .order_len = order_len };
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, deadline[i], fired_cb, &f[i]) >= 0);
}

/* Runs ctx until nothing is left, then checks that all n timers armed by
 * arm_at() fired as check_fired_in_order() wants. */
static void run_all_in_order(kio_ctx *ctx, struct fired *f, const uint64_t *deadline,
			     const int *order, const int *order_len, int n)
{
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(*order_len, n);
	check_fired_in_order(f, deadline, order, n);
}

static void arm_third(kio_ctx *ctx, struct fired *f, uint64_t *deadline, int *order,
		      int *order_len, int from, int to, uint64_t d)
{
	for (int i = from; i < to; i++) {
		/* Every third one a little earlier or later, the rest on d. */
		deadline[i] = d + (i % 3 == 1 ? (uint64_t)-1 : i % 3 == 2 ? 1 : 0);
		arm_at(ctx, f, deadline, order, order_len, i);
	}
}

static void run_to(kio_ctx *ctx, uint64_t when)
{
	uint64_t now = kt_now_ns();
	if (now < when)
		kt_run_for(ctx, (when - now) / KT_MS + 1);
}

static void test_wheel_same_deadline_fifo(void **state)
{
	(void)state;
	enum { N = 3000 };
	kio_ctx *ctx = kt_ctx_new();
	static struct fired f[N];
	static uint64_t deadline[N];
	static int order[N];
	int order_len = 0;
	/* More than 2^28 ns ahead: the first third starts above level 0 and
	 * moves down when the wheel reaches boundary. Should some fire early
	 * on a busy machine, the order still holds. */
	uint64_t boundary = round_up(kt_now_ns() + 300 * KT_MS, 1ull << 28);
	uint64_t d = boundary + 40 * KT_MS;

	/* A ticking timer keeps the wheel turning in between, as the traffic
	 * of a busy loop would. */
	struct fired tick = { 0 };
	int64_t tick_id = kio_timer_periodic(ctx, 1 * KT_MS, fired_cb, &tick);
	assert_true(tick_id >= 0);
	arm_third(ctx, f, deadline, order, &order_len, 0, N / 3, d);
	run_to(ctx, boundary - 100 * KT_MS);
	arm_third(ctx, f, deadline, order, &order_len, N / 3, 2 * N / 3, d);
	run_to(ctx, boundary + 10 * KT_MS);
	arm_third(ctx, f, deadline, order, &order_len, 2 * N / 3, N, d);
	assert_int_equal(kio_op_cancel(ctx, tick_id), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(tick.res, -ECANCELED);
	assert_int_equal(order_len, N);
	check_fired_in_order(f, deadline, order, N);
	kio_ctx_destroy(ctx);
}

/* Thousands of deadlines packed in a few ticks, at any nanosecond, many
 * equal, armed out of order, with some already past when armed: more fire
 * at once than the loop fires per round, and still each exactly once,
 * never early, in deadline order and equal ones in arming order. */
static void test_wheel_dense_ticks(void **state)
{
	(void)state;
	enum { N = 5000 };
	kio_ctx *ctx = kt_ctx_new();
	static struct fired f[N];
	static uint64_t deadline[N];
	static int order[N];
	int order_len = 0;
	uint64_t now = kt_now_ns();
	uint64_t base = now + 20 * KT_MS;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < N; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t r = rng >> 33;
		if (i % 10 == 0)
			deadline[i] = now - r % KT_MS; /* already past */
		else if (i % 3 == 0)
			deadline[i] = base + (r % 8) * 1000; /* shared by many */
		else
			deadline[i] = base + r % (3 << 16); /* three ticks' worth */
		arm_at(ctx, f, deadline, order, &order_len, i);
	}
	run_all_in_order(ctx, f, deadline, order, &order_len, N);
	kio_ctx_destroy(ctx);
}

/* Deadlines at every level up to the end of the clock: none fires early,
 * an idle loop does not wake for them, and each cancels exactly once. */
static void test_wheel_far_future_and_idle(void **state)
{
	(void)state;
	enum { N = 20 };
	kio_ctx *ctx = kt_ctx_new();
	static struct fired f[N];
	int64_t id[N];
	struct fired near = { 0 };

	for (int i = 0; i < N; i++) {
		f[i] = (struct fired){ .index = i };
		if (i < 16) /* 2^34 ns (17 s) and up to 2^64 - 1: levels 3 to 7 */
			id[i] = kio_sleep(ctx, i == 15 ? UINT64_MAX : 1ull << (34 + 2 * i % 30), fired_cb, &f[i]);
		else if (i == 16)
			id[i] = kio_sleep_until(ctx, CLOCK_MONOTONIC, UINT64_MAX, fired_cb, &f[i]);
		else if (i == 17)
			id[i] = kio_sleep_until(ctx, CLOCK_MONOTONIC, UINT64_MAX - 1, fired_cb, &f[i]);
		else if (i == 18)
			id[i] = kio_sleep_until(ctx, CLOCK_REALTIME, UINT64_MAX, fired_cb, &f[i]);
		else
			id[i] = kio_timer_periodic(ctx, UINT64_MAX / 2, fired_cb, &f[i]);
		assert_true(id[i] >= 0);
	}
	assert_true(kio_sleep(ctx, 2 * KT_MS, fired_cb, &near) >= 0);
	kt_run_until(ctx, &near.done, WAIT_MS);
	assert_int_equal(near.res, 0);

	/* Idle with only far timers: a few rounds at most, not one per tick
	 * (a 30 ms run is about 460 ticks). */
	kio_stats s0, s1;
	assert_int_equal(kio_ctx_stats(ctx, &s0, sizeof(s0)), 0);
	kt_run_for(ctx, 30);
	assert_int_equal(kio_ctx_stats(ctx, &s1, sizeof(s1)), 0);
	assert_true(s1.loop_iterations - s0.loop_iterations <= 8);

	for (int i = 0; i < N; i++)
		assert_int_equal(f[i].calls, 0);
	assert_int_equal(kio_ctx_pending(ctx), N);
	/* Cancel from both ends towards the middle. */
	for (int k = 0; k < N / 2; k++) {
		assert_int_equal(kio_op_cancel(ctx, id[k]), 0);
		assert_int_equal(kio_op_cancel(ctx, id[N - 1 - k]), 0);
	}
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(f[i].calls, 1);
		assert_int_equal(f[i].res, -ECANCELED);
		assert_int_equal(kio_op_cancel(ctx, id[i]), -ENOENT);
	}
	kio_ctx_destroy(ctx);
}

/* Cancel entries at every level and at the head, middle and tail of a
 * bucket's list; what is left still fires, in order. */
static void test_wheel_cancel_every_level(void **state)
{
	(void)state;
	enum { LEVELS = 12, SAME = 5, N = LEVELS + SAME };
	kio_ctx *ctx = kt_ctx_new();
	static struct fired f[N];
	static int order[N];
	int order_len = 0;
	int64_t id[N];

	/* 2^10 ns to 2^63 ns: every level of the wheel. */
	for (int i = 0; i < LEVELS; i++) {
		f[i] = (struct fired){ .index = i, .order = order, .order_len = &order_len };
		id[i] = kio_sleep(ctx, 1ull << (10 + (53 * i) / (LEVELS - 1)), fired_cb, &f[i]);
		assert_true(id[i] >= 0);
	}
	/* SAME timers on one deadline: one bucket list. */
	uint64_t d = kt_now_ns() + 3 * KT_MS;
	for (int i = LEVELS; i < N; i++) {
		f[i] = (struct fired){ .index = i, .order = order, .order_len = &order_len };
		id[i] = kio_sleep_until(ctx, CLOCK_MONOTONIC, d, fired_cb, &f[i]);
		assert_true(id[i] >= 0);
	}
	/* Middle, head, tail of the list; then every level but the first. */
	assert_int_equal(kio_op_cancel(ctx, id[LEVELS + 2]), 0);
	assert_int_equal(kio_op_cancel(ctx, id[LEVELS]), 0);
	assert_int_equal(kio_op_cancel(ctx, id[N - 1]), 0);
	for (int i = LEVELS - 1; i >= 1; i--)
		assert_int_equal(kio_op_cancel(ctx, id[i]), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(f[i].calls, 1);
	int expect_ok[] = { 0, LEVELS + 1, LEVELS + 3 };
	for (int k = 0; k < 3; k++)
		assert_int_equal(f[expect_ok[k]].res, 0);
	for (int i = 0; i < N; i++)
		if (i != 0 && i != LEVELS + 1 && i != LEVELS + 3)
			assert_int_equal(f[i].res, -ECANCELED);
	assert_true(f[LEVELS + 1].at <= f[LEVELS + 3].at);
	assert_true(f[LEVELS + 1].at >= d);
	kio_ctx_destroy(ctx);
}

/* Timers armed from timer callbacks, also already due ones: never run
 * inside the callback that armed them, never early. */
struct chain {
	kio_ctx *ctx;
	int left;
	int in_cb;
	int nested;
	int fired;
	int errors;
	uint64_t deadline;
	int done;
};

static void chain_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct chain *c = user_data;
	(void)flags;
	if (c->in_cb)
		c->nested++;
	if (res != 0 || kt_now_ns() < c->deadline)
		c->errors++;
	c->fired++;
	if (--c->left == 0) {
		c->done = 1;
		return;
	}
	c->in_cb = 1;
	uint64_t now = kt_now_ns();
	int64_t id;
	switch (c->left % 4) {
	case 0: /* due at once */
		c->deadline = now;
		id = kio_sleep(c->ctx, 0, chain_cb, c);
		break;
	case 1: /* in the past */
		c->deadline = 0;
		id = kio_sleep_until(c->ctx, CLOCK_MONOTONIC, now / 2, chain_cb, c);
		break;
	case 2: /* inside the current tick or the next */
		c->deadline = now + 20000;
		id = kio_sleep(c->ctx, 20000, chain_cb, c);
		break;
	default: /* a few ms: another level */
		c->deadline = now + 5 * KT_MS;
		id = kio_sleep(c->ctx, 5 * KT_MS, chain_cb, c);
		break;
	}
	if (id < 0)
		c->errors++;
	c->in_cb = 0;
}

static void test_wheel_arm_from_callback(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	enum { CHAINS = 50 };
	static struct chain c[CHAINS];
	for (int i = 0; i < CHAINS; i++) {
		c[i] = (struct chain){ .ctx = ctx, .left = 20, .deadline = kt_now_ns() + 1 * KT_MS };
		/* All chains start on one deadline: their re-arms happen while
		 * the same bucket is being fired. */
		assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, c[0].deadline, chain_cb, &c[i]) >= 0);
		c[i].deadline = c[0].deadline;
	}
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < CHAINS; i++) {
		assert_int_equal(c[i].fired, 20);
		assert_int_equal(c[i].nested, 0);
		assert_int_equal(c[i].errors, 0);
		assert_true(c[i].done);
	}
	kio_ctx_destroy(ctx);
}

/* Edge values: deadlines at 0, 1, now, on a tick boundary; delays of 0
 * and 1 ns; a CLOCK_REALTIME deadline in the past. */
static void test_wheel_clock_edges(void **state)
{
	(void)state;
	enum { N = 8 };
	kio_ctx *ctx = kt_ctx_new();
	static struct fired f[N];
	uint64_t now = kt_now_ns();
	uint64_t tick = round_up(now + KT_MS, 1ull << 16);
	uint64_t deadline[N] = { 0, 0, now, now, 0, tick, tick - 1, now + 1 };

	for (int i = 0; i < N; i++)
		f[i] = (struct fired){ .index = i };
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, 0, fired_cb, &f[0]) >= 0);
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, 1, fired_cb, &f[1]) >= 0);
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, now, fired_cb, &f[2]) >= 0);
	assert_true(kio_sleep(ctx, 0, fired_cb, &f[3]) >= 0);
	assert_true(kio_sleep_until(ctx, CLOCK_REALTIME, 1, fired_cb, &f[4]) >= 0);
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, tick, fired_cb, &f[5]) >= 0);
	assert_true(kio_sleep_until(ctx, CLOCK_MONOTONIC, tick - 1, fired_cb, &f[6]) >= 0);
	assert_true(kio_sleep(ctx, 1, fired_cb, &f[7]) >= 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(f[i].calls, 0);
	/* The due ones fire at the next round, without waiting for a tick. */
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(f[i].calls, 1);
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(f[i].calls, 1);
		assert_int_equal(f[i].res, 0);
		assert_true(f[i].at >= deadline[i]);
	}
	kio_ctx_destroy(ctx);
}

/* Op timeouts moved between levels, disarmed, and left unfired on many
 * ops: the ops end as they would have without them. */
static void test_wheel_op_timeouts(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct fired moved = { 0 }, disarmed = { 0 }, huge = { 0 };

	int64_t a = kio_poll(ctx, p[0], POLLIN, fired_cb, &moved);
	int64_t b = kio_poll(ctx, p[0], POLLIN, fired_cb, &disarmed);
	int64_t c = kio_poll(ctx, p[0], POLLIN, fired_cb, &huge);
	assert_true(a >= 0 && b >= 0 && c >= 0);
	/* a: 10 s (a high level), then 1 h, then 3 ms (level 0 or 1). */
	assert_int_equal(kio_op_timeout(ctx, a, 10000 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, a, 3600000 * KT_MS), 0);
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, a, 3 * KT_MS), 0);
	/* b: armed and disarmed. c: the longest timeout there is. */
	assert_int_equal(kio_op_timeout(ctx, b, 2 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, b, 0), 0);
	assert_int_equal(kio_op_timeout(ctx, c, UINT64_MAX), 0);
	kt_run_until(ctx, &moved.done, WAIT_MS);
	assert_int_equal(moved.res, -ETIMEDOUT);
	assert_true(moved.at >= t0 + 3 * KT_MS);
	/* b outlived its former deadline without a timeout. */
	kt_run_for(ctx, 5);
	assert_int_equal(disarmed.calls, 0);
	assert_int_equal(huge.calls, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	kt_run_until(ctx, &disarmed.done, WAIT_MS);
	kt_run_until(ctx, &huge.done, WAIT_MS);
	assert_true(disarmed.res > 0);
	assert_true(huge.res > 0);

	/* Many NOPs, each with a timeout somewhere in the wheel, none fires. */
	enum { OPS = 2000 };
	static struct fired n[OPS];
	for (int i = 0; i < OPS; i++) {
		n[i] = (struct fired){ 0 };
		int64_t id = kio_nop(ctx, fired_cb, &n[i]);
		assert_true(id >= 0);
		assert_int_equal(kio_op_timeout(ctx, id, (1000000ull << (i % 40)) + (uint64_t)i), 0);
	}
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < OPS; i++) {
		assert_int_equal(n[i].calls, 1);
		assert_int_equal(n[i].res, 0);
	}
	kio_stats st;
	assert_int_equal(kio_ctx_stats(ctx, &st, sizeof(st)), 0);
	assert_int_equal(st.ops_timeouts, 1);
	kt_close_pipe(p);
	kio_ctx_destroy(ctx);
}

/* Op timeouts wait on a pending list until it is flushed into the wheel
 * (at most 1 ms after it started): an op that ends first leaves a stale
 * entry; a slot reused, a timeout disarmed and armed again, or armed twice
 * while on the list each fire exactly once, never before their time. */
static void test_wheel_deferred_timeouts(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);

	/* A batch of NOPs whose timeouts never reach the wheel. */
	enum { OPS = 64 };
	static struct fired n[OPS];
	for (int i = 0; i < OPS; i++) {
		n[i] = (struct fired){ 0 };
		int64_t id = kio_nop(ctx, fired_cb, &n[i]);
		assert_true(id >= 0);
		assert_int_equal(kio_op_timeout(ctx, id, 30000 * KT_MS), 0);
	}
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < OPS; i++)
		assert_int_equal(n[i].calls, 1);
	assert_int_equal(kio_ctx_pending(ctx), 0);

	/* Slots of those NOPs are reused by polls: one disarmed and armed
	 * again (two entries on the list), one armed twice (the second
	 * timeout counts), one that ends before any flush, one that waits
	 * past the flush. */
	struct fired rearmed = { 0 }, twice = { 0 }, ends = { 0 }, late = { 0 };
	int64_t a = kio_poll(ctx, p[0], POLLIN, fired_cb, &rearmed);
	int64_t b = kio_poll(ctx, p[0], POLLIN, fired_cb, &twice);
	int64_t c = kio_nop(ctx, fired_cb, &ends);
	int64_t d = kio_poll(ctx, p[0], POLLIN, fired_cb, &late);
	assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0);
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, a, 50 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, a, 0), 0);
	assert_int_equal(kio_op_timeout(ctx, c, 1000 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, d, 40 * KT_MS), 0);
	assert_int_equal(kio_op_timeout(ctx, b, 1), 0);
	uint64_t tb = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, b, 20 * KT_MS), 0);
	uint64_t t1 = kt_now_ns();
	assert_int_equal(kio_op_timeout(ctx, a, 3 * KT_MS), 0);
	kt_run_until(ctx, &rearmed.done, WAIT_MS);
	assert_int_equal(rearmed.res, -ETIMEDOUT);
	assert_true(rearmed.at >= t1 + 3 * KT_MS);
	assert_int_equal(ends.calls, 1);
	assert_int_equal(ends.res, 0);
	kt_run_until(ctx, &twice.done, WAIT_MS);
	assert_int_equal(twice.res, -ETIMEDOUT);
	assert_true(twice.at >= tb + 20 * KT_MS);
	kt_run_until(ctx, &late.done, WAIT_MS);
	assert_int_equal(late.res, -ETIMEDOUT);
	assert_true(late.at >= t0 + 40 * KT_MS);
	assert_int_equal(rearmed.calls + twice.calls + late.calls, 3);

	/* A timeout armed while an older batch sits in the wheel, on an op
	 * that then ends by itself: no timeout counted for it. */
	struct fired data = { 0 };
	int64_t e = kio_poll(ctx, p[0], POLLIN, fired_cb, &data);
	assert_true(e >= 0);
	assert_int_equal(kio_op_timeout(ctx, e, 10000 * KT_MS), 0);
	kt_run_for(ctx, 3);
	assert_int_equal(write(p[1], "x", 1), 1);
	kt_run_until(ctx, &data.done, WAIT_MS);
	assert_true(data.res > 0);
	assert_int_equal(data.calls, 1);
	kio_stats st;
	assert_int_equal(kio_ctx_stats(ctx, &st, sizeof(st)), 0);
	assert_int_equal(st.ops_timeouts, 3);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kt_close_pipe(p);
	kio_ctx_destroy(ctx);
}

/* Destroy with timers and timeouts pending at every level. A short one
 * may fire first on a busy machine: each ends exactly once either way. */
struct ending {
	int finals;
	int ticks;
	int32_t res;
};

static void ending_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct ending *e = user_data;
	if (flags & KIO_F_MORE) {
		e->ticks++;
		return;
	}
	e->finals++;
	e->res = res;
}

static void test_wheel_destroy_pending(void **state)
{
	(void)state;
	enum { N = 14 };
	kio_ctx *ctx = kt_ctx_new();
	static struct ending e[N];
	int p[2];
	kt_pipe(p);
	struct ending pl = { 0 };
	int64_t poll_id = kio_poll(ctx, p[0], POLLIN, ending_cb, &pl);
	assert_true(poll_id >= 0);
	assert_int_equal(kio_op_timeout(ctx, poll_id, 1ull << 40), 0);
	for (int i = 0; i < N; i++) {
		e[i] = (struct ending){ 0 };
		/* 2^16 ns up to the end of the clock (UINT64_MAX past 2^63). */
		uint64_t len = 16 + 4 * i < 64 ? 1ull << (16 + 4 * i) : UINT64_MAX;
		int64_t id = i % 2 ? kio_sleep(ctx, len, ending_cb, &e[i])
				   : kio_timer_periodic(ctx, 1ull << (20 + 3 * i), ending_cb, &e[i]);
		assert_true(id >= 0);
		if (i % 3 == 0)
			assert_int_equal(kio_op_timeout(ctx, id, 1ull << (40 + i)), 0);
	}
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	kio_ctx_destroy(ctx);
	for (int i = 0; i < N; i++) {
		assert_int_equal(e[i].finals, 1);
		/* A one-shot that fired before destroy ended with 0. */
		if (e[i].res != -ECANCELED)
			assert_true(i % 2 == 1 && e[i].res == 0);
	}
	/* The long ones were surely still pending. */
	for (int i = 8; i < N; i++)
		assert_int_equal(e[i].res, -ECANCELED);
	assert_int_equal(pl.finals, 1);
	assert_int_equal(pl.res, -ECANCELED);
	kt_close_pipe(p);
}

struct self_cancel {
	kio_ctx *ctx;
	int64_t id;
	uint64_t first; /* earliest allowed tick */
	uint64_t at;    /* first tick's time */
	int ticks, finals;
	int32_t final_res;
};

/* A periodic timer that cancels itself at its first tick. */
static void self_cancel_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct self_cancel *s = user_data;
	if (!(flags & KIO_F_MORE)) {
		s->finals++;
		s->final_res = res;
		return;
	}
	if (s->ticks++ == 0) {
		s->at = kt_now_ns();
		assert_int_equal(kio_op_cancel(s->ctx, s->id), 0);
	}
}

/* A backlog: tens of thousands of deadlines over a dozen ticks, all past
 * when the loop starts, so it fires many full buckets in a row (the wheel
 * reads ahead through several of them, more entries than it reads at
 * once). Some were cancelled from the middle of their buckets before the
 * run, and periodic timers (kept in another link array) share the
 * buckets. Each one-shot fires exactly once, never early, in deadline
 * order, equal ones in arming order; the cancelled ones end once with
 * -ECANCELED; each periodic ticks once, not early, then ends. */
static void test_wheel_backlog_many_buckets(void **state)
{
	(void)state;
	enum {
		N = 30000,
		P = 64
	};
	kio_ctx *ctx = kt_ctx_new();
	static struct fired f[N];
	static uint64_t deadline[N];
	static int order[N];
	static int64_t id[N];
	static struct self_cancel per[P];
	int order_len = 0;
	uint64_t now = kt_now_ns();
	uint64_t base = now + 5 * KT_MS;
	uint64_t span = 12ull << 16; /* twelve ticks */
	uint64_t rng = 0x2545f4914f6cdd1dull;
	for (int i = 0; i < N; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t r = rng >> 33;
		if (i % 5 == 0)
			deadline[i] = base + (r % 12) * (1ull << 16); /* shared by many */
		else
			deadline[i] = base + r % span;
		f[i] = (struct fired){ .index = i, .order = order, .order_len = &order_len };
		id[i] = kio_sleep_until(ctx, CLOCK_MONOTONIC, deadline[i], fired_cb, &f[i]);
		assert_true(id[i] >= 0);
		if (i % (N / P) == 0 && i / (N / P) < P) {
			struct self_cancel *s = &per[i / (N / P)];
			/* In the same ticks (unless arming ran past them). */
			uint64_t at = base + r % span, t = kt_now_ns();
			uint64_t period = at > t ? at - t : 1000;
			*s = (struct self_cancel){ .ctx = ctx, .first = t + period };
			s->id = kio_timer_periodic(ctx, period, self_cancel_cb, s);
			assert_true(s->id >= 0);
		}
	}
	for (int i = 7; i < N; i += 11) {
		f[i].order = NULL;
		assert_int_equal(kio_op_cancel(ctx, id[i]), 0);
	}
	/* Everything due before the loop runs (the clock, not a race). */
	while (kt_now_ns() < base + span + (2ull << 16))
		;
	assert_int_equal(kio_ctx_run(ctx), 0);
	int live = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(f[i].calls, 1);
		if (i >= 7 && (i - 7) % 11 == 0) {
			assert_int_equal(f[i].res, -ECANCELED);
			continue;
		}
		assert_int_equal(f[i].res, 0);
		if (f[i].at < deadline[i])
			fail_msg("timer %d fired %llu ns early", i,
				 (unsigned long long)(deadline[i] - f[i].at));
		live++;
	}
	assert_int_equal(order_len, live);
	for (int k = 1; k < order_len; k++) {
		int a = order[k - 1], b = order[k];
		if (deadline[a] > deadline[b] || (deadline[a] == deadline[b] && a > b))
			fail_msg("timer %d (deadline %llu) fired before timer %d (deadline %llu)",
				 a, (unsigned long long)deadline[a], b,
				 (unsigned long long)deadline[b]);
	}
	for (int j = 0; j < P; j++) {
		assert_int_equal(per[j].ticks, 1);
		assert_true(per[j].at >= per[j].first);
		assert_int_equal(per[j].finals, 1);
		assert_int_equal(per[j].final_res, -ECANCELED);
	}
	kio_ctx_destroy(ctx);
}

/* The ways a bucket is put in deadline order (lib/core/deadline_sort.hpp):
 * a few entries (insertion alone); a thousand distinct deadlines in a tick
 * (a counting pass, then insertion); hundreds sharing a few nanoseconds
 * (std::sort where a sub-range fills); entries armed overdue, from the
 * start of the clock to now, sharing the due bucket (offsets past 32 bits:
 * the list is merge-sorted). Each fires once, never early, in deadline
 * order, equal deadlines in arming order. */
static void test_wheel_sort_paths(void **state)
{
	(void)state;
	enum {
		FEW = 12,
		SPREAD = 4000,
		PACKED = 600,
		OVERDUE = 300,
		N = FEW + SPREAD + PACKED + OVERDUE
	};
	kio_ctx *ctx = kt_ctx_new();
	static struct fired f[N];
	static uint64_t deadline[N];
	static int order[N];
	int order_len = 0;
	uint64_t now = kt_now_ns();
	uint64_t tick = 1ull << 16;
	uint64_t few = round_up(now + 20 * KT_MS, tick);
	uint64_t spread = few + 8 * tick;
	uint64_t packed = spread + 8 * tick;
	uint64_t rng = 0x853c49e6748fea9bull;
	for (int i = 0; i < N; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t r = rng >> 33;
		if (i < FEW)
			deadline[i] = few + r % tick;
		else if (i < FEW + SPREAD)
			deadline[i] = spread + r % (4 * tick);
		else if (i < FEW + SPREAD + PACKED)
			deadline[i] = packed + r % 5; /* five values, 120 each */
		else if (i % 2)
			deadline[i] = 1 + r % (now / 2); /* seconds overdue */
		else
			deadline[i] = now - r % KT_MS;
		arm_at(ctx, f, deadline, order, &order_len, i);
	}
	run_all_in_order(ctx, f, deadline, order, &order_len, N);
	kio_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_wheel_level_boundaries),
		KT_TEST(test_wheel_same_deadline_fifo),
		KT_TEST(test_wheel_dense_ticks),
		KT_TEST(test_wheel_far_future_and_idle),
		KT_TEST(test_wheel_cancel_every_level),
		KT_TEST(test_wheel_arm_from_callback),
		KT_TEST(test_wheel_clock_edges),
		KT_TEST(test_wheel_op_timeouts),
		KT_TEST(test_wheel_deferred_timeouts),
		KT_TEST(test_wheel_destroy_pending),
		KT_TEST(test_wheel_backlog_many_buckets),
		KT_TEST(test_wheel_sort_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
