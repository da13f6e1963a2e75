/* SPDX-License-Identifier: MIT */
/*
 * kio/pool.h - a blocking pool: a fixed set of threads that run functions
 * which would block the loop (CPU work, blocking syscalls, getaddrinfo).
 * A job is an op like any other (kio/ops.h): its callback runs once, on the
 * thread that runs its ctx; kio_op_cancel() and kio_op_timeout() work on it.
 * Results reach the ctx through one wake-up per batch, not one per job.
 * Several ctxs, on several threads, may share one pool.
 */
#ifndef KIO_POOL_H
#define KIO_POOL_H

#include <kio/common.h>

KIO_EXTERN_C_BEGIN

/* Runs on a pool thread; its return value becomes the callback's res. */
typedef int (*kio_work_fn)(void *user_data);

/*
 * Starts threads (1..1024) pool threads. Returns 0 with *out set, -EINVAL,
 * -ENOMEM, or the error of pthread_create(3) negated.
 */
KIO_API int kio_pool_create(kio_pool **out, uint32_t threads) KIO_NOEXCEPT;

/*
 * Cancels the queued jobs (their callbacks run on their ctx with
 * -ECANCELED), waits for the running ones to finish (their callbacks get
 * their results), and joins the threads. NULL is a no-op. Call it from a
 * thread that is not a pool thread; ctxs with jobs of this pool must still
 * be alive (or destroyed already).
 */
KIO_API void kio_pool_destroy(kio_pool *pool) KIO_NOEXCEPT;

/*
 * Queues fn(user_data) on pool; cb(user_data, fn's result, 0) then runs on
 * ctx's thread. Cancel or timeout of a job still queued removes it (res
 * -ECANCELED or -ETIMEDOUT); a running job cannot be interrupted: it
 * finishes and reports its result. kio_ctx_destroy() cancels its queued
 * jobs and waits for its running ones. Errors: -EINVAL (NULL ctx, pool, fn
 * or cb), -ESHUTDOWN (ctx or pool being destroyed), -ENOMEM.
 */
KIO_API int64_t kio_pool_submit(kio_ctx *ctx, kio_pool *pool, kio_work_fn fn, kio_cb cb,
				void *user_data) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_POOL_H */
