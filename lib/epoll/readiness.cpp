// SPDX-License-Identifier: MIT
// The epoll backend's readiness: fds registered with epoll (edge-triggered
// and persistent), a queue of parked ops per fd, and what an event wakes.
#include <cerrno>

#include <sys/epoll.h>

#include "core/guard.hpp"
#include "epoll/backend.hpp"

namespace kio::epoll {

namespace {

// Every registration asks for input and the peer's half-close. Output only
// while an op waits for it: on a TCP socket every ACK that frees room is
// an edge, which would wake the loop for nothing.
constexpr uint32_t kBase = EPOLLIN | EPOLLRDHUP | EPOLLET;
constexpr uint32_t kOnDemand = EPOLLOUT | EPOLLPRI;

} // namespace

// Registers fd with mask, or changes its registration. A MOD that finds
// nothing (ENOENT) means the number now names another file than the one
// registered: it is added again.
int Backend::ctl(int fd, FdState &f, uint32_t mask) noexcept
{
	ErrnoKeeper keep_errno;
	epoll_event ev{};
	ev.events = mask;
	ev.data.u64 = uint32_t(fd);
	bool added = f.mask == 0;
	int rc = epoll_ctl(epfd_, added ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
	if (rc < 0 && !added && errno == ENOENT) {
		added = true;
		rc = epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
	} else if (rc < 0 && added && errno == EEXIST) {
		added = false;
		rc = epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
	}
	if (rc < 0) {
		f.mask = 0;
		f.trusted = false;
		return -errno; // EPERM: a file epoll cannot watch (regular file)
	}
	if (added)
		f.stream = -1; // maybe another file than before
	f.mask = mask;
	f.trusted = true;
	return 0;
}

int Backend::park(uint32_t link, int fd, uint32_t want) noexcept
{
	if (fd < 0)
		return -EBADF;
	int err = 0;
	FdState *fp = fd_state(fd, &err);
	if (!fp)
		return err;
	FdState &f = *fp;
	uint32_t need = kBase | (want & kOnDemand);
	for (uint32_t l = f.head; l != kNone; l = rec(l).next)
		need |= rec(l).want & kOnDemand;
	// The registration is checked (and renewed) unless an op stayed parked
	// on the fd since it last was: see FdState.
	if (!f.trusted || need != f.mask) {
		if (int rc = ctl(fd, f, need); rc < 0)
			return rc;
	}
	Record &r = rec(link);
	r.state = State::Parked;
	r.want = want;
	r.wait_fd = fd;
	r.next = kNone;
	r.prev = f.tail;
	if (f.tail != kNone)
		rec(f.tail).next = link;
	else
		f.head = link;
	f.tail = link;
	f.parked++;
	if (fd != r.sqe.fd) {
		r.flags |= kRecCross;
		cross_++;
	}
	return 0;
}

void Backend::unpark(uint32_t link) noexcept
{
	Record &r = rec(link);
	FdState &f = fds_[size_t(r.wait_fd)];
	if (r.prev != kNone)
		rec(r.prev).next = r.next;
	else
		f.head = r.next;
	if (r.next != kNone)
		rec(r.next).prev = r.prev;
	else
		f.tail = r.prev;
	r.next = r.prev = kNone;
	if (--f.parked == 0)
		f.trusted = false; // the program may close the fd from now on
	if (r.flags & kRecCross) {
		r.flags &= uint8_t(~kRecCross);
		cross_--;
	}
	r.state = State::Idle;
}

void Backend::on_event(int fd, uint32_t events) noexcept
{
	if (fd < 0 || size_t(fd) >= fds_.size())
		return;
	uint32_t e = events;
	// An error or a hangup ends every kind of wait: the call reports it.
	if (e & (EPOLLERR | EPOLLHUP))
		e |= EPOLLIN | EPOLLOUT | EPOLLPRI;
	if (e & EPOLLRDHUP)
		e |= EPOLLIN;
	fds_[size_t(fd)].ready |= e;
	run_waiters(fd);
	// Output edges nobody waits for any more: stop asking for them.
	FdState &f = fds_[size_t(fd)];
	if ((events & EPOLLOUT) && (f.mask & EPOLLOUT) && f.parked > 0) {
		uint32_t need = kBase;
		for (uint32_t l = f.head; l != kNone; l = rec(l).next)
			need |= rec(l).want & kOnDemand;
		if (!(need & EPOLLOUT))
			ctl(fd, f, need);
	}
}

// Drives every op parked on fd that waits for something now ready, oldest
// first. An op that finds nothing after all clears the readiness it
// needed (an EAGAIN), so the ones behind it do not try in vain.
void Backend::run_waiters(int fd) noexcept
{
	uint32_t link = fds_[size_t(fd)].head;
	while (link != kNone) {
		const Record &r = rec(link);
		uint32_t next = r.next;
		if (fds_[size_t(fd)].ready & r.want)
			drive(link);
		link = next;
	}
}

void Backend::mark_dirty(int fd) noexcept
{
	FdState &f = fds_[size_t(fd)];
	if (f.dirty)
		return;
	try {
		dirty_.push_back(fd);
		f.dirty = true;
	} catch (...) {
		// Only a delay: the fd's next event runs its waiters anyway.
	}
}

// fds whose multishot ops stopped for lack of CQ room go on now.
void Backend::run_dirty() noexcept
{
	size_t n = dirty_.size();
	for (size_t i = 0; i < n; i++) {
		int fd = dirty_[i];
		fds_[size_t(fd)].dirty = false;
		run_waiters(fd);
	}
	dirty_.erase(dirty_.begin(), dirty_.begin() + long(n));
}

// The fd is closed, or its number now names a new file: what was known of
// it no longer holds. Ops still parked on it stay (they end by cancel).
void Backend::forget_fd(int fd) noexcept
{
	if (fd < 0 || size_t(fd) >= fds_.size())
		return;
	FdState &f = fds_[size_t(fd)];
	if (f.mask) {
		ErrnoKeeper keep_errno;
		epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
	}
	f.mask = 0;
	f.trusted = false;
	f.ready = kUnknownReady;
	f.stream = -1;
}

} // namespace kio::epoll
