// SPDX-License-Identifier: MIT
// The io_uring instance of a context: setup with feature fallback, the
// opcode probe, SQE allocation, and the one place that calls io_uring_enter.
#pragma once

#include <cstdint>
#include <ctime>

#include <liburing.h>

#include <kio/context.h>

namespace kio {

// Opcodes newer than liburing 2.3's headers, filled by hand.
inline constexpr int kOpFtruncate = 55; // Linux 6.9

class Ring {
public:
	Ring() = default;
	Ring(const Ring &) = delete;
	Ring &operator=(const Ring &) = delete;
	~Ring();

	// Sets the ring up from opts (already validated). 0 or -errno.
	int setup(const kio_ctx_opts &opts) noexcept;

	bool supports(int opcode) const noexcept
	{
		return opcode >= 0 && opcode < 256 && (probe_[opcode / 64] >> (opcode % 64)) & 1;
	}

	int fd() const noexcept { return ring_.ring_fd; }
	io_uring *raw() noexcept { return &ring_; }
	bool defer_taskrun() const noexcept { return setup_flags_ & IORING_SETUP_DEFER_TASKRUN; }

	// A free SQE or nullptr when the SQ is full (the caller flushes).
	io_uring_sqe *try_get_sqe() noexcept { return io_uring_get_sqe(&ring_); }

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
	int enter(bool wait, uint64_t timeout_ns, bool getevents) noexcept;

	// The completion queue, read without liburing's helpers so a whole batch
	// is consumed with one store to the head.
	io_uring_cq &cq() noexcept { return ring_.cq; }

	uint64_t enter_calls = 0;

private:
	int enable_if_needed() noexcept;

	io_uring ring_{};
	bool inited_ = false;
	bool disabled_ = false; // created IORING_SETUP_R_DISABLED: enabled by the first enter
	unsigned setup_flags_ = 0;
	uint64_t probe_[4] = {};
};

} // namespace kio
