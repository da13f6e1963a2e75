// SPDX-License-Identifier: MIT
// kio_sendfile(): file -> pipe -> out_fd with IORING_OP_SPLICE, one step
// in flight at a time: fill the pipe from the file, then drain exactly the
// bytes it holds into out_fd (several splices if out_fd takes less), and
// again until count bytes moved or the file ends. A non-blocking out_fd
// that is full (-EAGAIN) gets a poll for POLLOUT in between.
//
// Pipes and job records are pooled in the ctx, so the steady state makes
// no syscall but the splices and allocates nothing. A pipe goes back to the
// pool only when it is known to be empty: one that still holds bytes after
// an error or a cancel is closed, or those bytes would be the first thing
// the next transfer sends - to another socket.
#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"
#include "ops/net.hpp"

namespace kio {

namespace {

// What one sendfile(2) call moves at most; larger counts are reported as
// the short transfer they are.
constexpr uint64_t kMaxCount = 0x7ffff000;

int make_pipe(PipePair *p) noexcept
{
	ErrnoKeeper keep_errno;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	int cap = fcntl(fds[1], F_SETPIPE_SZ, int(kPipeBytes));
	if (cap <= 0)
		cap = fcntl(fds[1], F_GETPIPE_SZ);
	p->rd = fds[0];
	p->wr = fds[1];
	p->cap = cap > 0 ? uint32_t(cap) : 4096;
	return 0;
}

void close_pipe(PipePair *p) noexcept
{
	ErrnoKeeper keep_errno;
	if (p->rd >= 0)
		close(p->rd);
	if (p->wr >= 0)
		close(p->wr);
	*p = PipePair{};
}

// The job's pipe goes back to the pool if it is empty (capacity for
// kMaxIdlePipes is reserved, so this never allocates), else it is closed.
void put_pipe(NetState *n, SendfileJob *j) noexcept
{
	if (j->pipe.rd < 0)
		return;
	if (j->in_pipe == 0 && n->pipes.size() < std::min(kMaxIdlePipes, n->pipes.capacity()))
		n->pipes.push_back(j->pipe);
	else
		close_pipe(&j->pipe);
	j->pipe = PipePair{};
	j->in_pipe = 0;
}

SendfileJob *get_job(NetState *n)
{
	if (SendfileJob *j = n->free_jobs) {
		n->free_jobs = j->next_free;
		return j;
	}
	SendfileJob *j = new SendfileJob{};
	j->next_all = n->all_jobs;
	n->all_jobs = j;
	return j;
}

void put_job(NetState *n, SendfileJob *j) noexcept
{
	j->next_free = n->free_jobs;
	n->free_jobs = j;
}

void prep_fill(io_uring_sqe *sqe, SendfileJob *j) noexcept
{
	uint32_t len = uint32_t(std::min<uint64_t>(j->remaining, j->pipe.cap));
	io_uring_prep_splice(sqe, j->in_fd, j->current ? -1 : int64_t(j->offset), j->pipe.wr, -1,
			     len, 0);
	j->phase = SendfileJob::Fill;
}

void prep_drain(io_uring_sqe *sqe, SendfileJob *j) noexcept
{
	// More is coming: let a TCP socket fill whole segments.
	unsigned flags = j->remaining > 0 ? SPLICE_F_MORE : 0;
	io_uring_prep_splice(sqe, j->pipe.rd, -1, j->out_fd, -1, j->in_pipe, flags);
	j->phase = SendfileJob::Drain;
}

void finish(kio_ctx *c, uint32_t idx, SendfileJob *j, int32_t err)
{
	// A splice interrupted by a cancel (or destroy's) reads as -EINTR.
	if (interrupted(err) && ((c->ops.at(idx).state & kCancelReq) || c->destroying))
		err = -ECANCELED;
	int32_t res = j->moved > 0 ? int32_t(j->moved) : err;
	put_pipe(c->net, j);
	put_job(c->net, j);
	complete_op(c, idx, res, 0);
}

void sendfile_step(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	(void)flags;
	SendfileJob *j = static_cast<SendfileJob *>(c->ops.at(idx).ext);
	bool wait = false;
	if (j->phase == SendfileJob::Wait) {
		// The poll on a non-blocking out_fd: room again, or an error.
		if (res < 0) {
			finish(c, idx, j, res);
			return;
		}
	} else if (j->phase == SendfileJob::Drain && res == -EAGAIN) {
		// out_fd is non-blocking and full: wait for room, then go on.
		wait = true;
	} else if (res <= 0) {
		// The file ended early (0: a short transfer), or an error.
		finish(c, idx, j, res == 0 && j->phase == SendfileJob::Drain ? -EIO : res);
		return;
	} else if (j->phase == SendfileJob::Drain) {
		j->moved += res;
		j->in_pipe -= uint32_t(res);
	} else {
		j->in_pipe = uint32_t(res);
		j->remaining -= uint64_t(res);
		if (!j->current)
			j->offset += uint64_t(res);
	}
	if (j->in_pipe == 0 && j->remaining == 0) {
		finish(c, idx, j, 0);
		return;
	}
	if ((c->ops.at(idx).state & kCancelReq) || c->destroying) {
		finish(c, idx, j, -ECANCELED);
		return;
	}
	int err = 0;
	io_uring_sqe *sqe = step_sqe(c, idx, &err);
	if (!sqe) {
		finish(c, idx, j, err);
		return;
	}
	uint64_t ud = sqe->user_data;
	if (wait) {
		io_uring_prep_poll_add(sqe, j->out_fd, POLLOUT);
		j->phase = SendfileJob::Wait;
	} else if (j->in_pipe > 0) {
		prep_drain(sqe, j);
	} else {
		prep_fill(sqe, j);
	}
	sqe->user_data = ud;
}

const Hook kSendfileHook{sendfile_step, nullptr};

} // namespace

void sendfile_abandon(kio_ctx *c) noexcept
{
	// Destroy gives up on ops the kernel is slow to hand back (a splice
	// blocked in an io-wq worker takes a moment to see its cancel). No user
	// memory is involved, so end them here: the pipe may still be in use
	// by the kernel, so it is closed, never pooled.
	for (uint32_t i = 0; i < c->ops.slots(); i++) {
		Op &op = c->ops.at(i);
		if (op.kind != Kind::Kernel || op.hook != &kSendfileHook)
			continue;
		SendfileJob *j = static_cast<SendfileJob *>(op.ext);
		j->in_pipe = 1;
		try {
			finish(c, i, j, -ECANCELED);
		} catch (...) {
			// Only a user callback could throw here; nothing to undo.
		}
	}
}

void sendfile_teardown(NetState *n) noexcept
{
	for (PipePair &p : n->pipes)
		close_pipe(&p);
	n->pipes.clear();
	while (SendfileJob *j = n->all_jobs) {
		n->all_jobs = j->next_all;
		close_pipe(&j->pipe);
		delete j;
	}
	n->free_jobs = nullptr;
}

} // namespace kio

using namespace kio;

KIO_API int64_t kio_sendfile(kio_ctx *ctx, int out_fd, int in_fd, uint64_t offset, size_t count,
			     kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!offset_ok(offset))
		return -EINVAL;
	if (out_fd < 0 || in_fd < 0)
		return -EBADF;
	if (count == 0)
		return guard<int64_t>([&] { return start_deferred(ctx, cb, user_data, 0); });
	if (!ctx->ring.supports(IORING_OP_SPLICE))
		return -EOPNOTSUPP;
	return guard<int64_t>([&]() -> int64_t {
		NetState *n = net_state(ctx);
		n->pipes.reserve(kMaxIdlePipes);
		SendfileJob *j = get_job(n);
		j->pipe = PipePair{};
		j->in_pipe = 0;
		if (!n->pipes.empty()) {
			j->pipe = n->pipes.back();
			n->pipes.pop_back();
		} else if (int rc = make_pipe(&j->pipe); rc < 0) {
			put_job(n, j);
			return rc;
		}
		j->in_fd = in_fd;
		j->out_fd = out_fd;
		j->current = offset == KIO_OFFSET_CURRENT;
		j->offset = j->current ? 0 : offset;
		j->remaining = std::min<uint64_t>(count, kMaxCount);
		j->moved = 0;
		io_uring_sqe *sqe = nullptr;
		int64_t id;
		try {
			// Tracked on out_fd: kio_cancel_fd()/kio_close() of the socket
			// reach the step that waits on it.
			id = start_hooked(ctx, cb, user_data, IORING_OP_SPLICE, out_fd, true,
					  &kSendfileHook, j, &sqe);
		} catch (...) {
			put_pipe(n, j);
			put_job(n, j);
			throw;
		}
		if (id < 0) {
			put_pipe(n, j);
			put_job(n, j);
			return id;
		}
		prep_fill(sqe, j);
		sqe->user_data = uint64_t(id);
		return id;
	});
}
