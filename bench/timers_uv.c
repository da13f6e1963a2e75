/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-timers-uv - the libuv peer of the timer workload: N uv_timer_t
 * (a user-space binary heap in the loop), armed with uv_timer_start() with
 * the delays of kio-bench-timers, then uv_run() until the last one fired.
 * The handles are the caller's memory in libuv: they are allocated after
 * the memory baseline, so bytes_per_timer counts them.
 *
 *   kio-bench-timers-uv [--count N]
 *
 * Prints the result lines of kio-bench-timers (bench_timers.h), impl "libuv".
 */
#define _GNU_SOURCE
#include <uv.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timers.h"

static struct bt_run run;

static void on_timer(uv_timer_t *t)
{
	bt_fired(&run, (uint64_t)(uintptr_t)t->data, 0);
}

int main(int argc, char **argv)
{
	uint64_t n = 100000;
	if (argc == 3 && strcmp(argv[1], "--count") == 0)
		n = strtoull(argv[2], NULL, 10);
	else if (argc != 1)
		n = 0;
	if (n == 0) {
		fprintf(stderr, "usage: kio-bench-timers-uv [--count N]\n");
		return 2;
	}
	uv_loop_t *loop = uv_default_loop();
	if (bt_init(&run, n) < 0)
		return 1;
	uv_timer_t *timers = malloc(n * sizeof(*timers));
	if (!timers)
		return 1;
	uint64_t rng = BT_SEED;
	int64_t base = 0;
	run.t_first = bt_now_ns();
	/* libuv arms against its cached loop time: refresh it as the clock is read. */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = bt_next_delay(&rng);
		if (i % BT_CLOCK_EVERY == 0)
			uv_update_time(loop);
		bt_arm(&run, i, &base, d);
		uv_timer_init(loop, &timers[i]);
		timers[i].data = (void *)(uintptr_t)i;
		/* Millisecond resolution: round the delay up, never fire early. */
		uv_timer_start(&timers[i], on_timer, (d + 999999) / 1000000, 0);
	}
	run.t_armed = bt_now_ns();
	uv_run(loop, UV_RUN_DEFAULT);
	int rc =
		bt_report(&run, "libuv", "uv_timer_start() per timer (binary heap), ms resolution");
	free(timers);
	return rc;
}
