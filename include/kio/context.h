/* SPDX-License-Identifier: MIT */
/*
 * kio/context.h - the event loop: a queue pair served by io_uring (or, where
 * io_uring is not allowed, by epoll), its op table and its timers.
 *
 * A kio_ctx belongs to the thread that runs it (the first thread that calls
 * kio_ctx_run()/kio_ctx_run_once() after kio_ctx_create()). Only
 * kio_ctx_post(), kio_ctx_stop() and kio_ctx_wake() may be called from other
 * threads.
 */
#ifndef KIO_CONTEXT_H
#define KIO_CONTEXT_H

#include <kio/common.h>

KIO_EXTERN_C_BEGIN

/* Poll the submission queue from a kernel thread (IORING_SETUP_SQPOLL). */
#define KIO_CTX_SQPOLL (1u << 0)
/* Do not use IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN even where available. */
#define KIO_CTX_NO_DEFER_TASKRUN (1u << 1)
/*
 * Use the epoll backend even where io_uring is allowed (since 0.4). Not
 * with KIO_CTX_SQPOLL.
 */
#define KIO_CTX_BACKEND_EPOLL (1u << 2)
/*
 * Fail with io_uring's error instead of falling back to the epoll backend
 * when the system refuses io_uring (since 0.4).
 */
#define KIO_CTX_NO_FALLBACK (1u << 3)
/*
 * Page-cache reads without a trip through the ring (since 0.4): kio_read()
 * and kio_readv() at an explicit offset first try preadv2(2) with
 * RWF_NOWAIT inside the call. When the whole range was cached (or the read
 * starts at end of file) the result is delivered through the loop like any
 * other completion, never inside the call; otherwise (EAGAIN, a short read,
 * any error) the read goes to the ring (or the epoll backend's pool) as
 * usual, for the whole range, so the result is the one it would have been
 * without the flag. Writes, KIO_OFFSET_CURRENT, fixed-buffer reads and
 * O_DIRECT files gain nothing from it: an O_DIRECT attempt would wait for
 * the device inside the call, so do not set it on a context that reads
 * O_DIRECT files. The environment variable KIO_READ_NOWAIT=1 sets it for
 * every context (KIO_READ_NOWAIT=0 clears it). Under fault injection
 * (KIO_FAULTS) it is off, so injected short reads reach every read.
 */
#define KIO_CTX_READ_NOWAIT (1u << 4)
/*
 * Keep kio_stats.wait_ns and run_ns: a few clock reads per loop round,
 * which is why it is not the default (since 0.4).
 */
#define KIO_CTX_STATS_TIME (1u << 5)

/* What kio_ctx_backend() answers (since 0.4). */
#define KIO_BACKEND_IO_URING 1
#define KIO_BACKEND_EPOLL 2

/*
 * Creation options. Fields are only ever appended; pass sizeof(kio_ctx_opts)
 * as opts_size so an older or newer library knows which fields you set.
 */
typedef struct kio_ctx_opts {
	uint32_t sq_entries;     /* submission queue size; 0: 256 */
	uint32_t cq_entries;     /* completion queue size; 0: max(4 * sq, 4096) */
	uint32_t flags;          /* KIO_CTX_* */
	uint32_t sqpoll_idle_ms; /* KIO_CTX_SQPOLL only; 0: 1000 */
	int32_t sqpoll_cpu;      /* KIO_CTX_SQPOLL only; < 0: any CPU */
} kio_ctx_opts;

/*
 * Fills opts with the defaults. opts_size is sizeof(*opts) as the caller
 * knows it; only that many bytes are written. NULL is ignored.
 */
KIO_API void kio_ctx_opts_init(kio_ctx_opts *opts, size_t opts_size) KIO_NOEXCEPT;

/*
 * Creates a context. *out receives it (owned by the caller; free with
 * kio_ctx_destroy()). opts may be NULL for the defaults; it is only read
 * during the call.
 * The backend: io_uring; where io_uring_setup fails with EPERM, EACCES or
 * ENOSYS (a seccomp profile, kernel.io_uring_disabled, a kernel before
 * 5.11), the epoll backend, with one INFO line in the log. The flags
 * KIO_CTX_BACKEND_EPOLL and KIO_CTX_NO_FALLBACK choose, and where neither
 * is given the environment variable KIO_BACKEND=io_uring|epoll does.
 * Errors: -EINVAL (out NULL, unknown flag, KIO_CTX_SQPOLL with
 * KIO_CTX_BACKEND_EPOLL, opts_size too small for the first field), -E2BIG
 * (opts larger than known with non-zero trailing bytes), -ENOMEM, -EMFILE,
 * and with io_uring required (KIO_CTX_NO_FALLBACK, KIO_BACKEND=io_uring)
 * -EPERM (io_uring disabled by the system), -ENOSYS (kernel without
 * io_uring or older than 5.11), or any io_uring_setup error.
 */
KIO_API int kio_ctx_create(kio_ctx **out, const kio_ctx_opts *opts, size_t opts_size) KIO_NOEXCEPT;

/*
 * Destroys ctx. Every op still pending is cancelled and its callback runs
 * exactly once (with -ECANCELED, or its result if it finished first) before
 * this returns; callbacks still queued by kio_ctx_post() run with
 * res == -ECANCELED. Waits until the kernel released every buffer. Ops
 * started from those callbacks fail with -ESHUTDOWN. Call it on the thread
 * that ran ctx. NULL is ignored.
 */
KIO_API void kio_ctx_destroy(kio_ctx *ctx) KIO_NOEXCEPT;

/*
 * Runs callbacks until kio_ctx_stop() is called or nothing is pending
 * (kio_ctx_pending() == 0 and no kio_ctx_post() callback queued).
 * Returns 0, or -EINVAL (ctx NULL), -EBUSY (called from a callback of ctx),
 * or a negated errno from io_uring_enter that kio cannot recover from.
 */
KIO_API int kio_ctx_run(kio_ctx *ctx) KIO_NOEXCEPT;

/*
 * One round of the loop: submits queued SQEs, waits up to timeout_ns for
 * something to happen (-1: no limit, 0: do not wait), then runs every
 * callback that is ready. Returns early when kio_ctx_wake() or
 * kio_ctx_stop() is called. Returns the number of callbacks run (>= 0), or
 * -EINVAL, -EBUSY (called from a callback of ctx), or a fatal errno.
 */
KIO_API int kio_ctx_run_once(kio_ctx *ctx, int64_t timeout_ns) KIO_NOEXCEPT;

/*
 * Asks kio_ctx_run() to return after the callbacks of the current round.
 * Thread-safe. A stop issued while kio_ctx_run() is not running makes the
 * next kio_ctx_run() return at once: it is never lost. A
 * kio_ctx_run_once() that is waiting (or the next one) returns early and
 * uses the stop up instead. Pending ops are not cancelled. NULL is ignored.
 */
KIO_API void kio_ctx_stop(kio_ctx *ctx) KIO_NOEXCEPT;

/*
 * Queues cb(user_data, 0, 0) to run on ctx's loop thread, in the order posts
 * were made. Thread-safe; never runs cb inline. If ctx is destroyed first,
 * cb runs once with res == -ECANCELED.
 * Errors: -EINVAL (ctx or cb NULL), -ESHUTDOWN (ctx is being destroyed),
 * -ENOMEM.
 */
KIO_API int kio_ctx_post(kio_ctx *ctx, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * Makes a kio_ctx_run_once() that is waiting (or the next one) return.
 * Thread-safe. Returns 0 or -EINVAL.
 */
KIO_API int kio_ctx_wake(kio_ctx *ctx) KIO_NOEXCEPT;

/*
 * A file descriptor that becomes readable (POLLIN) whenever
 * kio_ctx_run_once(ctx, 0) has work to do: completions, due timers, posts,
 * or ops started since the last round. Use it to embed kio in another event
 * loop: poll it, then call kio_ctx_run_once(ctx, 0). Owned by ctx; do not
 * close it. Returns the fd, or -EINVAL, -EMFILE, -ENOMEM.
 */
KIO_API int kio_ctx_fd(kio_ctx *ctx) KIO_NOEXCEPT;

/*
 * Number of ops whose final callback has not run yet: in-flight I/O,
 * pending timers and live multishot ops. 0 for NULL.
 */
KIO_API uint32_t kio_ctx_pending(const kio_ctx *ctx) KIO_NOEXCEPT;

/*
 * Whether ctx can carry out the io_uring opcode io_uring_op (IORING_OP_*):
 * on io_uring, whether the running kernel has it (probed when ctx was
 * created); on epoll, whether the epoll backend serves it. 1 supported,
 * 0 not, -EINVAL for ctx NULL or io_uring_op < 0.
 */
KIO_API int kio_ctx_probe(kio_ctx *ctx, int io_uring_op) KIO_NOEXCEPT;

/*
 * The backend serving ctx: KIO_BACKEND_IO_URING or KIO_BACKEND_EPOLL, or
 * -EINVAL for ctx NULL. Since 0.4.
 */
KIO_API int kio_ctx_backend(const kio_ctx *ctx) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_CONTEXT_H */
