/* SPDX-License-Identifier: MIT */
/*
 * bench_timers.h - what every program of the timer workload shares (kio,
 * liburing, libuv and Asio; the Tokio peer has the same rules in Rust):
 * the delays (1-100 ms, xorshift with a fixed seed: the same delays in the
 * same order everywhere), the per-timer deadline and fire time, and the
 * result lines.
 *
 * Arming: timer i's deadline is the clock read before arming it (read
 * once per BT_CLOCK_EVERY timers, so the clock costs nothing measurable)
 * plus its delay. When it fires, its fire time is stored (a store only: the
 * callback reads nothing of the benchmark's). The loop starts running
 * (t_run) when the last timer is armed. Per timer:
 *
 *   late       = fire - deadline
 *   late_run   = fire - max(deadline, t_run), 0 if it fired before t_run
 *                (liburing reaps while it arms)
 *   late_floor = max(0, t_run - deadline)
 *
 * late counts the time a due timer waited for arming to end; late_floor
 * is that part alone, what "arm all, then run" imposes whatever the timer
 * system does (where nothing fires before t_run, late >= late_floor timer
 * by timer, so in every percentile); late_run is the timer system's own
 * delay: from when it could first fire the timer to when it did.
 *
 * Both arrays are allocated and written before the memory baseline is
 * taken, so bytes_per_timer counts only what the library keeps.
 * Header-only, C and C++.
 */
#ifndef KIO_BENCH_TIMERS_H
#define KIO_BENCH_TIMERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

#define BT_MIN_NS 1000000ull   /* 1 ms */
#define BT_SPAN_NS 99000001ull /* up to 100 ms inclusive */
#define BT_SEED 0x6b696f74696d6572ull
#define BT_CLOCK_EVERY 64u

static inline int64_t bt_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static inline uint64_t bt_next_delay(uint64_t *rng)
{
	return BT_MIN_NS + bench_rand(rng) % BT_SPAN_NS;
}

struct bt_run {
	uint64_t n;
	int64_t *deadline; /* per timer (ns) */
	int64_t *fire;     /* per timer: when it fired (ns), then late_run */
	uint64_t fired, errors;
	int64_t t_first; /* start of arming */
	int64_t t_armed; /* end of arming: the loop runs from here (t_run) */
	int64_t t_last;  /* last expiry */
	long long hwm_before, hwm_after;
};

/* Allocates and touches the arrays, then takes the memory baseline. */
static inline int bt_init(struct bt_run *r, uint64_t n)
{
	memset(r, 0, sizeof(*r));
	r->n = n;
	r->deadline = (int64_t *)malloc(n * sizeof(int64_t));
	r->fire = (int64_t *)malloc(n * sizeof(int64_t));
	if (!r->deadline || !r->fire) {
		free(r->deadline);
		free(r->fire);
		return -1;
	}
	memset(r->deadline, 1, n * sizeof(int64_t));
	memset(r->fire, 1, n * sizeof(int64_t));
	r->hwm_before = bench_proc_status_bytes("VmHWM");
	return 0;
}

/* Records timer i's deadline; base is refreshed every BT_CLOCK_EVERY timers. */
static inline void bt_arm(struct bt_run *r, uint64_t i, int64_t *base, uint64_t delay)
{
	if (i % BT_CLOCK_EVERY == 0)
		*base = bt_now_ns();
	r->deadline[i] = *base + (int64_t)delay;
}

/* Timer i fired (res < 0: an error). */
static inline void bt_fired(struct bt_run *r, uint64_t i, int res)
{
	int64_t now = bt_now_ns();
	r->fire[i] = now;
	r->fired++;
	if (res < 0)
		r->errors++;
	r->t_last = now;
}

/*
 * The value of rank k (0-based) in v[0..n), which it reorders: a
 * quickselect, O(n), so the report costs each timer a few dozen
 * instructions (the instr workload counts whole programs).
 */
static inline int64_t bt_select(int64_t *v, int64_t n, int64_t k)
{
	int64_t lo = 0, hi = n - 1;
	while (lo < hi) {
		int64_t pivot = v[lo + (hi - lo) / 2];
		int64_t i = lo, j = hi;
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				int64_t t = v[i];
				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return v[k];
	}
	return v[k];
}

/* The q-quantile (0..1) of n values, in us: the value of rank n x q. */
static inline double bt_quantile_us(int64_t *v, uint64_t n, double q)
{
	uint64_t i = (uint64_t)((double)n * q);
	return (double)bt_select(v, (int64_t)n, (int64_t)(i < n ? i : n - 1)) / 1e3;
}

/*
 * Prints the result lines of one run: wall_s, arm_ns, late_p50_us,
 * late_p99_us, late_max_us, late_run_p50_us, late_run_p99_us,
 * late_run_max_us, late_floor_p99_us, bytes_per_timer. Fails (1) when a
 * timer did not fire or failed, or the memory could not be read.
 */
static inline int bt_report(struct bt_run *r, const char *impl, const char *note)
{
	if (r->fired != r->n || r->errors || r->hwm_before < 0) {
		fprintf(stderr, "kio-bench-timers: %s: %llu of %llu fired, %llu errors\n", impl,
			(unsigned long long)r->fired, (unsigned long long)r->n,
			(unsigned long long)r->errors);
		return 1;
	}
	r->hwm_after = bench_proc_status_bytes("VmHWM");
	int64_t *floor = (int64_t *)malloc(r->n * sizeof(int64_t));
	if (!floor)
		return 1;
	int64_t t_run = r->t_armed;
	for (uint64_t i = 0; i < r->n; i++) {
		int64_t d = r->deadline[i], f = r->fire[i];
		int64_t from = d > t_run ? d : t_run;
		floor[i] = d < t_run ? t_run - d : 0;
		r->deadline[i] = f - d;               /* late */
		r->fire[i] = f > from ? f - from : 0; /* late_run */
	}
	uint64_t n = r->n;
	char params[40];
	snprintf(params, sizeof(params), "{\"timers\":%llu}", (unsigned long long)n);
	double v[10] = {
		(double)(r->t_last - r->t_first) / 1e9,
		(double)(r->t_armed - r->t_first) / (double)n,
		bt_quantile_us(r->deadline, n, 0.5),
		bt_quantile_us(r->deadline, n, 0.99),
		bt_quantile_us(r->deadline, n, 1.0),
		bt_quantile_us(r->fire, n, 0.5),
		bt_quantile_us(r->fire, n, 0.99),
		bt_quantile_us(r->fire, n, 1.0),
		bt_quantile_us(floor, n, 0.99),
		(double)(r->hwm_after - r->hwm_before) / (double)n,
	};
	static const char *const metric[10] = {
		"wall_s",          "arm_ns",          "late_p50_us",
		"late_p99_us",     "late_max_us",     "late_run_p50_us",
		"late_run_p99_us", "late_run_max_us", "late_floor_p99_us",
		"bytes_per_timer"};
	static const char *const unit[10] = {"s",  "ns", "us", "us", "us",
					     "us", "us", "us", "us", "B"};
	for (int k = 0; k < 10; k++)
		bench_emit("timers", impl, params, metric[k], unit[k], false, &v[k], 1, note);
	free(floor);
	free(r->deadline);
	free(r->fire);
	r->deadline = r->fire = NULL;
	return 0;
}

#endif /* KIO_BENCH_TIMERS_H */
