// SPDX-License-Identifier: MIT
// The queue pair of a context: a submission queue of SQEs that describe
// ops, a completion queue of CQEs that report them, in io_uring's layout.
// One of two backends serves it:
//   io_uring (lib/uring/): the kernel's own rings;
//   epoll (lib/epoll/):    rings in user memory, served by kio from epoll
//                          readiness, non-blocking calls and a thread pool,
//                          where io_uring is not allowed.
// The core fills SQEs and reaps CQEs the same way for both, so the ops and
// the contract are written once. The io_uring hot path (taking an SQE,
// reaping) is inline and has no branch on the backend: the epoll backend
// only differs in enter(), which it takes through the slow path.
#pragma once

#include <cerrno>
#include <cstdint>
#include <ctime>

#include <sys/syscall.h>

#include <liburing.h>

#include <kio/context.h>

namespace kio {

// Opcodes newer than liburing 2.3's headers, filled by hand.
inline constexpr int kOpFtruncate = 55; // Linux 6.9
// Setup flags newer than liburing 2.3's headers.
inline constexpr unsigned kSetupNoSqArray = 1u << 16; // IORING_SETUP_NO_SQARRAY, Linux 6.6

namespace epoll {
class Backend; // lib/epoll/backend.hpp
}

class Ring {
public:
	Ring() = default;
	Ring(const Ring &) = delete;
	Ring &operator=(const Ring &) = delete;
	~Ring();

	// Sets the queue pair up from opts (already validated): io_uring, or
	// epoll where io_uring is refused or not wanted (core/backend.cpp
	// chooses). 0 or -errno.
	int setup(const kio_ctx_opts &opts) noexcept;

	// KIO_BACKEND_IO_URING or KIO_BACKEND_EPOLL.
	int backend() const noexcept { return emu_ ? KIO_BACKEND_EPOLL : KIO_BACKEND_IO_URING; }
	// The kernel's io_uring (registered resources, fixed SQEs), not epoll's rings.
	bool is_uring() const noexcept { return !emu_; }

	// What differs per backend off the hot path: provided-buffer rings and
	// the eventfd the kernel signals for deferred completions (embedding).
	int register_buf_ring(io_uring_buf_reg *reg) noexcept;
	void unregister_buf_ring(uint16_t group) noexcept;
	int register_eventfd(int fd) noexcept;
	void unregister_eventfd() noexcept;

	bool supports(int opcode) const noexcept
	{
		return opcode >= 0 && opcode < 256 && (probe_[opcode / 64] >> (opcode % 64)) & 1;
	}
	// supports() for a constant opcode on the hot path: every kernel kio runs
	// on (5.11+, for IORING_FEAT_EXT_ARG) has the opcodes up to UNLINKAT, so
	// for those the test folds away.
	[[gnu::always_inline]] bool has_op(int opcode) const noexcept
	{
		return opcode <= IORING_OP_UNLINKAT || supports(opcode);
	}

	// The fd that turns readable when completions may be ready: the ring
	// fd, or the epoll backend's epoll fd.
	int fd() const noexcept { return ring_.ring_fd; }
	io_uring *raw() noexcept { return &ring_; }
	bool defer_taskrun() const noexcept { return setup_flags_ & IORING_SETUP_DEFER_TASKRUN; }
	// A kernel thread takes the SQEs (IORING_SETUP_SQPOLL): it may read
	// what an SQE points to at any time, not only inside enter().
	bool sq_thread() const noexcept { return setup_flags_ & IORING_SETUP_SQPOLL; }

	// A free SQE or nullptr when the SQ is full (the caller flushes).
	io_uring_sqe *try_get_sqe() noexcept
	{
		if (!sq_room()) {
			const io_uring_sq &sq = ring_.sq;
			sq_end_ = io_uring_smp_load_acquire(sq.khead) + sq.ring_entries;
			if (!sq_room())
				return nullptr;
		}
		io_uring_sqe *sqe = take_sqe();
		if (__builtin_expect(always_slow_, 0))
			sq_end_ = ring_.sq.sqe_tail;
		return sqe;
	}

	// From now on the SQ looks full to sq_room() after every SQE taken, so
	// the inline fast path of starting an op always declines and the slow
	// path runs instead: for fault injection (core/faults.hpp), where the
	// injection points are, for a ctx being destroyed and for an embedded
	// one. try_get_sqe() still sees the real room. This keeps the fast path
	// free of any test of its own for those cases.
	void force_slow_start() noexcept
	{
		always_slow_ = true;
		sq_end_ = ring_.sq.sqe_tail;
	}

	// Whether force_slow_start() was called (faults, embedded, destroying).
	bool forced_slow() const noexcept { return always_slow_; }

	// try_get_sqe() in two steps, for a caller that tests several things at
	// once. kio never sets up 128-byte SQEs, so an SQE is sqes[slot].
	// sq_room() looks at the kernel's head as last seen: it only moves
	// forward, so a stale value errs on the side of "full", and
	// try_get_sqe() refreshes it.
	bool sq_room() const noexcept
	{
		return ring_.sq.sqe_tail != sq_end_;
	}
	// sq_room() after a fresh look at the kernel's head: for the fast path,
	// whose view of the head is only refreshed by try_get_sqe() otherwise,
	// so with a stale view it would decline once per ring's worth of SQEs.
	// Still false after force_slow_start().
	bool refresh_sq_room() noexcept
	{
		if (always_slow_)
			return false;
		sq_end_ = io_uring_smp_load_acquire(ring_.sq.khead) + ring_.sq.ring_entries;
		return sq_room();
	}
	io_uring_sqe *take_sqe() noexcept
	{
		io_uring_sq &sq = ring_.sq;
		unsigned tail = sq.sqe_tail;
		sq.sqe_tail = tail + 1;
		io_uring_sqe *sqe = &sq.sqes[tail & sq.ring_mask];
		if (!sqe)
			__builtin_unreachable(); // lets callers drop their null test
		return sqe;
	}

	// SQEs taken so far (wraps at 2^32): the kernel issues them in this order.
	unsigned sq_tail() const noexcept { return ring_.sq.sqe_tail; }

	// SQEs filled but not yet handed to the kernel.
	unsigned unsubmitted() const noexcept { return ring_.sq.sqe_tail - ring_.sq.sqe_head; }

	// Whether the kernel has completions we have not seen: CQEs in the ring,
	// deferred task work, or an overflow backlog to flush.
	bool cq_ready() const noexcept { return io_uring_cq_ready(&ring_) > 0; }
	bool kernel_has_more() const noexcept
	{
		unsigned flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
		return flags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN);
	}
	// Without IORING_SETUP_TASKRUN_FLAG the kernel never raises
	// IORING_SQ_TASKRUN, so the loop has to ask instead of look.
	bool taskrun_flag() const noexcept { return setup_flags_ & IORING_SETUP_TASKRUN_FLAG; }

	// Submits what is queued and, if wait, waits for at least one completion
	// or until timeout_ns (relative; kNever-ish values mean no limit).
	// getevents forces a pass through the kernel's completion side.
	// Returns >= 0 or -errno; -ETIME, -EINTR and -EAGAIN are ordinary.
	// The common case (no SQPOLL, no timeout, rings enabled) is inline.
	int enter(bool wait, uint64_t timeout_ns, bool getevents) noexcept
	{
		if (__builtin_expect(slow_enter_ || (wait && timeout_ns < kEnterNoTimeout), 0))
			return enter_slow(wait, timeout_ns, getevents);
		unsigned to_submit = publish_sq();
		if (!to_submit && !wait && !getevents)
			return 0;
		enter_calls++;
		return sys_enter(to_submit, wait ? 1 : 0,
				 (wait || getevents) ? IORING_ENTER_GETEVENTS : 0, nullptr,
				 _NSIG / 8);
	}

	// enter(false, 0, true) that leaves the SQ alone: runs the kernel's
	// deferred completions without submitting what their callbacks
	// queued, so those go out together with the rest of the batch at the
	// round's next enter (a device then sees one group of reads, not a
	// straggler and the rest).
	int get_events() noexcept
	{
		if (__builtin_expect(slow_enter_, 0))
			return enter_slow(false, 0, true);
		enter_calls++;
		return sys_enter(0, 0, IORING_ENTER_GETEVENTS, nullptr, _NSIG / 8);
	}

	// The completion queue, read without liburing's helpers: the reap loop
	// keeps head and tail in registers and reads the kernel's tail once
	// per run of CQEs (lib/loop.cpp, reap_inline()).
	io_uring_cq &cq() noexcept { return ring_.cq; }

	// Completions the kernel dropped: its CQ overflow counter (the epoll
	// backend never drops one, its counter stays 0).
	unsigned cq_dropped() const noexcept { return IO_URING_READ_ONCE(*ring_.cq.koverflow); }

	uint64_t enter_calls = 0;
	uint64_t sqes_submitted = 0; // SQEs published to the kernel's view of the SQ

	// Whether io_uring_enter() names the ring by its registered index
	// (IORING_REGISTER_RING_FDS): the kernel then skips looking the fd up.
	bool ring_registered() const noexcept { return enter_flags_ != 0; }

private:
	// kNever of clock.hpp: a timeout that large means none.
	static constexpr uint64_t kEnterNoTimeout = UINT64_MAX;

	int setup_uring(const kio_ctx_opts &opts) noexcept;
	int setup_epoll(const kio_ctx_opts &opts) noexcept;
	int enable_if_needed() noexcept;
	void register_ring_fd() noexcept;
	void unregister_ring_fd() noexcept;
	[[gnu::noinline]] int enter_slow(bool wait, uint64_t timeout_ns, bool getevents) noexcept;
	int enter_uring_slow(bool wait, uint64_t timeout_ns, bool getevents) noexcept;

	// Hands the filled SQEs to the kernel's view of the SQ (one release
	// store of the tail) and returns how many it has not consumed yet.
	unsigned publish_sq() noexcept
	{
		io_uring_sq &sq = ring_.sq;
		unsigned tail = sq.sqe_tail;
		if (sq.sqe_head != tail) {
			sqes_submitted += tail - sq.sqe_head;
			sq.sqe_head = tail;
			io_uring_smp_store_release(sq.ktail, tail);
		}
		return tail - *sq.khead;
	}

	// io_uring_enter(2); never touches errno (kio's callers keep theirs).
	int sys_enter(unsigned to_submit, unsigned min_complete, unsigned flags, const void *arg,
		      size_t argsz) noexcept;

	io_uring ring_{};
	bool inited_ = false;
	bool disabled_ = false; // created IORING_SETUP_R_DISABLED: enabled by the first enter
	bool slow_enter_ = false; // disabled_ or SQPOLL: enter() takes enter_slow()
	bool no_sq_wait_ = false; // the kernel refused IORING_ENTER_SQ_WAIT
	bool always_slow_ = false; // force_slow_start() was called
	unsigned setup_flags_ = 0;
	unsigned sq_end_ = 0; // the SQ tail value at which the SQ is full
	// What io_uring_enter() is given: the ring fd, or (enter_flags_ =
	// IORING_ENTER_REGISTERED_RING) its index among the registered rings of
	// the one thread that may enter it (a SINGLE_ISSUER ring's).
	int enter_fd_ = -1;
	unsigned enter_flags_ = 0;
	const void *registered_by_ = nullptr; // that thread (register_ring_fd())
	uint64_t probe_[4] = {};
	epoll::Backend *emu_ = nullptr; // the epoll backend serves ring_; else the kernel
};

#if defined(__x86_64__)
// The system call itself, as liburing makes it on x86-64: no PLT hop and no
// errno to save and restore around it.
inline int Ring::sys_enter(unsigned to_submit, unsigned min_complete, unsigned flags,
			   const void *arg, size_t argsz) noexcept
{
	long ret;
	// Every operand is read into a plain local first: a register variable
	// holds its register only up to the next call, and a compiler that
	// instruments memory reads (gcc's -fsanitize=thread) puts a call
	// between the register variable's assignment and the asm.
	long fd = enter_fd_, a4 = long(flags | enter_flags_), a5 = long(arg), a6 = long(argsz);
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	// The number goes in as an immediate: as an input operand the compiler
	// hoists it into a register of its own for the whole loop, one fewer
	// for the reap loop around it.
	__asm__ volatile("movl %[nr], %%eax\n\tsyscall"
			 : "=&a"(ret)
			 : [nr] "i"(__NR_io_uring_enter), "D"(fd),
			   "S"(long(to_submit)), "d"(long(min_complete)), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return int(ret);
}
#else
inline int Ring::sys_enter(unsigned to_submit, unsigned min_complete, unsigned flags,
			   const void *arg, size_t argsz) noexcept
{
	// liburing returns -errno; where it goes through libc's syscall() it
	// also sets errno, which only happens on failure.
	int saved_errno = errno;
	int rc = io_uring_enter2(enter_fd_, to_submit, min_complete, flags | enter_flags_,
				 static_cast<sigset_t *>(const_cast<void *>(arg)), argsz);
	if (rc < 0)
		errno = saved_errno;
	return rc;
}
#endif

} // namespace kio
