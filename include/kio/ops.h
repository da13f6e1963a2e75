/* SPDX-License-Identifier: MIT */
/*
 * kio/ops.h - asynchronous file and descriptor operations, and the calls
 * that cancel or time them.
 *
 * The contract of every op (see kio(7)):
 *  1. A call that returns an error (< 0) never runs its callback.
 *  2. A call that returns an op id (>= 0) runs its callback exactly once
 *     (multishot ops: until a call without KIO_F_MORE), through cancel,
 *     timeout, kio_ctx_stop() and kio_ctx_destroy().
 *  3. Callbacks run only inside kio_ctx_run()/kio_ctx_run_once() (or
 *     kio_ctx_destroy()), never inside the call that started the op.
 *  4. Cancelled: res == -ECANCELED; timed out: res == -ETIMEDOUT; bytes
 *     already transferred are reported instead when the op finished first.
 *  5. Memory handed to an op (buffers, iovecs, paths, struct statx) is
 *     borrowed until its callback ran, even after a cancel or timeout.
 *  6. Op ids carry a generation: an id whose op already finished gives
 *     -ENOENT, even if its slot was reused.
 *
 * Common errors returned by every op: -EINVAL (ctx or cb NULL, a NULL
 * pointer where memory is required, unknown flags, a length that does not
 * fit), -EBADF (a negative fd where an open fd is required), -ENOMEM,
 * -ESHUTDOWN (ctx is being destroyed), -EOPNOTSUPP (the kernel lacks the
 * opcode and kio has no fallback).
 */
#ifndef KIO_OPS_H
#define KIO_OPS_H

#include <kio/common.h>

struct iovec;
struct statx;

KIO_EXTERN_C_BEGIN

/* kio_fsync(): flush data only, not metadata (fdatasync). */
#define KIO_FSYNC_DATASYNC (1u << 0)

/*
 * Asks the kernel to cancel op. Returns 0 if op is still pending: its
 * callback will run with -ECANCELED (or with its result if it finished
 * first). Returns -ENOENT if op already finished or never existed, -EINVAL
 * for ctx NULL.
 */
KIO_API int kio_op_cancel(kio_ctx *ctx, int64_t op) KIO_NOEXCEPT;

/*
 * Arms (or re-arms, replacing the previous deadline) a timeout timeout_ns
 * from now on a pending op; 0 disarms it. When it expires kio cancels the op
 * and its callback gets -ETIMEDOUT (or its result, if it finished first).
 * Kept in user space: costs no SQE unless it fires. Never fires early; on an
 * op other than a timer it is counted from a clock read up to
 * min(1 ms, timeout_ns) after the call, so may fire that much later.
 * Returns 0, -ENOENT (op already finished), -EINVAL (ctx NULL).
 */
KIO_API int kio_op_timeout(kio_ctx *ctx, int64_t op, uint64_t timeout_ns) KIO_NOEXCEPT;

/*
 * Cancels every op of ctx that is pending on fd (a registered fd: on its
 * registered file). Returns the number of ops asked to cancel (>= 0), or
 * -EINVAL, -EBADF (fd < 0).
 */
KIO_API int kio_cancel_fd(kio_ctx *ctx, int fd) KIO_NOEXCEPT;

/*
 * Cancels every op pending on ctx, as kio_op_cancel() on each (since 0.4):
 * each callback runs once, with -ECANCELED or with its result if it had
 * already finished. Returns the number of ops asked to cancel (>= 0), or
 * -EINVAL (ctx NULL), -EPERM (not ctx's thread), or the error of a cancel
 * that needed a submission queue entry the kernel did not take (the ops
 * before it were asked; call again).
 */
KIO_API int kio_ctx_cancel_all(kio_ctx *ctx) KIO_NOEXCEPT;

/* Does nothing, asynchronously: res 0. Useful to measure the loop. */
KIO_API int64_t kio_nop(kio_ctx *ctx, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * openat(2). path is borrowed until the callback; res is the new fd
 * (owned by the caller) or a negated errno.
 */
KIO_API int64_t kio_openat(kio_ctx *ctx, int dirfd, const char *path, int flags, uint32_t mode,
			   kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * Cancels the ops of ctx pending on fd (as kio_cancel_fd()), then closes
 * fd; a registered fd (kio_register_files()) leaves the table in between.
 * res 0 or a negated errno (-EBADF).
 */
KIO_API int64_t kio_close(kio_ctx *ctx, int fd, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * pread(2)/pwrite(2), or read(2)/write(2) at the file position when
 * offset == KIO_OFFSET_CURRENT. buf is borrowed until the callback; res is
 * the byte count (possibly short) or a negated errno. len must fit in
 * 32 bits. A write to a pipe or socket without a reader gives -EPIPE and
 * never raises SIGPIPE.
 */
KIO_API int64_t kio_read(kio_ctx *ctx, int fd, void *buf, size_t len, uint64_t offset,
			 kio_cb cb, void *user_data) KIO_NOEXCEPT;
KIO_API int64_t kio_write(kio_ctx *ctx, int fd, const void *buf, size_t len, uint64_t offset,
			  kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * preadv(2)/pwritev(2). iov (1..IOV_MAX entries) and the buffers it points
 * to are borrowed until the callback.
 */
KIO_API int64_t kio_readv(kio_ctx *ctx, int fd, const struct iovec *iov, int iovcnt,
			  uint64_t offset, kio_cb cb, void *user_data) KIO_NOEXCEPT;
KIO_API int64_t kio_writev(kio_ctx *ctx, int fd, const struct iovec *iov, int iovcnt,
			   uint64_t offset, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * Registered buffers (since 0.4). Registers count (1..16384) buffers with
 * ctx for kio_read_fixed() and kio_write_fixed(): on io_uring the kernel
 * maps and pins them once here instead of once per op. The iov array is
 * only read during the call (kio keeps a copy); the memory it points to is
 * borrowed until kio_unregister_buffers() or kio_ctx_destroy(). Each
 * buffer must be non-NULL and 1 byte..1 GiB long.
 * Errors: -EINVAL (ctx or iov NULL, count 0 or too large, a bad entry),
 * -EBUSY (buffers already registered: unregister first), -EPERM (not the
 * thread that runs ctx), -ESHUTDOWN, -ENOMEM (also the kernel's answer
 * when the locked-memory limit is too low), or another negated errno of
 * io_uring_register(2).
 */
KIO_API int kio_register_buffers(kio_ctx *ctx, const struct iovec *iov,
				 uint32_t count) KIO_NOEXCEPT;

/*
 * Unregisters the buffers of kio_register_buffers(); their memory is the
 * caller's again. Errors: -EINVAL (ctx NULL), -ENXIO (none registered),
 * -EBUSY (a fixed op is still in flight: its callback has not run), -EPERM.
 */
KIO_API int kio_unregister_buffers(kio_ctx *ctx) KIO_NOEXCEPT;

/*
 * Registered files (since 0.4). Registers nr (1..2^20, at most
 * RLIMIT_NOFILE) open fds with ctx; fds[i] gets index i. From then on
 * kio_read(), kio_write(), kio_readv(), kio_writev(), kio_read_fixed() and
 * kio_write_fixed() on one of these fds name it on io_uring by its index
 * (IOSQE_FIXED_FILE), which spares the kernel an fd lookup and a file
 * reference per op; results and contract are unchanged. On the epoll
 * backend the table is bookkeeping only. fds is only read during the call;
 * the fds stay the caller's. KIO_CTX_READ_NOWAIT's attempt skips
 * registered fds. kio_close() of a registered fd empties its slot before
 * the close, so the number can be reused; kio_cancel_fd() reaches ops
 * issued through the index. A registered fd closed with close(2) instead
 * keeps naming the old file for kio's ops on io_uring (the kernel holds
 * it) until kio_unregister_files(); on epoll the number is used as is.
 * Errors: -EINVAL (ctx or fds NULL, nr 0 or above 2^20, an fd twice),
 * -EBADF (an fd negative or not open), -EMFILE (nr above RLIMIT_NOFILE),
 * -EBUSY (files already registered), -EPERM (not the thread that runs
 * ctx), -ESHUTDOWN, -ENOMEM, or another negated errno of
 * io_uring_register(2).
 */
KIO_API int kio_register_files(kio_ctx *ctx, const int *fds, uint32_t nr) KIO_NOEXCEPT;

/*
 * Unregisters the files of kio_register_files(); the fds are untouched.
 * Errors: -EINVAL (ctx NULL), -ENXIO (none registered), -EBUSY (an op on a
 * registered fd is in flight: its callback has not run; or, before any
 * thread ran ctx, ops that use the table are still queued), -EPERM.
 */
KIO_API int kio_unregister_files(kio_ctx *ctx) KIO_NOEXCEPT;

/*
 * kio_read()/kio_write() into or from registered buffer buf_index: [buf,
 * buf + len) must lie inside that buffer (len may be less than its size).
 * On the epoll backend they are plain reads and writes. Same contract as
 * every op (ids, kio_op_cancel(), kio_op_timeout(), destroy);
 * KIO_CTX_READ_NOWAIT does not apply to them. buf is borrowed until the
 * callback. Errors at the call as kio_read(), and -EINVAL for a buf_index
 * not registered (or none registered) or a range outside the buffer.
 */
KIO_API int64_t kio_read_fixed(kio_ctx *ctx, int fd, void *buf, size_t len, uint64_t offset,
			       uint32_t buf_index, kio_cb cb, void *user_data) KIO_NOEXCEPT;
KIO_API int64_t kio_write_fixed(kio_ctx *ctx, int fd, const void *buf, size_t len,
				uint64_t offset, uint32_t buf_index, kio_cb cb,
				void *user_data) KIO_NOEXCEPT;

/* fsync(2), or fdatasync(2) with KIO_FSYNC_DATASYNC. res 0 or -errno. */
KIO_API int64_t kio_fsync(kio_ctx *ctx, int fd, uint32_t flags, kio_cb cb,
			  void *user_data) KIO_NOEXCEPT;

/* fallocate(2). res 0 or -errno. */
KIO_API int64_t kio_fallocate(kio_ctx *ctx, int fd, int mode, uint64_t offset, uint64_t len,
			      kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * ftruncate(2). Uses IORING_OP_FTRUNCATE where the kernel has it (6.9);
 * on older kernels kio calls ftruncate(2) itself during this call and
 * delivers the result through the callback as usual.
 */
KIO_API int64_t kio_ftruncate(kio_ctx *ctx, int fd, uint64_t len, kio_cb cb,
			      void *user_data) KIO_NOEXCEPT;

/* statx(2). path and out are borrowed until the callback. res 0 or -errno. */
KIO_API int64_t kio_statx(kio_ctx *ctx, int dirfd, const char *path, int flags, uint32_t mask,
			  struct statx *out, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/* unlinkat(2), renameat2(2), mkdirat(2). Paths borrowed until the callback. */
KIO_API int64_t kio_unlinkat(kio_ctx *ctx, int dirfd, const char *path, int flags, kio_cb cb,
			     void *user_data) KIO_NOEXCEPT;
KIO_API int64_t kio_renameat(kio_ctx *ctx, int olddirfd, const char *oldpath, int newdirfd,
			     const char *newpath, uint32_t flags, kio_cb cb,
			     void *user_data) KIO_NOEXCEPT;
KIO_API int64_t kio_mkdirat(kio_ctx *ctx, int dirfd, const char *path, uint32_t mode, kio_cb cb,
			    void *user_data) KIO_NOEXCEPT;

/*
 * splice(2) of up to len bytes; off_in/off_out are file offsets, or -1 for
 * a pipe or the current position. flags: SPLICE_F_*. res is the byte count.
 * A splice into a pipe without a reader gives -EPIPE, never SIGPIPE.
 */
KIO_API int64_t kio_splice(kio_ctx *ctx, int fd_in, int64_t off_in, int fd_out, int64_t off_out,
			   uint32_t len, uint32_t flags, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * Waits until fd has one of events (POLLIN, POLLOUT...); res is the revents
 * mask. The multishot form calls back with KIO_F_MORE on every readiness
 * edge until cancelled (or an error), and ends with one call without
 * KIO_F_MORE.
 */
KIO_API int64_t kio_poll(kio_ctx *ctx, int fd, uint32_t events, kio_cb cb,
			 void *user_data) KIO_NOEXCEPT;
KIO_API int64_t kio_poll_multishot(kio_ctx *ctx, int fd, uint32_t events, kio_cb cb,
				   void *user_data) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_OPS_H */
