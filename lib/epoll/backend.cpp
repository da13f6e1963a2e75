// SPDX-License-Identifier: MIT
// The epoll backend's queue pair: setup, posting CQEs, and enter(), which
// takes the SQEs (submit.cpp) and waits for readiness (readiness.cpp) or
// finished jobs (workers.cpp).
#include "epoll/backend.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <ctime>
#include <new>

#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/fd.hpp"
#include "core/guard.hpp"
#include "epoll/workers.hpp"

namespace kio::epoll {

namespace {

// With CQEs ready, enter() skips epoll_wait, but not more often than this
// in a row, so a loop that always has completions still hears its fds.
constexpr unsigned kMaxBusySkips = 64;
constexpr int kMaxEvents = 256;

unsigned round_pow2(unsigned n) noexcept
{
	unsigned p = 1;
	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

// The opcodes this backend serves: what kio_ctx_probe() answers.
constexpr int kServed[] = {
	IORING_OP_NOP,      IORING_OP_READV,    IORING_OP_WRITEV,   IORING_OP_FSYNC,
	IORING_OP_POLL_ADD, IORING_OP_SENDMSG,  IORING_OP_RECVMSG,  IORING_OP_ACCEPT,
	IORING_OP_ASYNC_CANCEL, IORING_OP_CONNECT, IORING_OP_FALLOCATE, IORING_OP_OPENAT,
	IORING_OP_CLOSE,    IORING_OP_STATX,    IORING_OP_READ,     IORING_OP_WRITE,
	IORING_OP_SEND,     IORING_OP_RECV,     IORING_OP_SHUTDOWN, IORING_OP_RENAMEAT,
	IORING_OP_UNLINKAT, IORING_OP_MKDIRAT,  IORING_OP_SPLICE,   IORING_OP_SOCKET,
	IORING_OP_SEND_ZC,  55 /* IORING_OP_FTRUNCATE */,
};

} // namespace

Backend *Backend::create(const kio_ctx_opts &opts, io_uring *ring, uint64_t probe[4],
			 int *err) noexcept
{
	Backend *b = new (std::nothrow) Backend();
	if (!b) {
		*err = -ENOMEM;
		return nullptr;
	}
	int rc = guard<int>([&] { return b->init(opts, ring); });
	if (rc < 0) {
		delete b;
		*err = rc;
		return nullptr;
	}
	for (int op : kServed)
		probe[op / 64] |= uint64_t(1) << (op % 64);
	return b;
}

int Backend::init(const kio_ctx_opts &opts, io_uring *ring) noexcept
{
	ErrnoKeeper keep_errno;
	epfd_ = epoll_create1(EPOLL_CLOEXEC);
	if (epfd_ < 0)
		return -errno;
	sq_entries_ = round_pow2(std::max(opts.sq_entries, 1u));
	cq_entries_ = round_pow2(std::max(opts.cq_entries, sq_entries_));
	sq_mask_ = sq_entries_ - 1;
	cq_mask_ = cq_entries_ - 1;
	try {
		sqes_.resize(sq_entries_);
		cqes_.resize(cq_entries_);
		sq_array_.resize(sq_entries_);
		fds_.reserve(64);
		dirty_.reserve(16);
	} catch (...) {
		return -ENOMEM;
	}
	for (unsigned i = 0; i < sq_entries_; i++)
		sq_array_[i] = i;
	// The pool's eventfd now, its threads on the first job: the fds a ctx
	// holds do not change while it runs.
	int err = 0;
	workers_ = Workers::create(&err);
	if (!workers_)
		return err;
	epoll_event ev{};
	ev.events = EPOLLIN;
	ev.data.u64 = kTagWorkers;
	if (epoll_ctl(epfd_, EPOLL_CTL_ADD, workers_->fd(), &ev) < 0)
		return -errno;

	*ring = io_uring{};
	io_uring_sq &sq = ring->sq;
	sq.khead = &sh_.sq_head;
	sq.ktail = &sh_.sq_tail;
	sq.kring_mask = &sq_mask_;
	sq.kring_entries = &sq_entries_;
	sq.kflags = &sh_.sq_flags;
	sq.kdropped = &sh_.sq_dropped;
	sq.array = sq_array_.data();
	sq.sqes = sqes_.data();
	sq.ring_mask = sq_mask_;
	sq.ring_entries = sq_entries_;
	io_uring_cq &cq = ring->cq;
	cq.khead = &sh_.cq_head;
	cq.ktail = &sh_.cq_tail;
	cq.kring_mask = &cq_mask_;
	cq.kring_entries = &cq_entries_;
	cq.kflags = &sh_.cq_flags;
	cq.koverflow = &sh_.cq_overflow;
	cq.cqes = cqes_.data();
	cq.ring_mask = cq_mask_;
	cq.ring_entries = cq_entries_;
	ring->ring_fd = epfd_;
	ring->enter_ring_fd = epfd_;
	ring->features = IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_SUBMIT_STABLE;
	wake_.state = State::Idle;
	wake_.next = wake_.prev = wake_.cnext = kNone;
	return 0;
}

Backend::~Backend()
{
	ErrnoKeeper keep_errno;
	if (workers_)
		workers_->release();
	if (epfd_ >= 0)
		close(epfd_);
}

void Backend::grow_records(uint32_t idx)
{
	size_t want = std::max<size_t>(size_t(idx) + 1, size_t(nrecs_) + nrecs_ / 4 + 64);
	recs_.reserve(want);
	uint32_t cap = uint32_t(std::min<size_t>(recs_.capacity(), UINT32_MAX - 2));
	for (uint32_t i = nrecs_; i < cap; i++) {
		Record *r = new (&recs_.data()[i]) Record();
		r->state = State::Idle;
		r->next = r->prev = r->cnext = kNone;
	}
	nrecs_ = cap;
}

FdState *Backend::grow_fds(int fd, int *err) noexcept
{
	if (!fd_open(fd)) {
		*err = -EBADF;
		return nullptr;
	}
	try {
		fds_.resize(std::max(size_t(fd) + 1, fds_.size() * 2));
	} catch (...) {
		*err = -ENOMEM;
		return nullptr;
	}
	return &fds_[size_t(fd)];
}

BufGroup *Backend::buf_group(uint16_t group) noexcept
{
	for (BufGroup &g : groups_)
		if (g.group == group)
			return &g;
	return nullptr;
}

int Backend::register_buf_ring(const io_uring_buf_reg &reg) noexcept
{
	if (buf_group(reg.bgid))
		return -EEXIST;
	try {
		groups_.push_back(BufGroup{reinterpret_cast<io_uring_buf_ring *>(uintptr_t(reg.ring_addr)),
					   reg.ring_entries, reg.bgid, 0});
	} catch (...) {
		return -ENOMEM;
	}
	return 0;
}

void Backend::unregister_buf_ring(uint16_t group) noexcept
{
	for (size_t i = 0; i < groups_.size(); i++) {
		if (groups_[i].group == group) {
			groups_.erase(groups_.begin() + long(i));
			return;
		}
	}
}

// ---- completions ----

bool Backend::cq_room() const noexcept
{
	return fifo_head_ == kNone &&
	       sh_.cq_tail - io_uring_smp_load_acquire(&sh_.cq_head) < cq_entries_;
}

void Backend::post_cqe(uint64_t ud, int32_t res, uint32_t flags) noexcept
{
	io_uring_cqe &c = cqes_[sh_.cq_tail & cq_mask_];
	c.user_data = ud;
	c.res = res;
	c.flags = flags;
	io_uring_smp_store_release(&sh_.cq_tail, sh_.cq_tail + 1);
}

// The op's final completion: into the CQ, or, when it is full, into the
// FIFO (intrusive, so it never needs memory and never drops a result).
void Backend::complete(uint32_t link, int32_t res, uint32_t flags) noexcept
{
	Record &r = rec(link);
	if (cq_room()) {
		r.state = State::Idle;
		post_cqe(r.sqe.user_data, res, flags);
		return;
	}
	r.state = State::Queued;
	r.res = res;
	r.cflags = flags;
	r.cnext = kNone;
	if (fifo_tail_ != kNone)
		rec(fifo_tail_).cnext = link;
	else
		fifo_head_ = link;
	fifo_tail_ = link;
}

void Backend::flush_fifo() noexcept
{
	while (fifo_head_ != kNone &&
	       sh_.cq_tail - io_uring_smp_load_acquire(&sh_.cq_head) < cq_entries_) {
		uint32_t link = fifo_head_;
		Record &r = rec(link);
		fifo_head_ = r.cnext;
		if (fifo_head_ == kNone)
			fifo_tail_ = kNone;
		r.state = State::Idle;
		post_cqe(r.sqe.user_data, r.res, r.cflags);
	}
}

// ---- the wait ----

namespace {

// epoll_pwait2 (nanoseconds) is Linux 5.11; before it, milliseconds.
std::atomic<bool> have_pwait2{true};

int wait_events(int epfd, epoll_event *ev, int max, uint64_t timeout_ns) noexcept
{
	if (timeout_ns == 0)
		return epoll_wait(epfd, ev, max, 0);
	if (timeout_ns >= kNever)
		return epoll_wait(epfd, ev, max, -1);
	if (have_pwait2.load(std::memory_order_relaxed)) {
		// Through syscall(2), not glibc's wrapper: ThreadSanitizer's
		// interceptor of epoll_pwait2 (LLVM 19) calls it twice in the
		// child of a multi-threaded fork and loses the first call's events.
		timespec ts{time_t(timeout_ns / 1000000000ull), long(timeout_ns % 1000000000ull)};
		int n = int(syscall(SYS_epoll_pwait2, epfd, ev, max, &ts, nullptr, size_t(_NSIG / 8)));
		if (n >= 0 || errno != ENOSYS)
			return n;
		have_pwait2.store(false, std::memory_order_relaxed);
	}
	// Rounded up: waking early would only spin.
	uint64_t ms = (timeout_ns + 999999) / 1000000;
	return epoll_wait(epfd, ev, max, int(std::min<uint64_t>(ms, INT_MAX)));
}

} // namespace

int Backend::enter(bool wait, uint64_t timeout_ns, bool getevents, uint64_t *enters) noexcept
{
	ErrnoKeeper keep_errno; // the calls made here leave the program's errno alone
	take_sqes();
	flush_fifo();
	if (!dirty_.empty())
		run_dirty();
	// Where io_uring's kernel side works on its own, this backend works
	// only when asked: with nothing to deliver, every enter looks at the
	// fds (a polling round, kio_ctx_run_once(ctx, 0), must see what is
	// ready). With completions waiting, they go first, and the fds are
	// looked at only now and then, so a loop that always has completions
	// still hears its fds.
	(*enters)++;
	bool ready = sh_.cq_tail != io_uring_smp_load_acquire(&sh_.cq_head) || fifo_head_ != kNone;
	bool look = !ready || ((wait || getevents) && ++busy_skips_ >= kMaxBusySkips);
	int rc = 0;
	if (look) {
		busy_skips_ = 0;
		epoll_event ev[kMaxEvents];
		int n = wait_events(epfd_, ev, kMaxEvents, (wait && !ready) ? timeout_ns : 0);
		if (n < 0)
			rc = -errno;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == kTagWorkers)
				reap_jobs();
			else
				on_event(int(ev[i].data.u64), ev[i].events);
		}
		flush_fifo();
	}
	bool more = fifo_head_ != kNone || !dirty_.empty();
	// Completions waiting in the FIFO found the CQ full: what the kernel
	// flags as IORING_SQ_CQ_OVERFLOW (the loop counts and logs it).
	unsigned overflow = fifo_head_ != kNone ? IORING_SQ_CQ_OVERFLOW : 0u;
	IO_URING_WRITE_ONCE(sh_.sq_flags, (more ? IORING_SQ_TASKRUN : 0u) | overflow);
	if (grow_failed_) {
		grow_failed_ = false;
		return -ENOMEM;
	}
	return rc;
}

} // namespace kio::epoll
