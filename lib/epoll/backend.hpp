// SPDX-License-Identifier: MIT
// The epoll backend: where io_uring is not allowed (container seccomp
// profiles, kernel.io_uring_disabled, old kernels), kio serves the queue
// pair itself. Its rings live in user memory with io_uring's layout, so
// the core fills SQEs and reaps CQEs exactly as it does on the kernel's
// rings; what the kernel would do with an SQE, enter() does here:
//
//   socket-like ops   a non-blocking call; on EAGAIN the op parks on its
//                     fd until epoll reports it ready, then tries again
//                     (readiness.cpp, calls.cpp)
//   file ops          a page-cache attempt first (RWF_NOWAIT), then a
//                     small thread pool for what may block (workers.cpp)
//   cancels           parked and queued ops end at once with -ECANCELED;
//                     a call already running on the pool finishes
//
// Completions reach the CQ only inside enter(), so callbacks still run
// only in the loop. Nothing here allocates per op once the tables have
// grown to the program's working size: op records sit beside the op
// table's slots, completions that find the CQ full wait in an intrusive
// list, jobs are reused.
#pragma once

#include <cstdint>
#include <vector>

#include <sys/epoll.h>

#include <liburing.h>

#include <kio/context.h>

#include "core/mapping.hpp"

namespace kio::epoll {

inline constexpr uint32_t kNone = UINT32_MAX;
// The link of kio's own read on its wake eventfd (user_data kUdWake): it
// has no op slot, so it has a record of its own.
inline constexpr uint32_t kWakeLink = UINT32_MAX - 1;
// The epoll data of the pool's eventfd; every other entry carries its fd.
inline constexpr uint64_t kTagWorkers = UINT64_MAX;
// user_data values with the top bit set are kio's own SQEs (core/ctx.hpp).
inline constexpr uint64_t kInternal = uint64_t(1) << 63;
// What an fd kio knows nothing of counts as: ready, so the first op tries
// its call before it parks.
inline constexpr uint32_t kUnknownReady = EPOLLIN | EPOLLOUT | EPOLLPRI;

struct Job; // workers.hpp

enum class State : uint8_t {
	Idle,   // no op (or its CQE was written)
	Parked, // waits in an fd's queue for readiness
	Pool,   // queued or running on the thread pool
	Queued, // its final completion waits for room in the CQ
};

// Record::flags
enum : uint8_t {
	kRecStream = 1 << 0,     // a read or write met a stream: no offsets
	kRecNoNowait = 1 << 1,   // the file refuses RWF_NOWAIT: plain calls after readiness
	kRecConnecting = 1 << 2, // connect() said EINPROGRESS: SO_ERROR has the outcome
	kRecCross = 1 << 3,      // parked on an fd other than sqe.fd (a splice's input)
};

// One per op slot of the core's op table (same index), plus the wake read.
struct alignas(64) Record {
	io_uring_sqe sqe; // the op as submitted; sqe.user_data is its op id
	uint64_t done;    // bytes moved so far (MSG_WAITALL, a file read finished on the pool)
	Job *job;         // State::Pool
	uint32_t next;    // the queue it is parked in (its fd's, or the cross list)
	uint32_t prev;
	uint32_t cnext;   // the completion FIFO (State::Queued)
	int32_t res;      // State::Queued: its result
	uint32_t cflags;  // State::Queued: its CQE flags
	uint32_t want;    // State::Parked: the epoll events it waits for
	int32_t wait_fd;  // State::Parked: the fd whose queue holds it
	State state;
	uint8_t flags;
};

// What kio knows of one fd number. The registration with epoll is
// persistent and edge-triggered; `ready` caches the edges seen and is
// cleared by EAGAIN, so an op whose fd is known not to be ready parks
// without a system call. A registration is trusted only while something
// stays parked on the fd: once nothing is, the program may close the fd
// and get the number back for another file, so the next op that parks
// checks it with EPOLL_CTL_MOD first (ENOENT: add it again).
struct FdState {
	uint32_t head = kNone; // parked records, oldest first
	uint32_t tail = kNone;
	uint32_t parked = 0;
	uint32_t mask = 0;    // events registered; 0: not registered
	uint32_t ready = kUnknownReady; // events seen and not used up yet
	bool trusted = false; // registration checked while something stayed parked
	bool dirty = false;   // in Backend::dirty_: waiters to run at the next enter
	int8_t stream = -1;   // a SOCK_STREAM socket: 1, not: 0, not asked yet: -1
};

// A provided-buffer ring registered for a group (kio_buf_ring_create()).
struct BufGroup {
	io_uring_buf_ring *br;
	uint32_t entries;
	uint16_t group;
	uint16_t head; // the next entry to hand out
};

class Workers;

// What one attempt at an op came to.
struct Step {
	enum Kind : uint8_t {
		Done,  // the final result
		More,  // a result of a multishot op; it goes on
		Again, // not ready: park until epoll reports `want`
		Block, // the call could block: hand it to the pool
	} kind;
	int32_t res = 0;
	uint32_t flags = 0; // IORING_CQE_F_* (Done, More)
	uint32_t want = 0;  // Again: epoll events
	int fd = -1;        // Again: the fd to wait on (-1: sqe.fd)
};

class Backend {
public:
	// Sets up the queue pair in *ring from opts (sq_entries, cq_entries)
	// and marks in probe the opcodes served. nullptr with *err set.
	static Backend *create(const kio_ctx_opts &opts, io_uring *ring, uint64_t probe[4],
			       int *err) noexcept;
	~Backend();
	Backend(const Backend &) = delete;
	Backend &operator=(const Backend &) = delete;

	// io_uring_enter's part: takes the submitted SQEs, then, if wait and
	// no CQE is ready, waits for readiness or a finished job up to
	// timeout_ns (kNever: no limit). Returns >= 0 or -errno (-EINTR, -ETIME
	// are ordinary). *enters counts the calls (kio_stats.enter_calls).
	int enter(bool wait, uint64_t timeout_ns, bool getevents, uint64_t *enters) noexcept;

	// IORING_REGISTER_PBUF_RING and its undoing: 0, -EEXIST or -ENOMEM.
	int register_buf_ring(const io_uring_buf_reg &reg) noexcept;
	void unregister_buf_ring(uint16_t group) noexcept;

	// --- used by the op attempts (calls.cpp) and the readiness code ---
	// The state of fd (>= 0), or nullptr with *err: -EBADF for an fd past
	// the table that is not open (the table grows only for open fds, not
	// to the size of whatever number a caller passes), -ENOMEM.
	FdState *fd_state(int fd, int *err) noexcept
	{
		if (__builtin_expect(size_t(fd) >= fds_.size(), 0))
			return grow_fds(fd, err);
		return &fds_[size_t(fd)];
	}
	BufGroup *buf_group(uint16_t group) noexcept;
	// Whether a multishot op may post one more CQE now.
	bool cq_room() const noexcept;
	// The fd is closed, or its number names a new file (an accept, a
	// socket, an open): what was known of the old one no longer holds.
	void forget_fd(int fd) noexcept;

private:
	Backend() = default;
	int init(const kio_ctx_opts &opts, io_uring *ring) noexcept;

	Record &rec(uint32_t link) noexcept { return link == kWakeLink ? wake_ : recs_.data()[link]; }
	void grow_records(uint32_t idx);
	[[gnu::noinline]] FdState *grow_fds(int fd, int *err) noexcept;

	// Submission.
	void take_sqes() noexcept;
	void submit(const io_uring_sqe &sqe) noexcept;
	void start(uint32_t link) noexcept;
	void drive(uint32_t link) noexcept;
	void cancel(const io_uring_sqe &sqe) noexcept;
	bool cancel_one(uint32_t link) noexcept;

	// Completion.
	void post_cqe(uint64_t ud, int32_t res, uint32_t flags) noexcept;
	void complete(uint32_t link, int32_t res, uint32_t flags) noexcept;
	void flush_fifo() noexcept;
	void reap_jobs() noexcept;
	bool wait_pipe(uint32_t link) noexcept;

	// Readiness (readiness.cpp).
	int park(uint32_t link, int fd, uint32_t want) noexcept;
	void unpark(uint32_t link) noexcept;
	void on_event(int fd, uint32_t events) noexcept;
	void run_waiters(int fd) noexcept;
	int ctl(int fd, FdState &f, uint32_t mask) noexcept;
	void mark_dirty(int fd) noexcept;
	void run_dirty() noexcept;

	// The thread pool.
	void to_pool(uint32_t link) noexcept;

	int epfd_ = -1;
	Workers *workers_ = nullptr; // its threads start on the first job
	uint32_t jobs_ = 0;          // ops on the pool (queued or running)

	// The rings, in user memory with the kernel's layout.
	struct Shared {
		unsigned sq_head, sq_tail, sq_flags, sq_dropped;
		unsigned cq_head, cq_tail, cq_flags, cq_overflow;
	} sh_{};
	unsigned sq_mask_ = 0, sq_entries_ = 0, cq_mask_ = 0, cq_entries_ = 0;
	std::vector<io_uring_sqe> sqes_;
	std::vector<io_uring_cqe> cqes_;
	std::vector<unsigned> sq_array_;

	PageArray<Record> recs_;
	uint32_t nrecs_ = 0;
	Record wake_{};

	uint32_t fifo_head_ = kNone; // final completions that found the CQ full
	uint32_t fifo_tail_ = kNone;
	uint32_t cross_ = 0;         // records parked on an fd other than their sqe.fd
	unsigned busy_skips_ = 0;    // enters in a row that skipped epoll_wait for ready CQEs
	bool grow_failed_ = false;   // the records could not grow: enter() says -ENOMEM

	std::vector<FdState> fds_;
	std::vector<int> dirty_;
	std::vector<BufGroup> groups_;

};

// One attempt at op r (calls.cpp): the non-blocking call its SQE describes.
Step attempt(Backend &b, Record &r) noexcept;
// The final result of a poll on a file epoll refuses to watch (calls.cpp).
int32_t poll_unwatchable(const io_uring_sqe &s) noexcept;

} // namespace kio::epoll
