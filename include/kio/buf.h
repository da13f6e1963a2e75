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
 *
 * A ring created KIO_BUF_RING_INCREMENTAL (kio_buf_ring_create_flags())
 * hands a buffer out in parts: each completion names the buffer and carries
 * the bytes of one part, at kio_buf_ring_offset() within it. While the
 * kernel goes on filling the buffer the callback also has KIO_F_BUF_MORE:
 * the part is readable, the buffer is not the caller's. The callback
 * without KIO_F_BUF_MORE hands the whole buffer (every part of it) to the
 * caller, who releases it as usual.
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

/* kio_buf_ring_create_flags(): consume buffers in parts (see above). */
#define KIO_BUF_RING_INCREMENTAL (1u << 0)
/*
 * kio_buf_ring_create_flags(): receives into this ring may fill several
 * buffers per completion (recv bundles, Linux 6.10; see
 * kio_recv_multishot()). Callbacks stay one per buffer, but a receive
 * takes buffers faster than its callbacks give them back, so the ring runs
 * dry (-ENOBUFS) sooner: size it for it. Ignored with
 * KIO_BUF_RING_INCREMENTAL, on the epoll backend, on older kernels and
 * with KIO_NO_RECV_BUNDLE set in the environment.
 */
#define KIO_BUF_RING_BUNDLE (1u << 1)

/*
 * kio_buf_ring_create() with flags (0, KIO_BUF_RING_INCREMENTAL,
 * KIO_BUF_RING_BUNDLE; other bits: -EINVAL). Where buffers cannot be consumed in parts (kernels before
 * 6.12 (IOU_PBUF_RING_INC), the epoll backend, KIO_NO_BUF_RING_INC set in
 * the environment) each completion takes a whole buffer: no KIO_F_BUF_MORE
 * and offset 0, which the partial contract above covers.
 */
KIO_API int kio_buf_ring_create_flags(kio_buf_ring **out, kio_ctx *ctx, uint16_t group,
				      uint32_t count, uint32_t size, uint32_t flags) KIO_NOEXCEPT;

/*
 * The offset within buffer id of the bytes the latest callback naming it
 * received: 0 for rings without KIO_BUF_RING_INCREMENTAL. -EINVAL for a bad
 * ring or id.
 */
KIO_API int64_t kio_buf_ring_offset(kio_buf_ring *ring, uint16_t id) KIO_NOEXCEPT;

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
 * is already in the ring), -EBUSY (an incremental ring's buffer the kernel
 * is still filling: its last callback had KIO_F_BUF_MORE).
 */
KIO_API int kio_buf_ring_release(kio_buf_ring *ring, uint16_t id) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_BUF_H */
