/* SPDX-License-Identifier: MIT */
/*
 * kio/stats.h - counters a context always keeps (plain increments on the
 * loop thread: cheap enough to leave on).
 */
#ifndef KIO_STATS_H
#define KIO_STATS_H

#include <kio/common.h>

KIO_EXTERN_C_BEGIN

/* Fields are only ever appended. */
typedef struct kio_stats {
	uint64_t ops_submitted;    /* ops started (calls that returned an id) */
	uint64_t ops_completed;    /* final callbacks run */
	uint64_t ops_errors;       /* final callbacks with res < 0, other than the two below */
	uint64_t ops_timeouts;     /* final callbacks with -ETIMEDOUT from kio_op_timeout() */
	uint64_t ops_cancelled;    /* final callbacks with -ECANCELED */
	uint64_t ops_max_inflight; /* highest kio_ctx_pending() seen */
	uint64_t loop_iterations;  /* rounds of the loop */
	uint64_t enter_calls;      /* io_uring_enter(2) system calls */
	/* Appended in kio 0.4 */
	uint64_t ops_inflight;     /* ops started whose final callback has not run: kio_ctx_pending() */
	uint64_t cq_overflows;     /* rounds that found completions held back by a full CQ */
	uint64_t cq_dropped;       /* completions the kernel dropped (its CQ overflow counter) */
	uint64_t sqes_submitted;   /* SQEs handed to the backend, kio's own included */
	uint64_t wait_ns;          /* ns blocked waiting for completions (KIO_CTX_STATS_TIME, else 0) */
	uint64_t run_ns;           /* ns in kio_ctx_run()/kio_ctx_run_once() otherwise (same) */
	uint64_t snapshot_ns;      /* CLOCK_MONOTONIC time at which these values held */
} kio_stats;

/*
 * Copies ctx's counters into out (borrowed for the call). out_size is
 * sizeof(*out) as the caller knows it: a smaller struct gets the fields it
 * has; bytes past the library's struct are zeroed.
 *
 * Any thread may call it. On the thread that runs ctx (or before any thread
 * ran it) it reads the live counters. On another thread it reads the copy
 * the loop publishes, consistent as a whole, as of the loop's last round
 * (snapshot_ns says when): the first such call asks the loop to start
 * publishing, wakes it, and returns -EAGAIN; from then on the loop
 * publishes at the end of every round, and calls succeed.
 *
 * Returns 0, -EINVAL (ctx or out NULL), or -EAGAIN (another thread, and
 * the loop has not published yet).
 */
KIO_API int kio_ctx_stats(const kio_ctx *ctx, kio_stats *out, size_t out_size) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_STATS_H */
