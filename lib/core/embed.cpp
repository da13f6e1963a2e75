// SPDX-License-Identifier: MIT
// kio_ctx_fd(): an epoll set a host event loop can watch. It holds the ring
// fd (completions), the wake eventfd (posts, wake, stop) and a timerfd that
// carries the nearest deadline, because user-space timers have no kernel
// object of their own. The timerfd is also "kicked" (armed to fire at
// once) when work is queued outside kio_ctx_run_once(): SQEs not yet
// submitted or completions decided in user space.
#include <cerrno>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"

namespace kio {

static void arm_timer(kio_ctx *c, uint64_t deadline) noexcept
{
	ErrnoKeeper keep_errno;
	itimerspec its{};
	if (deadline) {
		its.it_value.tv_sec = time_t(deadline / 1000000000ull);
		its.it_value.tv_nsec = long(deadline % 1000000000ull);
	}
	// Arming also resets the expiration count, so a fired timer stops
	// reporting readable once the next deadline is set.
	timerfd_settime(c->timer_fd, TFD_TIMER_ABSTIME, &its, nullptr);
	c->timer_armed = deadline;
}

// Work queued from inside run_once() is picked up by that same round, so
// only work queued from outside needs the host loop woken.
void embed_kick(kio_ctx *c) noexcept
{
	if (c->epoll_fd < 0 || c->kicked || c->in_run)
		return;
	c->kicked = true;
	arm_timer(c, 1); // long past: readable at once
}

void embed_rearm(kio_ctx *c) noexcept
{
	if (c->epoll_fd < 0)
		return;
	c->kicked = false;
	uint64_t want;
	// Completions already in the CQ (the epoll backend posts some while it
	// takes SQEs) or left over in the backend count as work too.
	if (!c->ready.empty() || c->ring.unsubmitted() > 0 || c->ring.cq_ready() ||
	    (c->ring.backend() == KIO_BACKEND_EPOLL && c->ring.kernel_has_more()))
		want = 1;
	else
		want = c->timers.empty() ? 0 : c->timers.next_deadline();
	// A deadline already armed and still ahead needs no syscall; one that
	// passed has to be re-armed even if equal, to clear its expiration.
	if (want == c->timer_armed && want != 1 && (want == 0 || want > mono_ns()))
		return;
	arm_timer(c, want);
}

void embed_reset_notify(kio_ctx *c) noexcept
{
	if (c->notify_fd < 0)
		return;
	// Cleared before the loop looks for completions, never after: work
	// queued from here on signals the eventfd again.
	ErrnoKeeper keep_errno;
	uint64_t count;
	(void)!read(c->notify_fd, &count, sizeof(count));
}

void embed_close(kio_ctx *c) noexcept
{
	ErrnoKeeper keep_errno;
	if (c->notify_fd >= 0)
		c->ring.unregister_eventfd();
	if (c->epoll_fd >= 0)
		close(c->epoll_fd);
	if (c->timer_fd >= 0)
		close(c->timer_fd);
	if (c->notify_fd >= 0)
		close(c->notify_fd);
	c->epoll_fd = c->timer_fd = c->notify_fd = -1;
}

static int embed_open(kio_ctx *c) noexcept
{
	ErrnoKeeper keep_errno;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0) {
		int err = -errno;
		close(ep);
		return err;
	}
	// With DEFER_TASKRUN a completion waiting as task work does not make
	// the ring fd readable; an eventfd registered with the ring is
	// signalled when such work is queued.
	int nfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nfd < 0 || c->ring.register_eventfd(nfd) < 0) {
		int err = nfd < 0 ? -errno : -EOPNOTSUPP;
		if (nfd >= 0)
			close(nfd);
		close(tfd);
		close(ep);
		return err;
	}
	int fds[4] = {c->ring.fd(), c->wake_fd, tfd, nfd};
	for (int fd : fds) {
		epoll_event ev{};
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			int err = -errno;
			c->ring.unregister_eventfd();
			close(nfd);
			close(tfd);
			close(ep);
			return err;
		}
	}
	c->epoll_fd = ep;
	c->ring.force_slow_start(); // starts must kick the host loop (note_started())
	c->timer_fd = tfd;
	c->notify_fd = nfd;
	c->timer_armed = 0;
	c->kicked = false;
	// Whatever was queued before the host started watching must show.
	embed_kick(c);
	return ep;
}

} // namespace kio

KIO_API int kio_ctx_fd(kio_ctx *ctx) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (kio::foreign_thread(ctx))
		return -EPERM;
	if (ctx->epoll_fd >= 0)
		return ctx->epoll_fd;
	return kio::embed_open(ctx);
}
