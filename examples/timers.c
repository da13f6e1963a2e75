/* SPDX-License-Identifier: MIT */
/*
 * timers - what kio's timers and op timeouts do, with measured times.
 *
 *   1. kio_sleep():          a relative delay
 *   2. kio_sleep_until():    a wall-clock (CLOCK_REALTIME) deadline
 *   3. kio_timer_periodic(): five ticks, then kio_op_cancel() from the
 *                            fifth: the last callback has -ECANCELED and
 *                            no KIO_F_MORE
 *   4. kio_op_timeout():     a kio_poll() on a pipe nobody writes gives up
 *                            with -ETIMEDOUT
 *
 *   timers          runs the four steps
 *   timers --help   says so, and exits 0
 *
 * Exits 0 when every step behaved as documented, 1 otherwise, 2 on any
 * argument but --help, 77 when the system has no io_uring (the test harness
 * reads that as "skipped").
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ull /* nanoseconds */

/*
 * Timers never fire early, but a busy machine (CI, sanitizers) can make
 * them late; anything later than this counts as a failure.
 */
#define LATE_LIMIT_MS 1000.0

static int failures;

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms_since(uint64_t start)
{
	return (double)(int64_t)(now_ns(CLOCK_MONOTONIC) - start) / 1e6;
}

static void check(bool ok, const char *what)
{
	printf("    %s %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok)
		failures++;
}

/* ---- 1 and 2: one-shot timers ------------------------------------------ */

struct oneshot {
	clockid_t clock; /* the clock to read when it fires */
	uint64_t fired_at;
	int32_t res;
	int calls;
};

static void on_oneshot(void *user_data, int32_t res, uint32_t flags)
{
	struct oneshot *o = user_data;
	(void)flags;
	o->fired_at = now_ns(o->clock);
	o->res = res;
	o->calls++;
}

static void demo_sleep(kio_ctx *ctx)
{
	printf("1. kio_sleep(20 ms)\n");
	struct oneshot o = {.clock = CLOCK_MONOTONIC};
	uint64_t start = now_ns(CLOCK_MONOTONIC);
	int64_t id = kio_sleep(ctx, 20 * MS, on_oneshot, &o);
	if (id < 0) {
		check(false, kio_strerror((int)id));
		return;
	}
	kio_ctx_run(ctx); /* returns when nothing is pending: the timer fired */
	double ms = (double)(o.fired_at - start) / 1e6;
	printf("    fired after %.2f ms with res %d (%s)\n", ms, o.res, kio_strerror(o.res));
	check(o.calls == 1 && o.res == 0, "one callback, res 0");
	check(ms >= 20.0, "not early");
	check(ms < 20.0 + LATE_LIMIT_MS, "not late");
}

static void demo_sleep_until(kio_ctx *ctx)
{
	printf("2. kio_sleep_until(CLOCK_REALTIME, now + 30 ms)\n");
	struct oneshot o = {.clock = CLOCK_REALTIME};
	uint64_t deadline = now_ns(CLOCK_REALTIME) + 30 * MS;
	int64_t id = kio_sleep_until(ctx, CLOCK_REALTIME, deadline, on_oneshot, &o);
	if (id < 0) {
		check(false, kio_strerror((int)id));
		return;
	}
	kio_ctx_run(ctx);
	double late = (double)(int64_t)(o.fired_at - deadline) / 1e6;
	time_t secs = (time_t)(deadline / 1000000000ull);
	struct tm tm;
	char when[32];
	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&secs, &tm));
	printf("    deadline %s.%03llu wall clock, fired %.3f ms after it\n", when,
	       (unsigned long long)(deadline % 1000000000ull / MS), late);
	check(o.calls == 1 && o.res == 0, "one callback, res 0");
	/*
	 * kio turns the wall-clock deadline into a monotonic one when called;
	 * the two clocks are read a few microseconds apart, hence the slack.
	 */
	check(late > -1.0, "not early");
	check(late < LATE_LIMIT_MS, "not late");
}

/* ---- 3: periodic timer cancelled from its own callback ------------------ */

#define TICKS 5
#define PERIOD_MS 10

struct periodic {
	kio_ctx *ctx;
	int64_t id;
	uint64_t start;
	int ticks;  /* callbacks with KIO_F_MORE */
	int finals; /* callbacks without it */
	int32_t final_res;
	int cancel_ret;
	bool early; /* a tick came before its period */
};

static void on_tick(void *user_data, int32_t res, uint32_t flags)
{
	struct periodic *p = user_data;
	double ms = ms_since(p->start);

	if (!(flags & KIO_F_MORE)) {
		p->finals++;
		p->final_res = res;
		printf("    %7.2f ms  final callback: res %d (%s), KIO_F_MORE not set\n", ms, res,
		       kio_strerror(res));
		return;
	}
	p->ticks++;
	printf("    %7.2f ms  tick %d (res %d, KIO_F_MORE)\n", ms, p->ticks, res);
	/* Missed ticks are not replayed, so tick n can never come before n periods. */
	if (ms < p->ticks * PERIOD_MS)
		p->early = true;
	if (p->ticks == TICKS) {
		/* Cancelling from the op's own callback is allowed; the final call follows. */
		p->cancel_ret = kio_op_cancel(p->ctx, p->id);
		printf("              kio_op_cancel() -> %d\n", p->cancel_ret);
	}
}

static void demo_periodic(kio_ctx *ctx)
{
	printf("3. kio_timer_periodic(%d ms), cancelled after %d ticks\n", PERIOD_MS, TICKS);
	struct periodic p = {.ctx = ctx, .start = now_ns(CLOCK_MONOTONIC)};
	p.id = kio_timer_periodic(ctx, PERIOD_MS * MS, on_tick, &p);
	if (p.id < 0) {
		check(false, kio_strerror((int)p.id));
		return;
	}
	kio_ctx_run(ctx); /* a periodic timer stays pending until its final callback */
	check(p.ticks == TICKS, "exactly 5 ticks with KIO_F_MORE");
	check(p.cancel_ret == 0, "kio_op_cancel() returned 0");
	check(p.finals == 1 && p.final_res == -ECANCELED, "one final callback with -ECANCELED");
	check(!p.early, "no tick before its time");
	check(kio_op_cancel(ctx, p.id) == -ENOENT, "cancelling it again gives -ENOENT");
}

/* ---- 4: a timeout on an op that never completes ------------------------- */

static void demo_poll_timeout(kio_ctx *ctx)
{
	printf("4. kio_poll(POLLIN) on a pipe nobody writes, kio_op_timeout(50 ms)\n");
	int fds[2];
	if (pipe(fds) < 0) {
		check(false, "pipe()");
		return;
	}
	struct oneshot o = {.clock = CLOCK_MONOTONIC};
	uint64_t start = now_ns(CLOCK_MONOTONIC);
	int64_t id = kio_poll(ctx, fds[0], POLLIN, on_oneshot, &o);
	int ret = id < 0 ? (int)id : kio_op_timeout(ctx, id, 50 * MS);
	if (ret < 0) {
		check(false, kio_strerror(ret));
	} else {
		kio_ctx_run(ctx);
		double ms = (double)(o.fired_at - start) / 1e6;
		printf("    callback after %.2f ms: res %d (%s)\n", ms, o.res, kio_strerror(o.res));
		check(o.calls == 1 && o.res == -ETIMEDOUT, "one callback with -ETIMEDOUT");
		check(ms >= 50.0, "not before the timeout");
		check(ms < 50.0 + LATE_LIMIT_MS, "not late");
	}
	close(fds[0]);
	close(fds[1]);
}

/* --help: on stdout, exit 0; anything else: on stderr, exit 2. */
static int usage(FILE *to, int status)
{
	fprintf(to, "usage: timers [--help]\n"
		    "  shows kio_sleep, kio_sleep_until, kio_timer_periodic and\n"
		    "  kio_op_timeout with measured times; takes no other argument\n");
	return status;
}

int main(int argc, char **argv)
{
	kio_ctx *ctx = NULL;
	if (argc > 1)
		return argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ?
			       usage(stdout, 0) :
			       usage(stderr, 2);
	int err = kio_ctx_create(&ctx, NULL, 0);
	if (err == -EPERM || err == -ENOSYS) {
		printf("timers: io_uring is not available here (%s): skipped\n", kio_strerror(err));
		return 77;
	}
	if (err < 0) {
		fprintf(stderr, "timers: kio_ctx_create: %s\n", kio_strerror(err));
		return 1;
	}

	demo_sleep(ctx);
	demo_sleep_until(ctx);
	demo_periodic(ctx);
	demo_poll_timeout(ctx);

	check(kio_ctx_pending(ctx) == 0, "nothing left pending");
	kio_ctx_destroy(ctx);

	printf("%s\n", failures == 0 ? "all timers behaved as documented" :
				       "some timers did NOT behave as documented");
	return failures == 0 ? 0 : 1;
}
