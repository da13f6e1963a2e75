// SPDX-License-Identifier: MIT
// Cancelling and timing ops. Timeouts live in the ctx's timer wheel: arming
// one costs no SQE; only an expiry sends the kernel a cancel.
#include <cerrno>

#include "core/ctx.hpp"
#include "core/guard.hpp"
#include "ops/files.hpp"

using namespace kio;

KIO_API int kio_op_cancel(kio_ctx *ctx, int64_t op_id) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	Op *op = ctx->ops.lookup(op_id);
	if (!op)
		return -ENOENT;
	// Its fate is already sealed (a result waits in the ready queue, or
	// the kernel was already asked): the callback runs once either way.
	if (op->state & (kCompleting | kCancelReq))
		return 0;
	uint32_t idx = OpTable::index_of(op_id);
	switch (op->kind) {
	case Kind::Kernel:
	case Kind::External: {
		// The cancel SQE waits in the SQ: a host loop watching
		// kio_ctx_fd() must be told to run a round that submits it.
		int rc = cancel_op(ctx, idx);
		embed_kick(ctx);
		return rc;
	}
	case Kind::Timer:
	case Kind::Periodic:
		ctx->timers.remove(ctx->ops, idx);
		op->state |= kCancelReq | kCompleting;
		ctx->ready.push_back(Ready{idx, -ECANCELED, 0}); // room reserved at start
		embed_kick(ctx);
		return 0;
	default:
		return 0;
	}
}

// kio_op_timeout() past its common case: a timer's deadline, a disarm, a
// host loop to tell, or a pending list to start or grow.
[[gnu::noinline]] static int op_timeout_slow(kio_ctx *ctx, uint32_t idx,
					     uint64_t timeout_ns) noexcept
{
	Op *op = &ctx->ops.at(idx);
	return guard<int>([&] {
		if (timeout_ns && op->kind != Kind::Timer && op->kind != Kind::Periodic &&
		    ctx->epoll_fd < 0) {
			ctx->timers.defer(ctx->ops, idx, timeout_ns);
			op->state |= kTimed;
			return 0;
		}
		uint64_t now = timeout_ns ? mono_ns() : 0;
		op->timeout_at = timeout_ns ? deadline_after(now, timeout_ns) : 0;
		rekey(ctx, idx, now);
		if (__builtin_expect(ctx->epoll_fd >= 0, 0))
			embed_kick(ctx);
		return 0;
	});
}

KIO_API int kio_op_timeout(kio_ctx *ctx, int64_t op_id, uint64_t timeout_ns) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	Op *op = ctx->ops.lookup(op_id);
	if (!op)
		return -ENOENT;
	if (op->state & (kCompleting | kCancelReq | kTimedOut))
		return 0;
	uint32_t idx = OpTable::index_of(op_id);
	// The common case, an op of the kernel or the pool given a deadline:
	// put on the wheel's pending list, no clock read (core/timer_wheel.hpp).
	static_assert(uint8_t(Kind::Periodic) == uint8_t(Kind::Timer) + 1, "one range test");
	if (__builtin_expect(
		    timeout_ns != 0 && uint8_t(uint8_t(op->kind) - uint8_t(Kind::Timer)) > 1 &&
			    ctx->epoll_fd < 0 && ctx->timers.try_defer(*op, idx, timeout_ns),
		    1)) {
		op->state |= kTimed;
		return 0;
	}
	return op_timeout_slow(ctx, idx, timeout_ns);
}

KIO_API int kio_cancel_fd(kio_ctx *ctx, int fd) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	if (fd < 0)
		return -EBADF;
	uint32_t count = size_t(fd) < ctx->fd_inflight.size() ? ctx->fd_inflight[size_t(fd)] : 0;
	if (!count)
		return 0;
	int err = 0;
	io_uring_sqe *sqe = get_sqe(ctx, &err);
	if (!sqe)
		return err;
	// The kernel matches ops by the file the cancel names. A registered
	// fd is named by its slot: that is the file its ops were issued on,
	// even if the number was closed with close(2) since.
	int slot = ctx->ring.is_uring() ? registered_index(ctx, fd) : -1;
	if (slot < 0) {
		io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	} else if (ctx->ring.supports(IORING_OP_SEND_ZC)) {
		// Linux 6.0 (as IORING_OP_SEND_ZC) has the flag for it.
		io_uring_prep_cancel_fd(sqe, slot, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
	} else {
		// 5.19 refuses that flag; it reads a fixed-file cancel's fd as a slot.
		io_uring_prep_cancel_fd(sqe, slot, IORING_ASYNC_CANCEL_ALL);
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	sqe->user_data = kUdIgnore;
	embed_kick(ctx);
	return int(count);
}

KIO_API int kio_ctx_cancel_all(kio_ctx *ctx) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	// Each live op once, through kio_op_cancel(): the same rules per op
	// (an op already completing keeps its result). Cancelling never frees
	// a slot (callbacks run only in the loop), so the walk sees every op.
	int count = 0;
	for (uint32_t i = 0; i < ctx->ops.slots(); i++) {
		const Op &op = ctx->ops.at(i);
		if (op.kind == Kind::Free || (op.state & (kCompleting | kCancelReq)))
			continue;
		int rc = kio_op_cancel(ctx, ctx->ops.id_of(i));
		if (rc < 0 && rc != -ENOENT)
			return rc;
		count++;
	}
	return count;
}
