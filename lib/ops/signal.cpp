// SPDX-License-Identifier: MIT
// Signal sets: the signals are blocked and read from a signalfd. A wait is
// a hooked poll of the signalfd; when it reports POLLIN the step reads one
// signalfd_siginfo without blocking. Several waits may see the same POLLIN:
// the one whose read gets the signal completes, the others find nothing
// (EAGAIN) and poll again, so one delivered signal completes one wait.
#include <cerrno>
#include <csignal>
#include <new>

#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"

struct kio_signal_set {
	int fd;
	sigset_t unblock; // the set's signals the creating thread had unblocked
};

namespace {

using namespace kio;

// Signals a set may hold: not SIGKILL or SIGSTOP (they cannot be blocked),
// not the two real-time signals the C library keeps for itself.
bool signal_ok(int sig) noexcept
{
	if (sig < 1 || sig > SIGRTMAX || sig == SIGKILL || sig == SIGSTOP)
		return false;
	return sig < 32 || sig >= SIGRTMIN;
}

void prep_poll(kio_ctx *c, uint32_t idx, io_uring_sqe *sqe, int fd)
{
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	sqe->user_data = uint64_t(c->ops.id_of(idx));
}

void wait_step(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	(void)flags;
	if (res < 0) { // cancelled, timed out, or the ring refused the poll
		complete_op(c, idx, res, 0);
		return;
	}
	const kio_signal_set *set = static_cast<const kio_signal_set *>(c->ops.at(idx).ext);
	signalfd_siginfo si;
	ssize_t n;
	int err;
	{
		ErrnoKeeper keep_errno;
		do
			n = read(set->fd, &si, sizeof(si));
		while (n < 0 && errno == EINTR);
		err = n < 0 ? errno : 0;
	}
	if (n == ssize_t(sizeof(si))) {
		complete_op(c, idx, int32_t(si.ssi_signo), 0);
		return;
	}
	if (n >= 0 || err != EAGAIN) {
		complete_op(c, idx, n >= 0 ? -EIO : -err, 0);
		return;
	}
	// Another wait took the signal: poll again, unless asked to stop.
	if (c->ops.at(idx).state & kCancelReq) {
		complete_op(c, idx, -ECANCELED, 0);
		return;
	}
	io_uring_sqe *sqe = step_sqe(c, idx, &err);
	if (!sqe) {
		complete_op(c, idx, err, 0);
		return;
	}
	prep_poll(c, idx, sqe, set->fd);
}

const Hook kWaitHook = {wait_step, nullptr};

} // namespace

KIO_API int kio_signal_set_create(kio_signal_set **out, const int *signals, size_t count) noexcept
{
	if (!out)
		return -EINVAL;
	*out = nullptr;
	if (!signals || count == 0)
		return -EINVAL;
	sigset_t want;
	sigemptyset(&want);
	for (size_t i = 0; i < count; i++) {
		if (!signal_ok(signals[i]))
			return -EINVAL;
		sigaddset(&want, signals[i]);
	}
	ErrnoKeeper keep_errno;
	kio_signal_set *set = new (std::nothrow) kio_signal_set;
	if (!set)
		return -ENOMEM;
	sigset_t old;
	if (int e = pthread_sigmask(SIG_BLOCK, &want, &old)) {
		delete set;
		return -e;
	}
	sigemptyset(&set->unblock);
	for (int sig = 1; sig <= SIGRTMAX; sig++)
		if (sigismember(&want, sig) == 1 && sigismember(&old, sig) == 0)
			sigaddset(&set->unblock, sig);
	set->fd = signalfd(-1, &want, SFD_NONBLOCK | SFD_CLOEXEC);
	if (set->fd < 0) {
		int e = errno;
		pthread_sigmask(SIG_UNBLOCK, &set->unblock, nullptr);
		delete set;
		return -e;
	}
	*out = set;
	return 0;
}

KIO_API void kio_signal_set_destroy(kio_signal_set *set) noexcept
{
	if (!set)
		return;
	ErrnoKeeper keep_errno;
	close(set->fd);
	pthread_sigmask(SIG_UNBLOCK, &set->unblock, nullptr);
	delete set;
}

KIO_API int64_t kio_signal_wait(kio_ctx *ctx, kio_signal_set *set, kio_cb cb,
				void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!set)
		return -EINVAL;
	return guard<int64_t>([&]() -> int64_t {
		io_uring_sqe *sqe = nullptr;
		int64_t id = start_hooked(ctx, cb, user_data, IORING_OP_POLL_ADD, -1, false,
					  &kWaitHook, set, &sqe);
		if (id < 0)
			return id;
		prep_poll(ctx, OpTable::index_of(id), sqe, set->fd);
		return id;
	});
}
