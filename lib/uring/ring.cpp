// SPDX-License-Identifier: MIT
// The io_uring backend: the kernel serves the queue pair. Setup with
// feature fallback, the opcode probe, and io_uring_enter's slow cases.
#include "core/ring.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/guard.hpp"
#include "core/log.hpp"
#include "core/mapping.hpp"

namespace kio {

// liburing maps and unmaps the rings with raw system calls: see
// order_mappings() for why each change of mapping is ordered.
// The calling thread, as the address of a thread-local byte (registered
// rings belong to a thread).
static const void *calling_thread() noexcept
{
	__attribute__((tls_model("initial-exec"))) static thread_local char marker;
	return &marker;
}

void unmap_uring(io_uring *ring) noexcept
{
	order_mappings();
	io_uring_queue_exit(ring);
}

// liburing 2.3 predates IORING_SETUP_NO_SQARRAY: the kernel then reports
// the array at offset 0, and io_uring_queue_init_params() fills "the array"
// with 0, 1, 2... over the start of the ring: the heads, tails, masks and
// the first CQEs. Nothing has run yet (no enter, no SQPOLL thread), so the
// kernel's initial state is written back: zeros, and the masks and sizes.
static void restore_ring_header(io_uring *ring, const io_uring_params &p) noexcept
{
	auto *base = static_cast<unsigned char *>(ring->sq.ring_ptr);
	size_t n = size_t(p.sq_entries) * sizeof(unsigned);
	memset(base, 0, n < ring->sq.ring_sz ? n : ring->sq.ring_sz);
	auto put = [base](uint32_t off, unsigned v) {
		memcpy(base + off, &v, sizeof(v));
	};
	put(p.sq_off.ring_mask, p.sq_entries - 1);
	put(p.sq_off.ring_entries, p.sq_entries);
	put(p.cq_off.ring_mask, p.cq_entries - 1);
	put(p.cq_off.ring_entries, p.cq_entries);
}

int Ring::setup_uring(const kio_ctx_opts &opts) noexcept
{
	// Ordered from most to least capable. SINGLE_ISSUER|DEFER_TASKRUN runs
	// completions only when the loop asks for them (fewer context switches,
	// no cross-CPU task work); R_DISABLED lets the thread that first runs
	// the loop, not the creator, become the single issuer.
	unsigned candidates[4];
	int n = 0;
	if (opts.flags & KIO_CTX_SQPOLL) {
		unsigned f = IORING_SETUP_SQPOLL;
		if (opts.sqpoll_cpu >= 0)
			f |= IORING_SETUP_SQ_AFF;
		candidates[n++] = f;
	} else {
		if (!(opts.flags & KIO_CTX_NO_DEFER_TASKRUN))
			candidates[n++] = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
					  IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED;
		candidates[n++] = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
		candidates[n++] = 0;
	}

	int rc = -EINVAL;
	unsigned refused = 0;
	for (int i = 0; i < n; i++) {
		io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = candidates[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP |
			  IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = opts.cq_entries;
		p.sq_thread_idle = opts.sqpoll_idle_ms;
		p.sq_thread_cpu = opts.sqpoll_cpu >= 0 ? uint32_t(opts.sqpoll_cpu) : 0;
		// NO_SQARRAY (6.6): the kernel reads SQEs in the order kio fills
		// them, with no index array between; optional, so a kernel
		// without it is not mentioned in the setup log. Not with SQPOLL:
		// see restore_ring_header() for why.
		if (!(p.flags & IORING_SETUP_SQPOLL))
			p.flags |= kSetupNoSqArray;
		rc = io_uring_queue_init_params(opts.sq_entries, &ring_, &p);
		if (rc == 0 && (p.flags & kSetupNoSqArray)) {
			// The ring may sit where another thread's ring was unmapped:
			// ordered before these writes, not only after the loop.
			order_mappings();
			restore_ring_header(&ring_, p);
		}
		if (rc == -EINVAL && (p.flags & kSetupNoSqArray)) {
			p.flags &= ~kSetupNoSqArray;
			memset(&ring_, 0, sizeof(ring_));
			rc = io_uring_queue_init_params(opts.sq_entries, &ring_, &p);
		}
		if (rc == -EINVAL) {
			// SUBMIT_ALL is 5.18; retry the same mode without it.
			p.flags &= ~IORING_SETUP_SUBMIT_ALL;
			memset(&ring_, 0, sizeof(ring_));
			rc = io_uring_queue_init_params(opts.sq_entries, &ring_, &p);
			refused |= IORING_SETUP_SUBMIT_ALL;
		}
		if (rc == 0) {
			order_mappings();
			setup_flags_ = p.flags;
			if (!(p.features & IORING_FEAT_EXT_ARG)) {
				// Waiting with a timeout and no SQE needs EXT_ARG (5.11).
				unmap_uring(&ring_);
				return -ENOSYS;
			}
			break;
		}
		memset(&ring_, 0, sizeof(ring_));
		if (rc != -EINVAL)
			break; // EPERM, ENOMEM, ENOSYS...: a weaker mode will not help
		refused |= candidates[i];
	}
	if (rc < 0)
		return rc;
	refused &= ~setup_flags_;
	bool declined = (opts.flags & (KIO_CTX_SQPOLL | KIO_CTX_NO_DEFER_TASKRUN)) ==
			KIO_CTX_NO_DEFER_TASKRUN;
	if (refused || declined)
		log_ring_setup(refused, setup_flags_);
	inited_ = true;
	enter_fd_ = ring_.ring_fd;
	disabled_ = setup_flags_ & IORING_SETUP_R_DISABLED;
	slow_enter_ = disabled_ || (setup_flags_ & IORING_SETUP_SQPOLL);

	// kio hands SQEs to the kernel in slot order: make the indirection
	// array the identity once, so a flush is a single tail store. Without
	// the array, liburing 2.3 (which predates NO_SQARRAY) points sq.array
	// at the start of the ring: nothing may use it.
	if (setup_flags_ & kSetupNoSqArray) {
		ring_.sq.array = nullptr;
	} else {
		for (unsigned i = 0; i < ring_.sq.ring_entries; i++)
			ring_.sq.array[i] = i;
	}

	if (io_uring_probe *probe = io_uring_get_probe_ring(&ring_)) {
		for (int op = 0; op <= probe->last_op && op < 256; op++)
			if (probe->ops[op].flags & IO_URING_OP_SUPPORTED)
				probe_[op / 64] |= uint64_t(1) << (op % 64);
		io_uring_free_probe(probe);
	}
	return 0;
}

int Ring::enable_if_needed() noexcept
{
	if (!disabled_)
		return 0;
	// liburing 2.3 declares io_uring_enable_rings() but does not export it.
	ErrnoKeeper keep_errno;
	if (syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0)
		return -errno;
	disabled_ = false;
	register_ring_fd();
	return 0;
}

// A ring created disabled is SINGLE_ISSUER: the thread enabling it here is
// the only one the kernel lets enter it from now on, so every enter can name
// it by its index among that thread's registered rings (5.18; at most 16
// per thread). Without that (an older kernel, a thread with 16 already,
// KIO_NO_REGISTERED_RING set for tests of the plain path) enters name the fd.
void Ring::register_ring_fd() noexcept
{
	if (!(setup_flags_ & IORING_SETUP_SINGLE_ISSUER))
		return;
	const char *off = getenv("KIO_NO_REGISTERED_RING");
	if (off && *off && strcmp(off, "0") != 0)
		return;
	ErrnoKeeper keep_errno;
	io_uring_rsrc_update up;
	memset(&up, 0, sizeof(up));
	up.offset = UINT32_MAX; // any free index
	up.data = uint64_t(ring_.ring_fd);
	if (syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_RING_FDS, &up, 1) != 1)
		return;
	enter_fd_ = int(up.offset);
	enter_flags_ = IORING_ENTER_REGISTERED_RING;
	registered_by_ = calling_thread();
}

// At teardown, from the thread that registered the ring (destroy runs on the
// thread that runs the ctx): its index would otherwise keep the ring alive
// until that thread ends. From any other thread the index means another
// ring, so it is left alone.
void Ring::unregister_ring_fd() noexcept
{
	if (!enter_flags_ || registered_by_ != calling_thread())
		return;
	ErrnoKeeper keep_errno;
	io_uring_rsrc_update up;
	memset(&up, 0, sizeof(up));
	up.offset = uint32_t(enter_fd_);
	syscall(__NR_io_uring_register, ring_.ring_fd, IORING_UNREGISTER_RING_FDS, &up, 1);
	enter_flags_ = 0;
	enter_fd_ = ring_.ring_fd;
}

int Ring::enter_uring_slow(bool wait, uint64_t timeout_ns, bool getevents) noexcept
{
	if (__builtin_expect(disabled_, 0)) {
		int rc = enable_if_needed();
		if (rc < 0)
			return rc;
		slow_enter_ = setup_flags_ & IORING_SETUP_SQPOLL;
	}

	unsigned to_submit;
	unsigned flags = 0;
	if (setup_flags_ & IORING_SETUP_SQPOLL) {
		// The kernel thread consumes the SQ; enter only to wake it or wait.
		io_uring_sq &sq = ring_.sq;
		unsigned tail = sq.sqe_tail;
		publish_sq();
		to_submit = 0;
		io_uring_smp_mb();
		unsigned pending = tail - io_uring_smp_load_acquire(sq.khead);
		if (IO_URING_READ_ONCE(*sq.kflags) & IORING_SQ_NEED_WAKEUP) {
			flags |= IORING_ENTER_SQ_WAKEUP;
			to_submit = pending;
		}
		// A full SQ (the caller needs a free SQE): wait until the thread
		// has taken some, instead of spinning while it is not scheduled.
		if (pending >= sq.ring_entries && !no_sq_wait_)
			flags |= IORING_ENTER_SQ_WAIT;
		if (!wait && !getevents &&
		    !(flags & (IORING_ENTER_SQ_WAKEUP | IORING_ENTER_SQ_WAIT)))
			return 0;
	} else {
		to_submit = publish_sq();
		if (!to_submit && !wait && !getevents)
			return 0;
	}
	if (wait || getevents)
		flags |= IORING_ENTER_GETEVENTS;

	enter_calls++;
	__kernel_timespec ts;
	io_uring_getevents_arg arg;
	auto call = [&](unsigned f) {
		if (!wait || timeout_ns >= kNever) {
			// No timeout: the plain call, which spares the kernel
			// copying and checking an argument block.
			return sys_enter(to_submit, wait ? 1 : 0, f, nullptr, _NSIG / 8);
		}
		ts.tv_sec = int64_t(timeout_ns / 1000000000ull);
		ts.tv_nsec = int64_t(timeout_ns % 1000000000ull);
		memset(&arg, 0, sizeof(arg));
		arg.ts = uint64_t(uintptr_t(&ts));
		arg.sigmask_sz = _NSIG / 8;
		return sys_enter(to_submit, 1, f | IORING_ENTER_EXT_ARG, &arg, sizeof(arg));
	};
	int rc = call(flags);
	if (rc == -EINVAL && (flags & IORING_ENTER_SQ_WAIT)) {
		// IORING_ENTER_SQ_WAIT is 5.13: older kernels get the spin.
		no_sq_wait_ = true;
		rc = call(flags & ~IORING_ENTER_SQ_WAIT);
	}
	return rc;
}

} // namespace kio
