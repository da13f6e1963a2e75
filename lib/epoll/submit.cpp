// SPDX-License-Identifier: MIT
// The epoll backend's submission side: each SQE taken from the queue is
// started (attempted, parked on its fd, or handed to the pool), and cancel
// SQEs end the ops they name.
#include <cerrno>
#include <new>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/guard.hpp"
#include "core/op_table.hpp"
#include "epoll/backend.hpp"
#include "epoll/workers.hpp"

namespace kio::epoll {

namespace {

bool is_multishot(const io_uring_sqe &s) noexcept
{
	switch (s.opcode) {
	case IORING_OP_ACCEPT:
		return s.ioprio & IORING_ACCEPT_MULTISHOT;
	case IORING_OP_RECV:
		return s.ioprio & IORING_RECV_MULTISHOT;
	case IORING_OP_POLL_ADD:
		return s.len & IORING_POLL_ADD_MULTI;
	default:
		return false;
	}
}

// Blocking calls: straight to the pool.
bool goes_to_pool(uint8_t opcode) noexcept
{
	switch (opcode) {
	case IORING_OP_FSYNC:
	case IORING_OP_FALLOCATE:
	case IORING_OP_STATX:
	case IORING_OP_OPENAT:
	case IORING_OP_UNLINKAT:
	case IORING_OP_RENAMEAT:
	case IORING_OP_MKDIRAT:
	case 55: // IORING_OP_FTRUNCATE
		return true;
	default:
		return false;
	}
}

// Reads and writes of a file epoll cannot watch go to the pool.
bool may_block(uint8_t opcode) noexcept
{
	switch (opcode) {
	case IORING_OP_READ:
	case IORING_OP_READV:
	case IORING_OP_WRITE:
	case IORING_OP_WRITEV:
	case IORING_OP_SPLICE:
	case IORING_OP_CONNECT: // a Unix socket's full backlog (calls.cpp)
		return true;
	default:
		return false;
	}
}

} // namespace

// ---- submission ----

void Backend::take_sqes() noexcept
{
	unsigned head = sh_.sq_head;
	unsigned tail = io_uring_smp_load_acquire(&sh_.sq_tail);
	while (head != tail) {
		const io_uring_sqe &sqe = sqes_[head & sq_mask_];
		if (!(sqe.user_data & kInternal) && sqe.opcode != IORING_OP_ASYNC_CANCEL &&
		    OpTable::index_of(int64_t(sqe.user_data)) >= nrecs_) {
			try {
				grow_records(OpTable::index_of(int64_t(sqe.user_data)));
			} catch (...) {
				// Like the kernel out of request memory: the SQE stays
				// queued, and enter() reports -ENOMEM.
				grow_failed_ = true;
				break;
			}
		}
		submit(sqe);
		head++;
	}
	io_uring_smp_store_release(&sh_.sq_head, head);
}

void Backend::submit(const io_uring_sqe &sqe) noexcept
{
	if (sqe.opcode == IORING_OP_ASYNC_CANCEL) {
		cancel(sqe); // kio's own: its CQE would say nothing new
		return;
	}
	uint32_t link = (sqe.user_data & kInternal) ? kWakeLink : OpTable::index_of(int64_t(sqe.user_data));
	Record &r = rec(link);
	r.sqe = sqe;
	r.done = 0;
	r.job = nullptr;
	r.flags = 0;
	r.state = State::Idle;
	start(link);
}

void Backend::start(uint32_t link) noexcept
{
	Record &r = rec(link);
	if (r.sqe.opcode == IORING_OP_CLOSE) {
		int fd = r.sqe.fd;
		forget_fd(fd);
		ErrnoKeeper keep_errno;
		complete(link, close(fd) < 0 ? -errno : 0, 0);
		return;
	}
	if (goes_to_pool(r.sqe.opcode)) {
		to_pool(link);
		return;
	}
	drive(link);
}

// Attempts the op until it ends, parks or goes to the pool. A multishot op
// posts a CQE per result while the CQ has room; without room it stays
// parked and its fd is run again at the next enter().
void Backend::drive(uint32_t link) noexcept
{
	for (;;) {
		Record &r = rec(link);
		bool multi = is_multishot(r.sqe);
		if (multi && !cq_room()) {
			int fd = r.state == State::Parked ? r.wait_fd : r.sqe.fd;
			if (r.state != State::Parked) {
				int rc = park(link, fd, EPOLLIN);
				if (rc < 0) {
					complete(link, rc, 0);
					return;
				}
			}
			mark_dirty(fd);
			return;
		}
		Step s = attempt(*this, r);
		switch (s.kind) {
		case Step::Done:
			if (r.state == State::Parked)
				unpark(link);
			complete(link, s.res, s.flags);
			return;
		case Step::More:
			post_cqe(r.sqe.user_data, s.res, s.flags | IORING_CQE_F_MORE);
			if (r.sqe.opcode != IORING_OP_POLL_ADD)
				continue;
			// A multishot poll reports once per readiness edge.
			s.want = r.sqe.poll32_events;
			s.fd = r.sqe.fd;
			[[fallthrough]];
		case Step::Again: {
			int fd = s.fd >= 0 ? s.fd : r.sqe.fd;
			if (r.state == State::Parked) {
				if (r.wait_fd == fd && r.want == s.want)
					return;
				unpark(link);
			}
			int rc = park(link, fd, s.want);
			if (rc == -EPERM && may_block(r.sqe.opcode)) {
				// epoll cannot wait for this file (a regular file):
				// the call may block, so it goes to the pool.
				to_pool(link);
			} else if (rc == -EPERM && r.sqe.opcode == IORING_OP_POLL_ADD) {
				complete(link, poll_unwatchable(r.sqe), 0);
			} else if (rc < 0) {
				complete(link, rc, 0);
			}
			return;
		}
		case Step::Block:
			if (r.state == State::Parked)
				unpark(link);
			to_pool(link);
			return;
		}
	}
}

void Backend::to_pool(uint32_t link) noexcept
{
	Record &r = rec(link);
	Job *j;
	try {
		j = workers_->get_job();
	} catch (...) {
		complete(link, r.done ? int32_t(r.done) : -ENOMEM, 0);
		return;
	}
	j->sqe = r.sqe;
	j->done = r.done;
	j->link = link;
	j->res = 0;
	if (int rc = workers_->submit(j); rc < 0) {
		workers_->put_job(j);
		complete(link, r.done ? int32_t(r.done) : rc, 0);
		return;
	}
	r.state = State::Pool;
	r.job = j;
	jobs_++;
}

void Backend::reap_jobs() noexcept
{
	Job *j = workers_->take_done();
	while (j) {
		Job *next = j->next;
		uint32_t link = j->link;
		int32_t res = j->res;
		uint8_t opcode = j->sqe.opcode;
		workers_->put_job(j);
		jobs_--;
		if (res >= 0 && opcode == IORING_OP_OPENAT)
			forget_fd(res); // a new file under that number
		if (!(res == -EAGAIN && opcode == IORING_OP_SPLICE && wait_pipe(link)))
			complete(link, res, 0);
		j = next;
	}
}

// A pool splice between a file and a pipe found the pipe full (or empty):
// the op parks on the pipe, where a cancel reaches it, unless the caller
// asked for SPLICE_F_NONBLOCK and gets -EAGAIN. True when it parked.
bool Backend::wait_pipe(uint32_t link) noexcept
{
	Record &r = rec(link);
	if (r.sqe.splice_flags & SPLICE_F_NONBLOCK)
		return false;
	r.state = State::Idle;
	int in = r.sqe.splice_fd_in;
	struct stat st;
	bool from_pipe = fstat(in, &st) == 0 && S_ISFIFO(st.st_mode);
	int rc = from_pipe ? park(link, in, EPOLLIN) : park(link, r.sqe.fd, EPOLLOUT);
	if (rc < 0)
		complete(link, rc, 0);
	return true;
}

// ---- cancellation ----

// Ends one op with -ECANCELED (or the bytes it moved) unless it already
// runs on the pool, where it finishes with its own result.
bool Backend::cancel_one(uint32_t link) noexcept
{
	Record &r = rec(link);
	switch (r.state) {
	case State::Parked:
		unpark(link);
		complete(link, r.done ? int32_t(r.done) : -ECANCELED, 0);
		return true;
	case State::Pool:
		if (!workers_->cancel(r.job))
			return false;
		workers_->put_job(r.job);
		jobs_--;
		complete(link, r.done ? int32_t(r.done) : -ECANCELED, 0);
		return true;
	default:
		return false;
	}
}

void Backend::cancel(const io_uring_sqe &sqe) noexcept
{
	uint32_t flags = sqe.cancel_flags;
	if (flags & IORING_ASYNC_CANCEL_ANY) {
		for (uint32_t i = 0; i < nrecs_; i++)
			cancel_one(i);
		cancel_one(kWakeLink);
		return;
	}
	if (flags & IORING_ASYNC_CANCEL_FD) {
		int fd = sqe.fd;
		bool all = flags & IORING_ASYNC_CANCEL_ALL;
		auto matches = [&](uint32_t link) {
			const Record &r = rec(link);
			return (r.state == State::Parked || r.state == State::Pool) && r.sqe.fd == fd;
		};
		if (fd >= 0 && size_t(fd) < fds_.size()) {
			for (uint32_t link = fds_[size_t(fd)].head; link != kNone;) {
				uint32_t next = rec(link).next;
				if (matches(link) && cancel_one(link) && !all)
					return;
				link = next;
			}
		}
		// Ops parked on another fd (a splice waiting for its input) or
		// on the pool: rarer, found by a walk.
		if (cross_ == 0 && jobs_ == 0)
			return;
		for (uint32_t i = 0; i < nrecs_; i++) {
			const Record &r = rec(i);
			bool elsewhere = r.state == State::Pool ||
					 (r.state == State::Parked && r.wait_fd != fd);
			if (elsewhere && matches(i) && cancel_one(i) && !all)
				return;
		}
		return;
	}
	// One op by its user_data (destroy sends one per op): its record is
	// the op's slot, or the wake read's, so no walk.
	uint64_t ud = sqe.addr;
	uint32_t link = (ud & kInternal) ? kWakeLink : OpTable::index_of(int64_t(ud));
	if ((link == kWakeLink || link < nrecs_) && rec(link).sqe.user_data == ud)
		cancel_one(link);
}

} // namespace kio::epoll
