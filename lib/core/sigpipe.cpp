// SPDX-License-Identifier: MIT
// IORING_OP_WRITE, WRITEV and SPLICE into a pipe or socket whose reader is
// gone raise SIGPIPE in whichever thread issues them: this one, during
// io_uring_enter, or - where task work is not deferred - on return from
// any later system call, whichever context that call is for. Only
// send/sendmsg can say MSG_NOSIGNAL. So while any context of a thread has
// such ops in flight, the thread keeps SIGPIPE blocked, and when the last
// of them has finished it swallows the SIGPIPE they left pending: the user
// sees -EPIPE and nothing else. The hold is the thread's, not the
// context's: two contexts on one thread must not unblock SIGPIPE while the
// other still has writes out. It costs two or three syscalls per burst of
// writes, none per op.
#include <cerrno>
#include <csignal>
#include <ctime>

#include <pthread.h>

#include "core/ctx.hpp"

namespace kio {

namespace {

struct ThreadHold {
	uint32_t contexts = 0; // contexts of this thread with pipe writes out
	bool was_blocked = false; // the application had SIGPIPE blocked itself
};

thread_local ThreadHold t_hold;

sigset_t pipe_set() noexcept
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	return set;
}

void hold_here(kio_ctx *c) noexcept
{
	ThreadHold &h = t_hold;
	c->sigpipe_holder = &h;
	if (h.contexts++ > 0)
		return;
	sigset_t set = pipe_set(), old;
	if (pthread_sigmask(SIG_BLOCK, &set, &old) == 0)
		h.was_blocked = sigismember(&old, SIGPIPE);
	else
		h.was_blocked = true; // nothing changed: nothing to undo
}

} // namespace

void sigpipe_hold(kio_ctx *c) noexcept
{
	hold_here(c);
}

// The ctx started its writes before its first run, on the thread that
// handed it over; the thread that runs it now issues the system calls.
// The old thread keeps SIGPIPE blocked (its count is not ours to touch):
// the safe side.
void sigpipe_rehome(kio_ctx *c) noexcept
{
	if (c->pipe_writes > 0 && c->sigpipe_holder != &t_hold)
		hold_here(c);
}

void sigpipe_release(kio_ctx *c) noexcept
{
	ThreadHold *h = static_cast<ThreadHold *>(c->sigpipe_holder);
	c->sigpipe_holder = nullptr;
	if (h != &t_hold || --h->contexts > 0 || h->was_blocked)
		return; // another thread's hold, other contexts' writes, or the application's own block
	ErrnoKeeper keep_errno;
	sigset_t set = pipe_set(), pending;
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
		timespec zero = {0, 0};
		while (sigtimedwait(&set, nullptr, &zero) < 0 && errno == EINTR) {
		}
	}
	pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

} // namespace kio
