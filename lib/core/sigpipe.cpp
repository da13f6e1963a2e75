// SPDX-License-Identifier: MIT
// IORING_OP_WRITE, WRITEV and SPLICE into a pipe or socket whose reader is
// gone raise SIGPIPE in whichever thread issues them: this one, during
// io_uring_enter, or - where task work is not deferred - on return from
// any later system call. Only send/sendmsg can say MSG_NOSIGNAL. So while
// such ops are in flight, the ctx's thread keeps SIGPIPE blocked, and when
// the last one has finished it swallows the SIGPIPE they left pending:
// the user sees -EPIPE and nothing else. It costs two or three syscalls per
// burst of writes, none per op.
#include <cerrno>
#include <csignal>
#include <ctime>

#include <pthread.h>

#include "core/ctx.hpp"

namespace kio {

static sigset_t pipe_set() noexcept
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	return set;
}

void sigpipe_hold(kio_ctx *c) noexcept
{
	sigset_t set = pipe_set(), old;
	if (pthread_sigmask(SIG_BLOCK, &set, &old) == 0)
		c->sigpipe_was_blocked = sigismember(&old, SIGPIPE);
	else
		c->sigpipe_was_blocked = true; // nothing changed: nothing to undo
}

void sigpipe_release(kio_ctx *c) noexcept
{
	if (c->sigpipe_was_blocked)
		return; // the application blocks SIGPIPE itself: its signals, its business
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
