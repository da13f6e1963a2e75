/* SPDX-License-Identifier: MIT */
/*
 * kio/buf.h - rings of provided buffers (IORING_REGISTER_PBUF_RING, Linux
 * 5.19) for kio_recv_multishot(): the kernel picks a free buffer for each
 * piece of data it receives, so thousands of idle connections share one
 * pool of memory instead of holding a buffer each.
 *
 * A buffer belongs to the kernel while it is in the ring; a completion with
 * KIO_F_BUFFER hands buffer (flags >> 16) to the caller, who gives it back
 * with kio_buf_ring_release(). Everything here runs on the ctx's thread.
 */
#ifndef KIO_BUF_H
#define KIO_BUF_H

#include <kio/common.h>

KIO_EXTERN_C_BEGIN

/*
 * Creates a ring of count buffers of size bytes each (count a power of two,
 * 1..32768; size 1..2^31) registered with ctx under buffer group id group
 * (unique per ctx: -EEXIST otherwise). All buffers start in the ring.
 * Returns 0 with *out set, -EINVAL, -ENOMEM, -EEXIST, -ESHUTDOWN (ctx is
 * being destroyed), or -EOPNOTSUPP when the kernel has no buffer rings.
 */
KIO_API int kio_buf_ring_create(kio_buf_ring **out, kio_ctx *ctx, uint16_t group, uint32_t count,
				uint32_t size) KIO_NOEXCEPT;

/*
 * Unregisters and frees ring; NULL is a no-op. Ops still using it are
 * cancelled, and the memory is freed once the last one's final callback
 * returned. If its ctx was destroyed first, this only frees the memory.
 */
KIO_API void kio_buf_ring_destroy(kio_buf_ring *ring) KIO_NOEXCEPT;

/* The memory of buffer id (size bytes), or NULL for a bad ring or id. */
KIO_API void *kio_buf_ring_data(kio_buf_ring *ring, uint16_t id) KIO_NOEXCEPT;

/*
 * Gives buffer id back to the kernel for reuse. Returns 0, -EINVAL (bad
 * ring or id, a destroyed ring, or one whose ctx is gone), -EALREADY (id
 * is already in the ring).
 */
KIO_API int kio_buf_ring_release(kio_buf_ring *ring, uint16_t id) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_BUF_H */
