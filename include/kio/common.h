/* SPDX-License-Identifier: MIT */
/*
 * kio/common.h - types and rules shared by every kio header.
 *
 * Errors: every function returns >= 0 on success or a negated errno value
 * (-EINVAL, -ENOMEM, ...). errno is never read or written. kio_strerror()
 * names any value a kio function returns.
 */
#ifndef KIO_COMMON_H
#define KIO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define KIO_EXTERN_C_BEGIN extern "C" {
#define KIO_EXTERN_C_END }
#define KIO_NOEXCEPT noexcept
#else
#define KIO_EXTERN_C_BEGIN
#define KIO_EXTERN_C_END
#define KIO_NOEXCEPT
#endif

/* Marks the functions libkio.so exports; everything else stays hidden. */
#if defined(KIO_BUILDING_LIBRARY)
#define KIO_API __attribute__((visibility("default")))
#else
#define KIO_API
#endif

#define KIO_VERSION_MAJOR 0
#define KIO_VERSION_MINOR 4
#define KIO_VERSION_PATCH 0

KIO_EXTERN_C_BEGIN

/* An event loop over one io_uring instance. Opaque; see kio/context.h. */
typedef struct kio_ctx kio_ctx;
/* A ring of provided buffers for kio_recv_multishot(); see kio/buf.h. */
typedef struct kio_buf_ring kio_buf_ring;
/* A fixed set of threads for blocking work; see kio/pool.h. */
typedef struct kio_pool kio_pool;
/* A set of signals read through a signalfd; see kio/signal.h. */
typedef struct kio_signal_set kio_signal_set;

/*
 * The completion callback of every asynchronous operation.
 *
 * user_data: the pointer given when the op was started, untouched.
 * res:       the op's result: >= 0 on success (bytes, an fd, revents...),
 *            or a negated errno (-ECANCELED after kio_op_cancel(),
 *            -ETIMEDOUT after a kio_op_timeout() expired).
 * flags:     KIO_F_* bits.
 *
 * Runs on the thread inside kio_ctx_run()/kio_ctx_run_once() (or
 * kio_ctx_destroy()), never inside the call that started the op.
 */
typedef void (*kio_cb)(void *user_data, int32_t res, uint32_t flags);

/* Multishot op: more callbacks follow for this op. The last one lacks it. */
#define KIO_F_MORE (1u << 0)
/* A provided buffer was used; its id is (flags >> 16). */
#define KIO_F_BUFFER (1u << 1)
/*
 * With KIO_F_BUFFER, from a ring created KIO_BUF_RING_INCREMENTAL: the
 * kernel goes on filling the rest of this buffer, so it is not the
 * caller's yet (see kio_buf_ring_offset()).
 */
#define KIO_F_BUF_MORE (1u << 3)

/* Offset meaning "use and advance the file position" (read, write...). */
#define KIO_OFFSET_CURRENT ((uint64_t)-1)

/* (major << 16) | (minor << 8) | patch of the library actually loaded. */
KIO_API uint32_t kio_version(void) KIO_NOEXCEPT;

/* "major.minor.patch"; a static string, never NULL. */
KIO_API const char *kio_version_string(void) KIO_NOEXCEPT;

/*
 * A short English description of a kio return value: err < 0 is read as a
 * negated errno ("Invalid argument" for -EINVAL), err >= 0 gives "Success".
 * Returns a static string, never NULL; thread-safe.
 */
KIO_API const char *kio_strerror(int err) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_COMMON_H */
