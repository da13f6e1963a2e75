/* SPDX-License-Identifier: MIT */
/*
 * kio/net.h - sockets: create, accept, connect, send, receive, shut down,
 * zero-copy send, file-to-socket transfer, and name resolution.
 *
 * Every op follows the contract in kio/ops.h. What networking adds:
 *  - Sends never raise SIGPIPE: MSG_NOSIGNAL is always added, so a send to
 *    a peer that has gone gives -EPIPE (or -ECONNRESET).
 *  - Multishot ops (kio_accept_multishot(), kio_recv_multishot()) call back
 *    with KIO_F_MORE until their final call, which lacks it. An error (also
 *    -ENOBUFS when a buffer ring runs dry, -EMFILE when the process is out
 *    of fds) or a cancel ends them; start the op again to go on.
 *  - Partial transfers are reported as they are: a send or recv that moved
 *    fewer bytes than asked returns that count; kio does not loop for you.
 *  - Where the running kernel lacks an opcode (probed at kio_ctx_create()),
 *    each op says below whether it falls back or gives -EOPNOTSUPP.
 */
#ifndef KIO_NET_H
#define KIO_NET_H

#include <kio/common.h>

#include <sys/socket.h> /* socklen_t, struct sockaddr, struct msghdr */

struct addrinfo;

KIO_EXTERN_C_BEGIN

/*
 * socket(2): res is the new fd (close-on-exec when type has SOCK_CLOEXEC),
 * owned by the caller. Kernels without IORING_OP_SOCKET (before 5.19):
 * socket(2) is called at once and its result delivered as a completion.
 */
KIO_API int64_t kio_socket(kio_ctx *ctx, int domain, int type, int protocol, kio_cb cb,
			   void *user_data) KIO_NOEXCEPT;

/*
 * accept4(2) on the listening socket fd: res is the new connection's fd.
 * addr and addrlen may both be NULL; otherwise they are borrowed until the
 * callback and filled as accept4(2) does. flags: SOCK_NONBLOCK,
 * SOCK_CLOEXEC. -EMFILE/-ENFILE are reported, not retried.
 */
KIO_API int64_t kio_accept(kio_ctx *ctx, int fd, struct sockaddr *addr, socklen_t *addrlen,
			   int flags, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * Multishot accept: one callback per connection (res = its fd, KIO_F_MORE)
 * until cancelled or an error. Out of fds (-EMFILE/-ENFILE) ends the op with
 * that error as its final callback instead of spinning: free fds, wait a
 * little (kio_sleep()), and start it again.
 */
KIO_API int64_t kio_accept_multishot(kio_ctx *ctx, int fd, int flags, kio_cb cb,
				     void *user_data) KIO_NOEXCEPT;

/* connect(2): res 0 or e.g. -ECONNREFUSED. addr is borrowed until the callback. */
KIO_API int64_t kio_connect(kio_ctx *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen,
			    kio_cb cb, void *user_data) KIO_NOEXCEPT;

/* send(2) with flags | MSG_NOSIGNAL: res is the bytes sent (maybe fewer than len). */
KIO_API int64_t kio_send(kio_ctx *ctx, int fd, const void *buf, size_t len, int flags, kio_cb cb,
			 void *user_data) KIO_NOEXCEPT;

/* recv(2): res is the bytes received, 0 at end of stream. */
KIO_API int64_t kio_recv(kio_ctx *ctx, int fd, void *buf, size_t len, int flags, kio_cb cb,
			 void *user_data) KIO_NOEXCEPT;

/* sendmsg(2) with flags | MSG_NOSIGNAL. msg and all it points to are borrowed. */
KIO_API int64_t kio_sendmsg(kio_ctx *ctx, int fd, const struct msghdr *msg, int flags, kio_cb cb,
			    void *user_data) KIO_NOEXCEPT;

/* recvmsg(2). msg and all it points to are borrowed and filled in. */
KIO_API int64_t kio_recvmsg(kio_ctx *ctx, int fd, struct msghdr *msg, int flags, kio_cb cb,
			    void *user_data) KIO_NOEXCEPT;

/*
 * Zero-copy send (IORING_OP_SEND_ZC, Linux 6.0): ONE callback, after the
 * kernel's notification says it no longer reads buf; res is the bytes sent
 * or a negated errno. buf must stay untouched until then. Kernels without
 * it: -EOPNOTSUPP (use kio_send()); sockets that cannot send without
 * copying (Unix): -EOPNOTSUPP in the callback. kio_ctx_destroy() does not
 * wait for a notice that a stalled peer holds back: it calls back with the
 * byte count, and the kernel keeps buf's pages until the socket closes.
 */
KIO_API int64_t kio_send_zc(kio_ctx *ctx, int fd, const void *buf, size_t len, int flags,
			    kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * Multishot receive into the provided buffers of ring (kio/buf.h): each
 * callback has KIO_F_BUFFER and the buffer id in (flags >> 16); res bytes
 * are at kio_buf_ring_data(ring, id), which the caller hands back with
 * kio_buf_ring_release() when done. res 0 (end of stream, final), an error,
 * or -ENOBUFS (every buffer is held by the caller) ends the op; release
 * buffers and start it again. ring must belong to ctx; flags must be 0.
 * Kernels before 6.0: -EOPNOTSUPP.
 *
 * A ring created KIO_BUF_RING_BUNDLE lets the kernel fill several buffers
 * in one completion (recv bundles, Linux 6.10); kio still calls back once
 * per buffer, in the order the bytes arrived. KIO_NO_RECV_BUNDLE in the
 * environment turns bundles off; the epoll backend never uses them.
 */
KIO_API int64_t kio_recv_multishot(kio_ctx *ctx, int fd, kio_buf_ring *ring, int flags, kio_cb cb,
				   void *user_data) KIO_NOEXCEPT;

/* shutdown(2): how is SHUT_RD, SHUT_WR or SHUT_RDWR. res 0 or a negated errno. */
KIO_API int64_t kio_shutdown(kio_ctx *ctx, int fd, int how, kio_cb cb,
			     void *user_data) KIO_NOEXCEPT;

/*
 * Sends count bytes of the file in_fd from offset to the socket (or pipe)
 * out_fd with splice(2) through a pipe from a pool the ctx owns. One
 * callback with the total moved; on an error or cancel after some bytes
 * moved, res is that partial count. A pipe left holding bytes is closed,
 * never reused. count 0 calls back with 0; at most 0x7ffff000 bytes move
 * per call, as with sendfile(2). offset KIO_OFFSET_CURRENT uses and moves
 * the file position. For kio_cancel_fd()/kio_close() it is an op on out_fd.
 */
KIO_API int64_t kio_sendfile(kio_ctx *ctx, int out_fd, int in_fd, uint64_t offset, size_t count,
			     kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * getaddrinfo(3) on a thread of pool. host, service, hints are copied at
 * the call (either host or service may be NULL, not both); out is borrowed
 * until the callback and set to NULL at the call. res 0:
 * *out holds the list, the caller frees it with freeaddrinfo(3). Otherwise
 * *out is NULL and res is: -ENOENT (EAI_NONAME, EAI_NODATA), -EAGAIN
 * (EAI_AGAIN), -EINVAL (EAI_BADFLAGS, EAI_SERVICE, EAI_SOCKTYPE),
 * -EAFNOSUPPORT (EAI_FAMILY, EAI_ADDRFAMILY), -ENOMEM (EAI_MEMORY), -EIO
 * (EAI_FAIL), the errno for EAI_SYSTEM, -ECANCELED or -ETIMEDOUT (while
 * queued; a lookup already running finishes and reports its result).
 */
KIO_API int64_t kio_resolve(kio_ctx *ctx, kio_pool *pool, const char *host, const char *service,
			    const struct addrinfo *hints, struct addrinfo **out, kio_cb cb,
			    void *user_data) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_NET_H */
