/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-timers - N concurrent sleeps of random length (1-100 ms, a
 * fixed seed: the same lengths for every implementation), all started at
 * once, then run until the last one fired.
 *
 *   kio:      N x kio_sleep(), then kio_ctx_run().
 *   liburing: N x IORING_OP_TIMEOUT (relative), submitted 4096 at a time,
 *             reaping between chunks so the CQ never overflows.
 *
 * Measures the wall time from the first start to the last expiry (at least
 * 100 ms by construction: the rest is overhead) and the peak resident
 * memory per timer, (VmHWM at the end - VmHWM before the first start) / N.
 * Run one implementation per process so the high-water mark is its own:
 *
 *   kio-bench-timers --impl kio|liburing [--count N]
 *
 * Prints result lines (bench/README.md) with a single run each: workload
 * "timers", impl "kio-c" ("kio-c-epoll" when kio runs on its epoll backend:
 * KIO_BACKEND=epoll) or "liburing", params {"timers":N}, metrics wall_s and
 * bytes_per_timer. The
 * kernel memory a timeout takes is not in the process's RSS: liburing's
 * figure is only what user space keeps.
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
#include "bench_util.h"

#define MIN_NS 1000000ull   /* 1 ms */
#define SPAN_NS 99000001ull /* up to 100 ms inclusive */
#define CHUNK 4096u
#define SEED 0x6b696f74696d6572ull

static uint64_t next_delay(uint64_t *rng)
{
	return MIN_NS + bench_rand(rng) % SPAN_NS;
}

/* ---- kio ---------------------------------------------------------------- */

struct kio_tally {
	uint64_t fired, errors;
	double last;
};

static void on_sleep(void *ud, int32_t res, uint32_t flags)
{
	struct kio_tally *t = ud;
	(void)flags;
	if (res < 0)
		t->errors++;
	t->fired++;
	t->last = bench_now_s();
}

static int run_kio(uint64_t n, double *wall, long long *hwm_before, long long *hwm_after,
		   const char **name)
{
	kio_ctx *ctx = NULL;
	int err = kio_ctx_create(&ctx, NULL, 0);
	if (err < 0) {
		fprintf(stderr, "kio-bench-timers: kio_ctx_create: %s\n", kio_strerror(err));
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	}
	*name = kio_ctx_backend(ctx) == KIO_BACKEND_EPOLL ? "kio-c-epoll" : "kio-c";
	struct kio_tally t = {0, 0, 0};
	uint64_t rng = SEED;
	*hwm_before = bench_proc_status_bytes("VmHWM");
	double t0 = bench_now_s();
	for (uint64_t i = 0; i < n; i++) {
		int64_t id = kio_sleep(ctx, next_delay(&rng), on_sleep, &t);
		if (id < 0) {
			fprintf(stderr, "kio-bench-timers: kio_sleep #%llu: %s\n",
				(unsigned long long)i, kio_strerror((int)id));
			kio_ctx_destroy(ctx);
			return 1;
		}
	}
	err = kio_ctx_run(ctx);
	*hwm_after = bench_proc_status_bytes("VmHWM");
	*wall = t.last - t0;
	kio_ctx_destroy(ctx);
	if (err < 0 || t.fired != n || t.errors) {
		fprintf(stderr, "kio-bench-timers: run %d, %llu of %llu fired, %llu errors\n", err,
			(unsigned long long)t.fired, (unsigned long long)n,
			(unsigned long long)t.errors);
		return 1;
	}
	return 0;
}

/* ---- plain liburing ------------------------------------------------------ */

struct uring_tally {
	uint64_t fired, errors;
};

static void reap(struct io_uring *ring, struct uring_tally *t)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	/* clang-format off */
	io_uring_for_each_cqe(ring, head, cqe) {
		if (cqe->res != -ETIME)
			t->errors++;
		seen++;
	}
	/* clang-format on */
	io_uring_cq_advance(ring, seen);
	t->fired += seen;
}

static int run_uring(uint64_t n, double *wall, long long *hwm_before, long long *hwm_after,
		     const char **mode)
{
	struct io_uring ring;
	/* CQ sized like kio's default; reaping between chunks keeps it from overflowing. */
	int err = bench_ring_setup(&ring, CHUNK, 4 * CHUNK, mode);
	if (err < 0) {
		fprintf(stderr, "kio-bench-timers: io_uring_queue_init_params: %s\n",
			strerror(-err));
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	}
	/* The kernel copies the timespec when it takes the SQE: one chunk's worth is enough. */
	static struct __kernel_timespec ts[CHUNK];
	struct uring_tally t = {0, 0};
	uint64_t rng = SEED;
	*hwm_before = bench_proc_status_bytes("VmHWM");
	double t0 = bench_now_s();
	for (uint64_t i = 0; i < n;) {
		unsigned k = 0;
		for (; k < CHUNK && i < n; k++, i++) {
			uint64_t ns = next_delay(&rng);
			ts[k].tv_sec = (long long)(ns / 1000000000ull);
			ts[k].tv_nsec = (long long)(ns % 1000000000ull);
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_timeout(sqe, &ts[k], 0, 0);
			sqe->user_data = i;
		}
		err = io_uring_submit_and_get_events(&ring);
		if (err < 0)
			break;
		reap(&ring, &t);
	}
	while (err >= 0 && t.fired < n) {
		uint64_t left = n - t.fired;
		/* DEFER_TASKRUN runs max(20, wait_nr) completions per enter: ask for many. */
		err = io_uring_submit_and_wait(&ring, left < 128 ? (unsigned)left : 128);
		if (err >= 0)
			reap(&ring, &t);
	}
	*wall = bench_now_s() - t0;
	*hwm_after = bench_proc_status_bytes("VmHWM");
	bool overflow = IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW;
	io_uring_queue_exit(&ring);
	if (err < 0 || t.errors) {
		fprintf(stderr, "kio-bench-timers: liburing: %s, %llu of %llu fired, %llu errors\n",
			err < 0 ? strerror(-err) : "ok", (unsigned long long)t.fired,
			(unsigned long long)n, (unsigned long long)t.errors);
		return 1;
	}
	if (overflow)
		fprintf(stderr, "kio-bench-timers: liburing: the CQ overflowed\n");
	return 0;
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
	double wall = 0;
	long long before = 0, after = 0;
	const char *mode = "", *name = "liburing";
	int rc = strcmp(impl, "kio") == 0 ? run_kio(n, &wall, &before, &after, &name) :
					    run_uring(n, &wall, &before, &after, &mode);
	if (rc != 0)
		return rc;
	if (before < 0 || after < 0) {
		fprintf(stderr, "kio-bench-timers: no VmHWM in /proc/self/status\n");
		return 1;
	}
	char params[40], note[128];
	snprintf(params, sizeof(params), "{\"timers\":%llu}", (unsigned long long)n);
	if (*mode)
		snprintf(note, sizeof(note),
			 "%s; RSS: user space only, the kernel keeps each timeout", mode);
	else
		snprintf(note, sizeof(note), "user-space timers");
	double per = (double)(after - before) / (double)n;
	bench_emit("timers", name, params, "wall_s", "s", false, &wall, 1, note);
	bench_emit("timers", name, params, "bytes_per_timer", "B", false, &per, 1, note);
	return 0;
}
