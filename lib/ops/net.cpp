// SPDX-License-Identifier: MIT
// Socket ops: one SQE each, tracked on their fd so kio_cancel_fd() and
// kio_close() reach them. Sends always carry MSG_NOSIGNAL. Two ops need a
// hook: kio_send_zc() (its result and the kernel's "buffer free" notice
// come as two CQEs, the user gets one callback) and kio_recv_multishot()
// (each completion hands a buffer of a kio_buf_ring, or a bundle of them,
// to the user).
#include <cerrno>
#include <climits>
#include <new>

#include <sys/socket.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"
#include "ops/net.hpp"

namespace kio {

namespace {

constexpr int kSendFlags = MSG_OOB | MSG_DONTROUTE | MSG_DONTWAIT | MSG_EOR | MSG_MORE |
			   MSG_NOSIGNAL | MSG_CONFIRM;
constexpr int kRecvFlags = MSG_OOB | MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT | MSG_WAITALL |
			   MSG_ERRQUEUE;
constexpr int kRecvmsgFlags = kRecvFlags | MSG_CMSG_CLOEXEC;
constexpr int kAcceptFlags = SOCK_NONBLOCK | SOCK_CLOEXEC;

bool buf_ok(const void *buf, size_t len) noexcept
{
	return (buf || !len) && len <= UINT32_MAX;
}

// ---- kio_send_zc: two CQEs, one callback ----

// Op::aux: the send's result in the low 32 bits, and which CQEs arrived.
constexpr int64_t kZcResult = int64_t(1) << 32;
constexpr int64_t kZcNotif = int64_t(1) << 33;

void zc_step(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	Op &op = c->ops.at(idx);
	if (flags & kFlagNotif) {
		op.aux |= kZcNotif;
	} else {
		op.aux = (op.aux & kZcNotif) | kZcResult | int64_t(uint32_t(res));
		// Without F_MORE the kernel never took the buffer: no notice follows.
		if (!(flags & KIO_F_MORE))
			op.aux |= kZcNotif;
	}
	// Destroy cannot wait for the notice (it needs the peer to read): the
	// kernel keeps the pages pinned, and the loop drops the late notice.
	bool done = (op.aux & kZcNotif) || c->destroying;
	if ((op.aux & kZcResult) && done)
		complete_op(c, idx, int32_t(uint32_t(op.aux)), 0);
}

const Hook kZcHook{zc_step, nullptr};

// ---- kio_recv_multishot: note each buffer handed out ----

// Newer than liburing 2.3's headers: sqe->ioprio flag of send/recv.
constexpr uint16_t kRecvsendBundle = 1u << 4; // IORING_RECVSEND_BUNDLE, 6.10

// A bundle's completion names its first buffer and the bytes of all: the
// buffers are the ones that followed it in the ring, each filled whole but
// the last. The user gets one callback per buffer, as without bundles;
// each buffer is handed out just before its callback, so one released
// there goes back at the ring's tail, never over an entry still unread.
// Returns the bytes left for the last buffer and sets *flags to it.
int32_t recv_ms_bundle(kio_ctx *c, uint32_t idx, kio_buf_ring *r, int32_t res, uint32_t *flags)
{
	uint16_t first = uint16_t(*flags >> 16);
	uint32_t n = (uint32_t(res) + r->size - 1) / r->size;
	for (uint32_t i = 0; i + 1 < n; i++) {
		uint16_t id = buf_ring_bundle_id(r, first, i);
		uint32_t f = KIO_F_MORE | KIO_F_BUFFER | (uint32_t(id) << 16);
		buf_ring_handed_out(r, int32_t(r->size), f);
		complete_op(c, idx, int32_t(r->size), f);
	}
	*flags = (*flags & 0xffff) | (uint32_t(buf_ring_bundle_id(r, first, n - 1)) << 16);
	return res - int32_t((n - 1) * r->size);
}

void prep_recv_ms(io_uring_sqe *sqe, int fd, const kio_buf_ring *r) noexcept
{
	io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
	if (r->bundle)
		sqe->ioprio |= kRecvsendBundle;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = r->group;
}

// A bundle that leaves the ring empty ends the kernel's receive with its
// data in the final CQE, where without bundles the data came with
// KIO_F_MORE and a final -ENOBUFS followed. kio keeps the latter: the data
// goes out with KIO_F_MORE and the receive goes on under the same id, so
// it ends with -ENOBUFS if the ring is still dry, or carries on if the
// callback released buffers. Returns whether it goes on; if not, *res is
// the final result.
bool recv_ms_rearm(kio_ctx *c, uint32_t idx, const kio_buf_ring *r, int32_t *res)
{
	Op &op = c->ops.at(idx);
	if ((op.state & kCancelReq) || c->destroying || r->doomed) {
		*res = -ECANCELED;
		return false;
	}
	int err = 0;
	io_uring_sqe *sqe = step_sqe(c, idx, &err);
	if (!sqe) {
		*res = err;
		return false;
	}
	uint64_t ud = sqe->user_data;
	prep_recv_ms(sqe, op.fd, r);
	sqe->user_data = ud;
	return true;
}

void recv_ms_step(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	kio_buf_ring *r = static_cast<kio_buf_ring *>(c->ops.at(idx).ext);
	if (r->bundle && (flags & KIO_F_BUFFER) && res > 0 && uint32_t(res) > r->size)
		res = recv_ms_bundle(c, idx, r, res, &flags);
	buf_ring_handed_out(r, res, flags);
	if (flags & KIO_F_MORE) {
		complete_op(c, idx, res, flags);
		return;
	}
	if (r->bundle && (flags & KIO_F_BUFFER) && res > 0) {
		complete_op(c, idx, res, flags | KIO_F_MORE);
		if (recv_ms_rearm(c, idx, r, &res))
			return;
		flags = 0;
	}
	complete_op(c, idx, res, flags);
	// Counted down only now: a ring destroyed from this callback stays
	// valid (doomed) until the callback returned.
	if (--r->ops == 0 && r->doomed)
		buf_ring_free(r);
}

const Hook kRecvMsHook{recv_ms_step, nullptr};

// ---- kio_accept_multishot: a final CQE never carries a connection ----

void prep_accept_ms(io_uring_sqe *sqe, int fd, int flags) noexcept
{
	io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, flags);
}

// When it cannot post to a full CQ, the kernel ends a multishot accept
// with the connection it just took in a final CQE. kio(3) promises that
// the final callback carries no connection: the connection goes to the
// user like the others, and the accept goes on under the same id. Op::aux
// holds the accept flags.
void accept_ms_step(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	if ((flags & KIO_F_MORE) || res < 0) {
		complete_op(c, idx, res, flags);
		return;
	}
	complete_op(c, idx, res, flags | KIO_F_MORE);
	Op &op = c->ops.at(idx);
	if ((op.state & kCancelReq) || c->destroying) {
		complete_op(c, idx, -ECANCELED, 0);
		return;
	}
	int err = 0;
	io_uring_sqe *sqe = step_sqe(c, idx, &err);
	if (!sqe) {
		complete_op(c, idx, err, 0);
		return;
	}
	uint64_t ud = sqe->user_data;
	prep_accept_ms(sqe, op.fd, int(op.aux));
	sqe->user_data = ud;
}

const Hook kAcceptMsHook{accept_ms_step, nullptr};

} // namespace

NetState *net_state(kio_ctx *c)
{
	if (!c->net)
		c->net = new NetState();
	return c->net;
}

void recv_multishot_cancel_ring(kio_ctx *c, kio_buf_ring *r) noexcept
{
	for (uint32_t i = 0; i < c->ops.slots(); i++) {
		Op &op = c->ops.at(i);
		if (op.kind == Kind::Kernel && op.hook == &kRecvMsHook && op.ext == r &&
		    !(op.state & (kCancelReq | kCompleting)))
			cancel_op(c, i);
	}
}

// Destroy cancelled everything and ran the loop until the kernel gave
// back every op it could. A zero-copy send can still wait for its notice:
// the kernel holds its pages until the socket lets go of them, which takes
// a peer that reads, or the socket's close. Destroy cannot wait for that,
// so the send ends here with what it reported; the pages stay pinned by the
// kernel (documented in kio_send_zc(3)).
static void zc_teardown(kio_ctx *c) noexcept
{
	for (uint32_t i = 0; i < c->ops.slots(); i++) {
		Op &op = c->ops.at(i);
		if (op.kind != Kind::Kernel || op.hook != &kZcHook)
			continue;
		int32_t res = (op.aux & kZcResult) ? int32_t(uint32_t(op.aux)) : -ECANCELED;
		try {
			complete_op(c, i, res, 0);
		} catch (...) {
			// Only a user callback could throw here; nothing to undo.
		}
	}
}

void net_teardown(kio_ctx *c) noexcept
{
	zc_teardown(c);
	NetState *n = c->net;
	if (!n)
		return;
	sendfile_abandon(c);
	buf_rings_teardown(c);
	sendfile_teardown(n);
	delete n;
	c->net = nullptr;
}

} // namespace kio

using namespace kio;

KIO_API int64_t kio_socket(kio_ctx *ctx, int domain, int type, int protocol, kio_cb cb,
			   void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!ctx->ring.supports(IORING_OP_SOCKET)) {
		// Before Linux 5.19: socket(2) never blocks, so call it here and
		// deliver its result through the loop like a completion.
		return guard<int64_t>([&] {
			ErrnoKeeper keep_errno;
			int fd = socket(domain, type, protocol);
			int32_t res = fd < 0 ? -errno : fd;
			try {
				int64_t id = start_deferred(ctx, cb, user_data, res);
				if (id < 0 && fd >= 0)
					close(fd);
				return id;
			} catch (...) {
				if (fd >= 0)
					close(fd);
				throw;
			}
		});
	}
	return submit(ctx, cb, user_data, IORING_OP_SOCKET, -1, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_socket(sqe, domain, type, protocol, 0);
	});
}

KIO_API int64_t kio_accept(kio_ctx *ctx, int fd, struct sockaddr *addr, socklen_t *addrlen,
			   int flags, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if ((addr == nullptr) != (addrlen == nullptr) || (flags & ~kAcceptFlags))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_ACCEPT, fd, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_accept(sqe, fd, addr, addrlen, flags);
	});
}

KIO_API int64_t kio_accept_multishot(kio_ctx *ctx, int fd, int flags, kio_cb cb,
				     void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (flags & ~kAcceptFlags)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (!has_multishot_accept(ctx))
		return -EOPNOTSUPP;
	// The kernel ends it with -EMFILE/-ENFILE when no fd is free: no spin.
	return guard<int64_t>([&]() -> int64_t {
		io_uring_sqe *sqe = nullptr;
		int64_t id = start_hooked(ctx, cb, user_data, IORING_OP_ACCEPT, fd, false,
					  &kAcceptMsHook, nullptr, &sqe);
		if (id < 0)
			return id;
		ctx->ops.at(OpTable::index_of(id)).aux = flags;
		prep_accept_ms(sqe, fd, flags);
		sqe->user_data = uint64_t(id);
		return id;
	});
}

KIO_API int64_t kio_connect(kio_ctx *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen,
			    kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!addr)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_CONNECT, fd, false,
		      [=](io_uring_sqe *sqe) { io_uring_prep_connect(sqe, fd, addr, addrlen); });
}

KIO_API int64_t kio_send(kio_ctx *ctx, int fd, const void *buf, size_t len, int flags, kio_cb cb,
			 void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!buf_ok(buf, len) || (flags & ~kSendFlags))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_SEND, fd, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL);
	});
}

KIO_API int64_t kio_recv(kio_ctx *ctx, int fd, void *buf, size_t len, int flags, kio_cb cb,
			 void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!buf_ok(buf, len) || (flags & ~kRecvFlags))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_RECV, fd, false,
		      [=](io_uring_sqe *sqe) { io_uring_prep_recv(sqe, fd, buf, len, flags); });
}

KIO_API int64_t kio_sendmsg(kio_ctx *ctx, int fd, const struct msghdr *msg, int flags, kio_cb cb,
			    void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!msg || (flags & ~kSendFlags))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_SENDMSG, fd, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_sendmsg(sqe, fd, msg, unsigned(flags | MSG_NOSIGNAL));
	});
}

KIO_API int64_t kio_recvmsg(kio_ctx *ctx, int fd, struct msghdr *msg, int flags, kio_cb cb,
			    void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!msg || (flags & ~kRecvmsgFlags))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_RECVMSG, fd, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_recvmsg(sqe, fd, msg, unsigned(flags));
	});
}

KIO_API int64_t kio_send_zc(kio_ctx *ctx, int fd, const void *buf, size_t len, int flags, kio_cb cb,
			    void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!buf_ok(buf, len) || (flags & ~kSendFlags))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return guard<int64_t>([&]() -> int64_t {
		io_uring_sqe *sqe = nullptr;
		int64_t id = start_hooked(ctx, cb, user_data, IORING_OP_SEND_ZC, fd, false,
					  &kZcHook, nullptr, &sqe);
		if (id < 0)
			return id;
		io_uring_prep_send_zc(sqe, fd, buf, len, flags | MSG_NOSIGNAL, 0);
		sqe->user_data = uint64_t(id);
		return id;
	});
}

KIO_API int64_t kio_recv_multishot(kio_ctx *ctx, int fd, kio_buf_ring *ring, int flags, kio_cb cb,
				   void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!ring || ring->ctx != ctx || ring->doomed || flags != 0)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (!has_multishot_recv(ctx))
		return -EOPNOTSUPP;
	return guard<int64_t>([&]() -> int64_t {
		io_uring_sqe *sqe = nullptr;
		int64_t id = start_hooked(ctx, cb, user_data, IORING_OP_RECV, fd, false,
					  &kRecvMsHook, ring, &sqe);
		if (id < 0)
			return id;
		prep_recv_ms(sqe, fd, ring);
		sqe->user_data = uint64_t(id);
		ring->ops++;
		return id;
	});
}

KIO_API int64_t kio_shutdown(kio_ctx *ctx, int fd, int how, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_SHUTDOWN, fd, false,
		      [=](io_uring_sqe *sqe) { io_uring_prep_shutdown(sqe, fd, how); });
}
