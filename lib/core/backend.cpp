// SPDX-License-Identifier: MIT
// Choosing the backend that serves a context's queue pair, and handing the
// few calls that differ to it. io_uring is tried first; where the system
// refuses it (a seccomp profile, kernel.io_uring_disabled, an old kernel)
// the epoll backend takes over, unless the program or KIO_BACKEND asked
// for one of them in particular.
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/guard.hpp"
#include "core/log.hpp"
#include "core/ring.hpp"
#include "epoll/backend.hpp"

namespace kio {

void unmap_uring(io_uring *ring) noexcept; // uring/ring.cpp

namespace {

enum class Choice {
	Auto,      // io_uring, else epoll when io_uring is refused
	UringOnly, // io_uring or its error
	Epoll,
};

Choice from_environment() noexcept
{
	const char *v = getenv("KIO_BACKEND");
	if (!v || !*v)
		return Choice::Auto;
	if (strcmp(v, "epoll") == 0)
		return Choice::Epoll;
	if (strcmp(v, "io_uring") == 0)
		return Choice::UringOnly;
	log_backend_unknown(v);
	return Choice::Auto;
}

// The program's flags first; KIO_BACKEND only where it did not choose.
Choice choose(uint32_t flags) noexcept
{
	if (flags & KIO_CTX_BACKEND_EPOLL)
		return Choice::Epoll;
	if (flags & KIO_CTX_NO_FALLBACK)
		return Choice::UringOnly;
	return from_environment();
}

// io_uring_setup errors that mean "not here", as opposed to a failure
// that epoll would meet as well (ENOMEM, EMFILE) or a bad option.
bool refused(int err) noexcept
{
	return err == -EPERM || err == -EACCES || err == -ENOSYS;
}

} // namespace

int Ring::setup(const kio_ctx_opts &opts) noexcept
{
	Choice choice = choose(opts.flags);
	if (choice == Choice::Epoll)
		return setup_epoll(opts);
	int rc = setup_uring(opts);
	if (rc == 0 || choice == Choice::UringOnly || !refused(rc))
		return rc;
	log_backend_fallback(rc);
	return setup_epoll(opts);
}

int Ring::setup_epoll(const kio_ctx_opts &opts) noexcept
{
	memset(probe_, 0, sizeof(probe_));
	int err = 0;
	emu_ = epoll::Backend::create(opts, &ring_, probe_, &err);
	if (!emu_)
		return err;
	// The backend raises IORING_SQ_TASKRUN when it has completions left
	// over; every enter() goes through it.
	setup_flags_ = IORING_SETUP_TASKRUN_FLAG;
	slow_enter_ = true;
	sq_end_ = 0;
	return 0;
}

Ring::~Ring()
{
	if (emu_)
		delete emu_; // it owns the memory ring_ points into
	else if (inited_) {
		unregister_ring_fd();
		unmap_uring(&ring_);
	}
}

int Ring::enter_slow(bool wait, uint64_t timeout_ns, bool getevents) noexcept
{
	if (emu_) {
		publish_sq();
		return emu_->enter(wait, timeout_ns, getevents, &enter_calls);
	}
	return enter_uring_slow(wait, timeout_ns, getevents);
}

int Ring::register_buf_ring(io_uring_buf_reg *reg) noexcept
{
	if (emu_)
		return emu_->register_buf_ring(*reg);
	ErrnoKeeper keep_errno;
	return io_uring_register_buf_ring(&ring_, reg, 0);
}

void Ring::unregister_buf_ring(uint16_t group) noexcept
{
	if (emu_) {
		emu_->unregister_buf_ring(group);
		return;
	}
	ErrnoKeeper keep_errno;
	io_uring_unregister_buf_ring(&ring_, int(group));
}

// The epoll backend needs no eventfd: its completions wake its epoll fd,
// which is what the embedding set watches as the "ring".
int Ring::register_eventfd(int fd) noexcept
{
	if (emu_)
		return 0;
	ErrnoKeeper keep_errno;
	return io_uring_register_eventfd(&ring_, fd);
}

void Ring::unregister_eventfd() noexcept
{
	if (emu_)
		return;
	ErrnoKeeper keep_errno;
	io_uring_unregister_eventfd(&ring_);
}

} // namespace kio
