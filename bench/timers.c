/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-timers - N concurrent timers of random length (1-100 ms, a
 * fixed seed: the same lengths for every implementation), all armed at
 * once, then run until the last one fired (bench_timers.h has the rules
 * every peer follows).
 *
 *   kio:      N x kio_sleep(), then kio_ctx_run().
 *   liburing: N x IORING_OP_TIMEOUT (relative), submitted 4096 at a time,
 *             reaping between chunks so the CQ never overflows: one kernel
 *             timeout per timer (not a user-space timer library; kept as a
 *             reference line, its memory is the kernel's).
 *
 * Result lines (one run each, run one implementation per process so the
 * high-water mark is its own): wall_s (first arm to last expiry, at least
 * 100 ms by construction), arm_ns (arming time / N), late_p50_us,
 * late_p99_us, late_max_us (fire time - deadline), late_run_p50_us,
 * late_run_p99_us, late_run_max_us (fire time - the later of the deadline
 * and the start of the run), late_floor_p99_us (what arming alone imposes
 * on late: start of the run - deadline, at least 0), bytes_per_timer
 * (VmHWM growth / N); bench_timers.h has the definitions. impl "kio-c"
 * ("kio-c-epoll" on kio's epoll backend: KIO_BACKEND=epoll) or "liburing",
 * params {"timers":N}.
 *
 *   kio-bench-timers --impl kio|liburing [--count N]
 */
#define _GNU_SOURCE
#include <kio/kio.h>
#include <liburing.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_ring.h"
#include "bench_timers.h"

#define CHUNK 4096u

static struct bt_run run;

/* ---- kio ---------------------------------------------------------------- */

static void on_sleep(void *ud, int32_t res, uint32_t flags)
{
	(void)flags;
	bt_fired(&run, (uint64_t)(uintptr_t)ud, res);
}

static int run_kio(uint64_t n, const char **name)
{
	kio_ctx *ctx = NULL;
	int err = kio_ctx_create(&ctx, NULL, 0);
	if (err < 0) {
		fprintf(stderr, "kio-bench-timers: kio_ctx_create: %s\n", kio_strerror(err));
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	}
	*name = kio_ctx_backend(ctx) == KIO_BACKEND_EPOLL ? "kio-c-epoll" : "kio-c";
	if (bt_init(&run, n) < 0)
		return 1;
	uint64_t rng = BT_SEED;
	int64_t base = 0;
	run.t_first = bt_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = bt_next_delay(&rng);
		bt_arm(&run, i, &base, d);
		int64_t id = kio_sleep(ctx, d, on_sleep, (void *)(uintptr_t)i);
		if (id < 0) {
			fprintf(stderr, "kio-bench-timers: kio_sleep #%llu: %s\n",
				(unsigned long long)i, kio_strerror((int)id));
			kio_ctx_destroy(ctx);
			return 1;
		}
	}
	run.t_armed = bt_now_ns();
	err = kio_ctx_run(ctx);
	if (err < 0)
		fprintf(stderr, "kio-bench-timers: kio_ctx_run: %s\n", kio_strerror(err));
	int rc = err < 0 ? 1 : bt_report(&run, *name, "kio_sleep() per timer");
	kio_ctx_destroy(ctx);
	return rc;
}

/* ---- plain liburing ------------------------------------------------------ */

static void reap(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	/* clang-format off */
	io_uring_for_each_cqe(ring, head, cqe) {
		bt_fired(&run, cqe->user_data, cqe->res == -ETIME ? 0 : -1);
		seen++;
	}
	/* clang-format on */
	io_uring_cq_advance(ring, seen);
}

static int run_uring(uint64_t n)
{
	struct io_uring ring;
	const char *mode = "";
	/* CQ sized like kio's default; reaping between chunks keeps it from overflowing. */
	int err = bench_ring_setup(&ring, CHUNK, 4 * CHUNK, &mode);
	if (err < 0) {
		fprintf(stderr, "kio-bench-timers: io_uring_queue_init_params: %s\n",
			strerror(-err));
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	}
	if (bt_init(&run, n) < 0)
		return 1;
	/* The kernel copies the timespec when it takes the SQE: one chunk's worth is enough. */
	static struct __kernel_timespec ts[CHUNK];
	uint64_t rng = BT_SEED;
	int64_t base = 0;
	run.t_first = bt_now_ns();
	for (uint64_t i = 0; i < n;) {
		unsigned k = 0;
		for (; k < CHUNK && i < n; k++, i++) {
			uint64_t ns = bt_next_delay(&rng);
			bt_arm(&run, i, &base, ns);
			ts[k].tv_sec = (long long)(ns / 1000000000ull);
			ts[k].tv_nsec = (long long)(ns % 1000000000ull);
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_timeout(sqe, &ts[k], 0, 0);
			sqe->user_data = i;
		}
		err = io_uring_submit_and_get_events(&ring);
		if (err < 0)
			break;
		reap(&ring);
	}
	run.t_armed = bt_now_ns();
	while (err >= 0 && run.fired < n) {
		uint64_t left = n - run.fired;
		/* DEFER_TASKRUN runs max(20, wait_nr) completions per enter: ask for many. */
		err = io_uring_submit_and_wait(&ring, left < 128 ? (unsigned)left : 128);
		if (err >= 0)
			reap(&ring);
	}
	bool overflow = IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW;
	io_uring_queue_exit(&ring);
	if (err < 0) {
		fprintf(stderr, "kio-bench-timers: liburing: %s\n", strerror(-err));
		return 1;
	}
	if (overflow)
		fprintf(stderr, "kio-bench-timers: liburing: the CQ overflowed\n");
	char note[128];
	snprintf(note, sizeof(note), "%s; one kernel timeout per timer, RSS: user space only",
		 mode);
	return bt_report(&run, "liburing", note);
}

int main(int argc, char **argv)
{
	const char *impl = NULL;
	uint64_t n = 100000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--impl") == 0 && i + 1 < argc) {
			impl = argv[++i];
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			n = strtoull(argv[++i], NULL, 10);
		} else {
			impl = NULL;
			break;
		}
	}
	if (!impl || (strcmp(impl, "kio") != 0 && strcmp(impl, "liburing") != 0) || n == 0) {
		fprintf(stderr, "usage: kio-bench-timers --impl kio|liburing [--count N]\n");
		return 2;
	}
	const char *name = "kio-c";
	return strcmp(impl, "kio") == 0 ? run_kio(n, &name) : run_uring(n);
}
