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
} kio_stats;

/*
 * Copies ctx's counters into out. out_size is sizeof(*out) as the caller
 * knows it: a smaller struct gets the fields it has; bytes past the
 * library's struct are zeroed. Returns 0, or -EINVAL (ctx or out NULL).
 * Call on ctx's thread.
 */
KIO_API int kio_ctx_stats(const kio_ctx *ctx, kio_stats *out, size_t out_size) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_STATS_H */
