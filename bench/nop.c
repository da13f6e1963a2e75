/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-nop - the cost of kio's loop, measured against plain liburing.
 *
 * For each batch size B: start B NOPs, wait until all B completed, repeat.
 *   kio:      B x kio_nop() with a counting callback, then kio_ctx_run()
 *             (which returns once nothing is pending).
 *   liburing: B x io_uring_get_sqe() + io_uring_prep_nop(), then
 *             io_uring_submit_and_wait(B), reaped with io_uring_for_each_cqe()
 *             and io_uring_cq_advance().
 * Both rings use the same setup flags (SINGLE_ISSUER|DEFER_TASKRUN where
 * the kernel has them), both run in this process, one after the other,
 * alternating which goes first. A NOP does no I/O, so the difference is
 * exactly what kio adds: op records, callbacks, the loop's bookkeeping.
 *
 *   kio-bench-nop [--quick] [--reps N] [--json] [--check]
 *   kio-bench-nop --instr kio|kio-timeout|liburing BATCH ROUNDS
 *
 * --instr runs ROUNDS rounds of BATCH NOPs of one side once, with no
 * calibration and no output: bench/workloads/instr.sh counts its
 * instructions (callgrind or perf) at two ROUNDS and takes the difference
 * per NOP. kio-timeout: kio with a 30 s kio_op_timeout() on every NOP.
 *
 * --json prints result lines (bench/README.md): ops_per_s for kio-c and
 * liburing per batch, the paired ratio and kio's io_uring_enter calls per
 * round in "extra".
 * --check exits 1 when the goal (kio/liburing >= 0.90 at batch 32) is
 * missed. Exit 77: no io_uring on this machine.
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

static const unsigned batches[] = {1, 8, 32, 128};
/* liburing 2.3 has no version macros: the build passes the version. */
#ifndef LIBURING_VERSION
#define LIBURING_VERSION "(unknown version)"
#endif

#define NBATCH (sizeof(batches) / sizeof(batches[0]))
#define MAX_REPS 101
#define GOAL_BATCH 32
#define GOAL_RATIO 0.90

/* kio's defaults (kio/context.h): 256 SQ entries, max(4 * 256, 4096) CQ entries. */
#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096

/* ---- kio ---------------------------------------------------------------- */

struct counter {
	uint64_t done;
	uint64_t errors;
};

static void on_nop(void *user_data, int32_t res, uint32_t flags)
{
	struct counter *c = user_data;
	(void)flags;
	c->done++;
	if (res < 0)
		c->errors++;
}

/* Runs iters rounds of batch NOPs; returns the elapsed seconds, or < 0 on error. */
static double run_kio(kio_ctx *ctx, unsigned batch, uint64_t iters)
{
	struct counter c = {0};
	double t0 = bench_now_s();
	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned j = 0; j < batch; j++) {
			int64_t id = kio_nop(ctx, on_nop, &c);
			if (id < 0) {
				fprintf(stderr, "kio_nop: %s\n", kio_strerror((int)id));
				return -1;
			}
		}
		int err = kio_ctx_run(ctx);
		if (err < 0) {
			fprintf(stderr, "kio_ctx_run: %s\n", kio_strerror(err));
			return -1;
		}
	}
	double t = bench_now_s() - t0;
	if (c.done != iters * batch || c.errors != 0) {
		fprintf(stderr, "kio: %llu of %llu NOPs completed, %llu errors\n",
			(unsigned long long)c.done, (unsigned long long)(iters * batch),
			(unsigned long long)c.errors);
		return -1;
	}
	return t;
}

/*
 * The kio loop again, each NOP carrying a kio_op_timeout() that never fires
 * (30 s): what an armed, never-expiring deadline adds per op (--instr only).
 */
static int run_kio_timeout(kio_ctx *ctx, unsigned batch, uint64_t iters)
{
	struct counter c = {0};
	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned j = 0; j < batch; j++) {
			int64_t id = kio_nop(ctx, on_nop, &c);
			int err = id < 0 ? (int)id : kio_op_timeout(ctx, id, 30000000000ull);
			if (err < 0) {
				fprintf(stderr, "kio_nop + kio_op_timeout: %s\n",
					kio_strerror(err));
				return -1;
			}
		}
		int err = kio_ctx_run(ctx);
		if (err < 0)
			return -1;
	}
	return c.done == iters * batch && c.errors == 0 ? 0 : -1;
}

/* ---- plain liburing ------------------------------------------------------ */

static const char *ring_mode = "none";

static double run_uring(struct io_uring *ring, unsigned batch, uint64_t iters)
{
	uint64_t done = 0, errors = 0;
	double t0 = bench_now_s();
	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned j = 0; j < batch; j++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			io_uring_prep_nop(sqe); /* batch <= SQ_ENTRIES: never NULL */
			sqe->user_data = j;
		}
		unsigned left = batch;
		int ret = io_uring_submit_and_wait(ring, batch);
		while (ret >= 0) {
			struct io_uring_cqe *cqe;
			unsigned head, seen = 0;
			/* A loop macro, not a call: keep its brace on this line. */
			/* clang-format off */
			io_uring_for_each_cqe(ring, head, cqe) {
				if (cqe->res < 0)
					errors++;
				seen++;
			}
			/* clang-format on */
			io_uring_cq_advance(ring, seen);
			left -= seen;
			done += seen;
			if (left == 0)
				break;
			ret = io_uring_submit_and_wait(ring, left);
		}
		if (ret < 0) {
			fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-ret));
			return -1;
		}
	}
	double t = bench_now_s() - t0;
	if (done != iters * batch || errors != 0) {
		fprintf(stderr, "liburing: %llu of %llu NOPs completed, %llu errors\n",
			(unsigned long long)done, (unsigned long long)(iters * batch),
			(unsigned long long)errors);
		return -1;
	}
	return t;
}

/* ---- statistics ----------------------------------------------------------- */

struct summary {
	double median, min, max;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static struct summary summarize(const double *v, int n)
{
	double sorted[MAX_REPS];
	memcpy(sorted, v, (size_t)n * sizeof(double));
	qsort(sorted, (size_t)n, sizeof(double), cmp_double);
	struct summary s = {sorted[n / 2], sorted[0], sorted[n - 1]};
	if (n % 2 == 0)
		s.median = (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	return s;
}

struct point {
	unsigned batch;
	uint64_t ops_per_run;
	struct summary kio, uring, ratio;
	double kio_enters_per_batch; /* io_uring_enter calls kio made per round */
	double kio_runs[MAX_REPS], uring_runs[MAX_REPS];
};

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kio-bench-nop [--quick] [--reps N] [--json] [--check]\n"
		"  --quick    short runs (about 2 s in all)\n"
		"  --reps N   runs per point, alternating kio and liburing (default 7, quick 5)\n"
		"  --json     print result lines (bench/README.md) instead of a table\n"
		"  --check    exit 1 if kio/liburing < %.2f at batch %d\n",
		GOAL_RATIO, GOAL_BATCH);
}

/* --instr IMPL BATCH ROUNDS: one run of one side, for an instruction counter. */
static int instr_run(const char *impl, unsigned batch, uint64_t rounds)
{
	if (batch < 1 || batch > SQ_ENTRIES || rounds < 1) {
		fprintf(stderr, "kio-bench-nop: --instr: BATCH 1..%d, ROUNDS >= 1\n", SQ_ENTRIES);
		return 2;
	}
	if (strcmp(impl, "liburing") == 0) {
		struct io_uring ring;
		int err = bench_ring_setup(&ring, SQ_ENTRIES, CQ_ENTRIES, &ring_mode);
		if (err < 0)
			return err == -EPERM || err == -ENOSYS ? 77 : 1;
		int rc = run_uring(&ring, batch, rounds) < 0;
		io_uring_queue_exit(&ring);
		return rc;
	}
	kio_ctx *ctx = NULL;
	int err = kio_ctx_create(&ctx, NULL, 0);
	if (err < 0)
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	int rc = 2;
	if (strcmp(impl, "kio") == 0)
		rc = run_kio(ctx, batch, rounds) < 0;
	else if (strcmp(impl, "kio-timeout") == 0)
		rc = run_kio_timeout(ctx, batch, rounds) < 0;
	kio_ctx_destroy(ctx);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--instr") == 0)
		return instr_run(argv[2], (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 10));
	bool quick = false, json = false, check = false;
	int reps = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--check") == 0) {
			check = true;
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = atoi(argv[++i]);
			if (reps < 1 || reps > MAX_REPS) {
				fprintf(stderr, "kio-bench-nop: --reps must be 1..%d\n", MAX_REPS);
				return 2;
			}
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (reps == 0)
		reps = quick ? 5 : 7;
	double target_s = quick ? 0.03 : 0.2; /* per run, per side */

	kio_ctx *ctx = NULL;
	int err = kio_ctx_create(&ctx, NULL, 0);
	if (err == -EPERM || err == -ENOSYS) {
		fprintf(stderr, "kio-bench-nop: io_uring unavailable (%s): skipped\n",
			kio_strerror(err));
		return 77;
	}
	if (err < 0) {
		fprintf(stderr, "kio-bench-nop: kio_ctx_create: %s\n", kio_strerror(err));
		return 1;
	}
	struct io_uring ring;
	err = bench_ring_setup(&ring, SQ_ENTRIES, CQ_ENTRIES, &ring_mode);
	if (err < 0) {
		fprintf(stderr, "kio-bench-nop: io_uring_queue_init_params: %s\n", strerror(-err));
		kio_ctx_destroy(ctx);
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	}

	struct point points[NBATCH];
	int status = 0;
	for (size_t b = 0; b < NBATCH && status == 0; b++) {
		unsigned batch = batches[b];

		/*
		 * Size the runs from a short liburing calibration, so every batch
		 * size takes about target_s; both sides then do the same count.
		 * The calibration also warms both rings and the caches.
		 */
		uint64_t iters = 16;
		double t;
		for (;;) {
			t = run_uring(&ring, batch, iters);
			if (t < 0 || t >= target_s / 10)
				break;
			iters *= 2;
		}
		if (t < 0 || run_kio(ctx, batch, iters) < 0) {
			status = 1;
			break;
		}
		iters = (uint64_t)((double)iters * target_s / t);
		if (iters == 0)
			iters = 1;

		double kio_rate[MAX_REPS], uring_rate[MAX_REPS], ratio[MAX_REPS];
		kio_stats before, after;
		uint64_t enters = 0, rounds = 0;
		for (int r = 0; r < reps; r++) {
			double tk = -1, tu = -1;
			/* Alternate who goes first, so drift (heat, frequency) hits both alike. */
			if (r % 2 == 0)
				tu = run_uring(&ring, batch, iters);
			kio_ctx_stats(ctx, &before, sizeof(before));
			tk = run_kio(ctx, batch, iters);
			kio_ctx_stats(ctx, &after, sizeof(after));
			if (r % 2 == 1)
				tu = run_uring(&ring, batch, iters);
			if (tk < 0 || tu < 0) {
				status = 1;
				break;
			}
			enters += after.enter_calls - before.enter_calls;
			rounds += iters;
			kio_rate[r] = (double)(iters * batch) / tk;
			uring_rate[r] = (double)(iters * batch) / tu;
			/* Paired: each ratio compares two runs made back to back. */
			ratio[r] = kio_rate[r] / uring_rate[r];
		}
		if (status != 0)
			break;
		points[b] = (struct point){
			.batch = batch,
			.ops_per_run = iters * batch,
			.kio = summarize(kio_rate, reps),
			.uring = summarize(uring_rate, reps),
			.ratio = summarize(ratio, reps),
			.kio_enters_per_batch = (double)enters / (double)rounds,
		};
		memcpy(points[b].kio_runs, kio_rate, (size_t)reps * sizeof(double));
		memcpy(points[b].uring_runs, uring_rate, (size_t)reps * sizeof(double));
	}
	io_uring_queue_exit(&ring);
	kio_ctx_destroy(ctx);
	if (status != 0)
		return status;

	double goal_ratio = 0;
	for (size_t b = 0; b < NBATCH; b++)
		if (points[b].batch == GOAL_BATCH)
			goal_ratio = points[b].ratio.median;
	bool met = goal_ratio >= GOAL_RATIO;

	if (json) {
		for (size_t b = 0; b < NBATCH; b++) {
			const struct point *p = &points[b];
			char params[32], note[160], extra[256];
			snprintf(params, sizeof(params), "{\"batch\":%u}", p->batch);
			snprintf(note, sizeof(note),
				 "paired kio/liburing %.3f [%.3f-%.3f], kio enters/round %.2f",
				 p->ratio.median, p->ratio.min, p->ratio.max,
				 p->kio_enters_per_batch);
			/* The report prefers this paired ratio to the ratio of the medians. */
			snprintf(extra, sizeof(extra),
				 "{\"paired_ratio\":{\"peer\":\"liburing\",\"median\":%.4f,"
				 "\"min\":%.4f,\"max\":%.4f},\"kio_enters_per_round\":%.3f,"
				 "\"kio_version\":\"%s\"}",
				 p->ratio.median, p->ratio.min, p->ratio.max,
				 p->kio_enters_per_batch, kio_version_string());
			bench_emit_extra("nop", "kio-c", params, "ops_per_s", "ops/s", true,
					 p->kio_runs, reps, note, extra);
			snprintf(note, sizeof(note), "liburing %s, ring %s", LIBURING_VERSION,
				 ring_mode);
			bench_emit("nop", "liburing", params, "ops_per_s", "ops/s", true,
				   p->uring_runs, reps, note);
		}
	} else {
		printf("NOP round trips, kio %s vs plain liburing %s (ring: %s)\n",
		       kio_version_string(), LIBURING_VERSION, ring_mode);
		printf("median of %d runs per point, [min-max]; ops/s in millions\n\n", reps);
		printf("%5s  %-20s  %-20s  %-19s  %s\n", "batch", "kio Mops/s", "liburing Mops/s",
		       "kio/liburing", "kio enters/batch");
		for (size_t b = 0; b < NBATCH; b++) {
			const struct point *p = &points[b];
			char k[32], u[32], r[32];
			snprintf(k, sizeof(k), "%6.2f [%.2f-%.2f]", p->kio.median / 1e6,
				 p->kio.min / 1e6, p->kio.max / 1e6);
			snprintf(u, sizeof(u), "%6.2f [%.2f-%.2f]", p->uring.median / 1e6,
				 p->uring.min / 1e6, p->uring.max / 1e6);
			snprintf(r, sizeof(r), "%5.2f [%.2f-%.2f]", p->ratio.median, p->ratio.min,
				 p->ratio.max);
			printf("%5u  %-20s  %-20s  %-19s  %.2f\n", p->batch, k, u, r,
			       p->kio_enters_per_batch);
		}
		printf("\ngoal: kio/liburing >= %.2f at batch %d: %s (%.2f)\n", GOAL_RATIO,
		       GOAL_BATCH, met ? "met" : "MISSED", goal_ratio);
	}
	return check && !met ? 1 : 0;
}
