// SPDX-License-Identifier: MIT
// struct kio_ctx and the loop's internal interface, shared by the .cpp
// files that implement the C API. Private: never installed.
#pragma once

#include <atomic>
#include <memory>
#include <cstdint>
#include <mutex>
#include <vector>

#include <kio/kio.h>

#include "core/clock.hpp"
#include "core/guard.hpp"
#include "core/handle.hpp"
#include "core/obs.hpp"
#include "core/op_table.hpp"
#include "core/probes.hpp"
#include "core/ring.hpp"
#include "core/timer_wheel.hpp"
#include "core/wake_timer.hpp"

namespace kio {

// user_data values with the top bit set are kio's own SQEs; every other
// value is the op id of a user op.
inline constexpr uint64_t kInternal = uint64_t(1) << 63;
inline constexpr uint64_t kUdWake = kInternal | 1;   // the read on wake_fd
inline constexpr uint64_t kUdIgnore = kInternal | 2; // cancel requests whose CQE says nothing new
// A cancel of one op (kio_op_cancel, a timeout): the low 32 bits are its
// slot. Its CQE is read: -ENOENT while the op still lives means the kernel
// was between two steps of it (a poll woken, its retry queued), so the
// cancel is sent again; kernels before about 6.6 lose it there otherwise.
inline constexpr uint64_t kUdCancel = kInternal | (uint64_t(1) << 62);
// The loop's wake-up timer (core/wake_timer.hpp): | its generation.
inline constexpr uint64_t kUdWakeTimer = kInternal | kWakeTimerBit;
inline constexpr uint64_t kUdWakeTimerUpd = kInternal | kWakeTimerUpdBit;

// A completion decided outside the CQ (timers, fallbacks) or a CQE parked
// while a callback was flushing the SQ. Delivered in order by the loop.
struct Ready {
	uint32_t idx;
	int32_t res;
	uint32_t flags; // KIO_F_*; KIO_F_MORE keeps the op alive
};

// kio_ctx::posts_due bits.
enum : uint8_t {
	kPostsWake = 1,
	kPostsLocal = 2,
};

struct Post {
	kio_cb cb;
	void *user_data;
};

// An internal cross-thread completion (a pool job's result): intrusive, so
// handing it to the loop can never fail for lack of memory.
struct PostNode {
	PostNode *next;
	kio_cb cb;
	void *user_data;
};

struct NetState; // defined by the networking code
struct Faults;   // core/faults.hpp
struct FaultsDeleter {
	void operator()(Faults *f) const noexcept; // core/faults.cpp
};
struct FixedBufs; // ops/fixed.cpp
struct FixedBufsDeleter {
	void operator()(FixedBufs *f) const noexcept; // ops/fixed.cpp
};
struct RegFiles; // ops/files.hpp
struct RegFilesDeleter {
	void operator()(RegFiles *f) const noexcept; // ops/files.cpp
};

// The calling thread, as an address unique to it: a thread-local byte's.
// initial-exec: one fs-relative address and no call; the byte fits the
// static TLS space glibc keeps even for a library loaded with dlopen().
inline const void *this_thread() noexcept
{
	__attribute__((tls_model("initial-exec"))) static thread_local char marker;
	return &marker;
}

} // namespace kio

struct kio_ctx {
	kio::Ring ring;
	kio::OpTable ops;
	kio::TimerWheel timers;

	// Completions to deliver; `ready` fills while `ready_work` is delivered,
	// so a callback that queues more never extends the batch it runs in.
	std::vector<kio::Ready> ready;
	std::vector<kio::Ready> ready_work;
	// Set when a CQE had to be parked in `ready`: from then on every CQE is
	// parked until the queue drains, so one op's CQEs keep their order.
	bool parking = false;
	// The CQ tail as last read by the reap loop: it delivers CQEs up to
	// here before it looks at the kernel's tail (or at `parking`) again.
	// Whatever starts parking pulls it back to the CQE being delivered,
	// which makes the loop look at once.
	unsigned reap_end = 0;

	// SQEs started while no thread runs the ctx yet and the SQ is full
	// (get_sqe()): moved to the ring by the first run, or by destroy.
	std::vector<io_uring_sqe> pre_run;

	// Kernel ops pending per fd, for kio_cancel_fd(); grows to the highest fd.
	std::vector<uint32_t> fd_inflight;
	// Op ids whose cancel the kernel answered -ENOENT while they lived (loop.cpp).
	std::vector<int64_t> recancel;

	uint32_t live = 0;        // user ops whose final callback has not run
	uint32_t ready_room = 0;  // live may grow to this before reserve_ready(); >= ops.slots()
	uint32_t in_user = 0;     // live ops of the other kinds (in_kernel() = live - in_user)
	uint32_t in_external = 0; // user ops of Kind::External (pool jobs)
	uint32_t pipe_writes = 0; // of those, ops that could raise SIGPIPE
	void *sigpipe_holder = nullptr; // the thread hold (sigpipe.cpp) pipe_writes count in
	bool in_run = false;
	bool read_nowait = false; // KIO_CTX_READ_NOWAIT (ops/read_nowait.cpp)
	// fds below it may be registered files (ops/files.hpp); 0 unless files
	// are registered on io_uring, so the file ops test one value.
	uint32_t files_end = 0;
	// The thread that runs the ctx: the first to call kio_ctx_run() or
	// kio_ctx_run_once(). Until then (nullptr) any thread may start ops,
	// to hand the ctx over; from then on only this one (kio(7)).
	const void *owner = nullptr;
	bool destroying = false;
	bool destroy_deferred = false; // kio_ctx_destroy() called from a callback

	// Cross-thread wake-up: a read on an eventfd always armed in the ring.
	int wake_fd = -1;
	uint64_t wake_buf = 0;
	bool wake_armed = false;
	// Posts to run (loop thread only), one byte so the round tests it once:
	// kPostsWake, the wake-up read completed; kPostsLocal, the loop's own
	// thread posted and wrote no eventfd (post.cpp), so the loop must not
	// wait before running them.
	uint8_t posts_due = 0;
	// A kernel timeout at or before the wheel's nearest deadline, so calm
	// rounds wait without one of their own (io_uring; core/wake_timer.hpp).
	kio::WakeTimer wake_timer;
	std::atomic<bool> woken{false};
	std::atomic<bool> stop_requested{false};

	std::mutex post_mu;
	std::vector<kio::Post> posts;      // guarded by post_mu
	std::vector<kio::Post> posts_work; // loop thread only
	kio::PostNode *nodes_head = nullptr; // guarded by post_mu
	kio::PostNode *nodes_tail = nullptr; // guarded by post_mu
	bool wake_signalled = false;       // guarded by post_mu: eventfd already written
	bool posts_closed = false;         // guarded by post_mu
	std::atomic<uint32_t> posts_queued{0};

	// Embedding (kio_ctx_fd): an epoll set of ring fd, wake_fd and a timerfd
	// carrying the nearest deadline. Created on first use.
	int epoll_fd = -1;
	int timer_fd = -1;
	int notify_fd = -1; // eventfd registered with the ring: completions
	uint64_t timer_armed = 0; // absolute deadline armed in timer_fd; 0: disarmed
	bool kicked = false;

	// Fault injection (core/faults.hpp), nullptr unless KIO_FAULTS asked for
	// it. Tested once per loop round and only on slow paths elsewhere.
	std::unique_ptr<kio::Faults, kio::FaultsDeleter> faults;

	// kio_register_buffers() (ops/fixed.cpp); nullptr until first used.
	std::unique_ptr<kio::FixedBufs, kio::FixedBufsDeleter> fixed;
	// Registered-buffer ops whose callback has not run (Op state kFixedIO):
	// kio_unregister_buffers() refuses while any is in flight.
	uint32_t fixed_inflight = 0;

	kio_stats stats{};
	kio::Obs obs; // time accounting, overflows, the cross-thread copy (core/obs.hpp)
	uint64_t cq_overflow_logged = 0; // mono_ns() of the last CQ overflow warning

	// Networking state (buffer rings, the pipe pool of kio_sendfile()),
	// created on first use by net code; freed by net_teardown().
	kio::NetState *net = nullptr;

	// kio_register_files() (ops/files.cpp); nullptr until first used. Here,
	// past the fields the op path reads, so they keep their offsets.
	std::unique_ptr<kio::RegFiles, kio::RegFilesDeleter> files;

	// Poisoned by kio_ctx_destroy (core/handle.hpp). Far from the start of
	// the object, where the allocator keeps its free-list links.
	kio::HandleTag tag = kio::HandleTag::Ctx;
};

namespace kio {

// loop.cpp
// One round of the loop; from_run: called by kio_ctx_run(), which consumes
// stop requests itself.
int run_once(kio_ctx *c, int64_t timeout_ns, bool from_run);
int arm_wake(kio_ctx *c);
int issue_cancel(kio_ctx *c, uint32_t idx) noexcept;
void expire_timers(kio_ctx *c, uint64_t now);

// The checks every op makes before anything else.
// Called from a thread that does not run ctx, once one does: a misuse
// that would corrupt the op table (only post, stop and wake are
// thread-safe), refused with -EPERM.
inline bool foreign_thread(const kio_ctx *c) noexcept
{
	return __builtin_expect(c->owner != this_thread(), 0) && c->owner != nullptr;
}

void sigpipe_rehome(kio_ctx *c) noexcept; // sigpipe.cpp
// Moves the SQEs kept while nobody ran ctx to the ring (loop.cpp): 0, or the
// kernel's refusal (what is left is moved by the next get_sqe()).
int move_pre_run(kio_ctx *c) noexcept;

// Running ctx: the first thread to do it owns ctx; any other gets -EPERM.
inline int claim(kio_ctx *c) noexcept
{
	const void *me = this_thread();
	if (__builtin_expect(c->owner == me, 1))
		return 0;
	if (c->owner)
		return -EPERM;
	// Atomic: kio_ctx_post() reads it from any thread (post.cpp).
	__atomic_store_n(&c->owner, me, __ATOMIC_RELAXED);
	if (__builtin_expect(c->pipe_writes > 0, 0))
		sigpipe_rehome(c);
	if (__builtin_expect(!c->pre_run.empty(), 0))
		move_pre_run(c);
	return 0;
}

inline int begin_check(kio_ctx *c, kio_cb cb) noexcept
{
	if (!c || !cb)
		return -EINVAL;
	if (foreign_thread(c))
		return -EPERM;
	if (c->destroying)
		return -ESHUTDOWN;
	return 0;
}

void note_started(kio_ctx *c, uint32_t idx) noexcept;
void reserve_ready(kio_ctx *c);
void grow_fd_table(kio_ctx *c, int fd);
io_uring_sqe *get_sqe(kio_ctx *c, int *err);
// An op whose result res is known already, delivered by the loop. The
// caller has passed begin_check(), as the timer start's has (core/time.cpp).
int64_t start_deferred(kio_ctx *c, kio_cb cb, void *user_data, int32_t res);

// Ops with a Hook (see op_table.hpp).
// Delivers a completion of op idx to its user callback: the final one
// (flags without KIO_F_MORE) ends the op and frees its slot.
void complete_op_final(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags);
inline void complete_op(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	if (flags & KIO_F_MORE) {
		Op &op = c->ops.at(idx);
		// Copy out first: the callback may grow the table and move op.
		kio_cb cb = op.cb;
		cb(op.user_data, res, flags & ~kFlagNotif);
		return;
	}
	complete_op_final(c, idx, res, flags);
}
// An SQE for the next step of a Kernel op that is already started: tagged
// with its id, so cancel and timeout reach whichever step is in flight.
// nullptr with *err set when the kernel refuses more work.
io_uring_sqe *step_sqe(kio_ctx *c, uint32_t idx, int *err);
// Asks op idx to end (kio_op_cancel(), an expired timeout, destroy).
int cancel_op(kio_ctx *c, uint32_t idx) noexcept;
// Starts a Kernel op with a hook and returns its id; the caller fills sqe.
// Same checks as start_kernel(). May throw std::bad_alloc.
int64_t start_hooked(kio_ctx *c, kio_cb cb, void *user_data, int opcode, int track_fd, bool pipe_write,
		     const Hook *hook, void *ext, io_uring_sqe **sqe_out);
// Starts an External op (runs outside the ring, e.g. on a pool thread).
// Its hook ends it with complete_op() on the ctx thread. May throw.
int64_t start_external(kio_ctx *c, kio_cb cb, void *user_data, const Hook *hook, void *ext);
// Thread-safe: queues n->cb(n->user_data, res, 0) to run on the ctx
// thread, even while the ctx is being destroyed (res is then -ECANCELED: a
// completion that carries its own result ignores res). Never fails; n stays
// the caller's and must live until its callback ran. One eventfd write per
// batch of posts.
void post_node(kio_ctx *c, PostNode *n) noexcept;

// net code: frees c->net (rings, pipes) at destroy, after every op ended.
void net_teardown(kio_ctx *c) noexcept;

// sigpipe.cpp
void sigpipe_hold(kio_ctx *c) noexcept;
void sigpipe_release(kio_ctx *c) noexcept;

// embed.cpp
void embed_kick(kio_ctx *c) noexcept;
void embed_rearm(kio_ctx *c) noexcept;
void embed_reset_notify(kio_ctx *c) noexcept;
void embed_close(kio_ctx *c) noexcept;

// post.cpp
int run_posts(kio_ctx *c, int32_t res);
// Raises request (stop, wake) and wakes the loop; thread-safe.
void signal_wake(kio_ctx *c, std::atomic<bool> &request) noexcept;

} // namespace kio

namespace kio {

// Arms, moves or disarms op idx in the timer wheel after its deadlines
// changed; now: the monotonic time, or 0 if the caller has not read it.
// May throw std::bad_alloc.
inline void rekey(kio_ctx *c, uint32_t idx, uint64_t now)
{
	Op &op = c->ops.at(idx);
	uint64_t key = timer_key(op);
	if (key == kNever) {
		c->timers.remove(c->ops, idx);
	} else {
		c->timers.set(c->ops, idx, key, now);
		op.state |= kTimed; // op is still valid: the wheel does not move the table
	}
}

// Live ops of Kind::Kernel.
inline uint32_t in_kernel(const kio_ctx *c) noexcept
{
	return c->live - c->in_user;
}

// Every started op counts in ops_submitted and live until its final
// callback, so the completed count needs no counter of its own.
inline uint64_t ops_completed(const kio_ctx *c) noexcept
{
	return c->stats.ops_submitted - c->live;
}

// Counts op idx as started and gives it its generation (op_table.hpp).
inline void note_started(kio_ctx *c, uint32_t idx) noexcept
{
	c->live++;
	c->ops.at(idx).gen = OpTable::gen_of(++c->stats.ops_submitted);
	if (c->live > c->stats.ops_max_inflight)
		c->stats.ops_max_inflight = c->live;
	if (__builtin_expect(c->epoll_fd >= 0, 0))
		embed_kick(c);
}

// The SQ was full: flush it, or give the slot back and fail.
[[gnu::noinline, gnu::cold]] io_uring_sqe *get_sqe_slow(kio_ctx *c, uint32_t idx, int *err);

// A started kernel op: its id and the SQE to fill, or (sqe == nullptr) the
// error in id. Two registers, so the fast path keeps both out of memory.
struct Started {
	int64_t id;
	io_uring_sqe *sqe;
};

// start_op() for every case its inline fast path leaves out: a table or
// queue to grow, a full SQ, the first pipe write, an embedded ctx, a
// destroyed one. May throw std::bad_alloc.
[[gnu::noinline, gnu::cold]] Started start_op_slow(kio_ctx *c, kio_cb cb, void *user_data,
						   int opcode, int track_fd, bool pipe_write);

// The fast path of starting a kernel op: a slot, room for its completion,
// an SQE. Forced inline into each wrapper, where the fd and pipe arguments
// are constants and their branches fold away. It makes no call: anything
// unusual returns {0, nullptr}, "take start_op_slow()"; bad arguments
// return {-EINVAL, nullptr}.
[[gnu::always_inline]] inline Started start_op_fast(kio_ctx *c, kio_cb cb, void *user_data,
						    int opcode, int track_fd, bool pipe_write)
{
	if (__builtin_expect(!c || !cb, 0))
		return {-EINVAL, nullptr};
	// Not from the thread that runs ctx (or before any ran it): the slow
	// path tells which.
	if (__builtin_expect(c->owner != this_thread(), 0))
		return {0, nullptr};
	// A free slot also means room in the ready queues (reserve_ready()).
	if (__builtin_expect(!c->ops.has_free(), 0))
		return {0, nullptr};
	// Also false for good once the ctx is destroying, embedded
	// (kio_ctx_fd() must hear of new work) or injecting faults: each of
	// them calls Ring::force_slow_start(), so this one test covers them.
	if (__builtin_expect(!c->ring.sq_room(), 0) && !c->ring.refresh_sq_room())
		return {0, nullptr};
	if (__builtin_expect(!c->ring.has_op(opcode), 0))
		return {0, nullptr};
	if (track_fd >= 0 && __builtin_expect(size_t(track_fd) >= c->fd_inflight.size(), 0))
		return {0, nullptr};
	if (pipe_write && __builtin_expect(c->pipe_writes == 0, 0))
		return {0, nullptr};
	uint32_t idx = c->ops.pop_free();
	io_uring_sqe *sqe = c->ring.take_sqe();
	Op &op = c->ops.at(idx);
	op.cb = cb;
	op.user_data = user_data;
	op.kind = Kind::Kernel;
	if (track_fd >= 0) {
		op.fd = track_fd;
		op.state = kTracksFd; // a free slot has no state bits
		c->fd_inflight[size_t(track_fd)]++;
	}
	if (pipe_write) {
		op.state |= kPipeWrite;
		c->pipe_writes++; // never the first: that one went the slow way
	}
	op.sq_pos = c->ring.sq_tail(); // its place in the SQ (op_table.hpp)
	uint32_t live = ++c->live;
	uint32_t gen = OpTable::gen_of(++c->stats.ops_submitted);
	op.gen = gen;
	if (live > c->stats.ops_max_inflight)
		c->stats.ops_max_inflight = live;
	int64_t id = int64_t((uint64_t(gen) << 32) | c->ops.tag_bits() | idx);
	KIO_PROBE_OP_START(c, id, user_data, opcode);
	return {id, sqe};
}

// Starts a kernel op: its id and the SQE to fill, or {-errno, nullptr}.
// May throw std::bad_alloc (callers run inside guard()).
[[gnu::always_inline]] inline Started start_op(kio_ctx *c, kio_cb cb, void *user_data, int opcode,
					       int track_fd, bool pipe_write)
{
	Started s = start_op_fast(c, cb, user_data, opcode, track_fd, pipe_write);
	if (__builtin_expect(!s.sqe && s.id == 0, 0))
		s = start_op_slow(c, cb, user_data, opcode, track_fd, pipe_write);
	return s;
}

// start_op() with the SQE through an out parameter: a negated errno, or
// the op's id with *sqe_out set (its user_data is the caller's to fill).
[[gnu::always_inline]] inline int64_t start_kernel(kio_ctx *c, kio_cb cb, void *user_data,
						   int opcode, int track_fd, bool pipe_write,
						   io_uring_sqe **sqe_out)
{
	Started s = start_op(c, cb, user_data, opcode, track_fd, pipe_write);
	if (s.sqe)
		*sqe_out = s.sqe;
	return s.id;
}

// start_op_slow() behind the exception barrier: out of line and noexcept.
[[gnu::noinline, gnu::cold]] Started start_op_slow_noexcept(kio_ctx *c, kio_cb cb, void *user_data,
							    int opcode, int track_fd,
							    bool pipe_write) noexcept;

// submit() when start_op_fast() declined. Out of line, with prep taken by
// value: a wrapper whose prep captures by value ([=]) then keeps its
// arguments in registers, and the inline path needs no stack frame.
// Fault injection: maybe shortens the length of a read/write-type SQE just
// filled by an op wrapper (core/faults.cpp). Only called with c->faults set.
void faults_prepped(kio_ctx *c, io_uring_sqe *sqe) noexcept;

template <typename Prep>
[[gnu::noinline, gnu::cold]] int64_t submit_slow(kio_ctx *c, kio_cb cb, void *user_data, int opcode,
						 int track_fd, bool pipe_write, Prep prep) noexcept
{
	Started s = start_op_slow_noexcept(c, cb, user_data, opcode, track_fd, pipe_write);
	if (!s.sqe)
		return s.id;
	prep(s.sqe);
	s.sqe->user_data = uint64_t(s.id);
	if (__builtin_expect(c->faults != nullptr, 0))
		faults_prepped(c, s.sqe);
	return s.id;
}

// The common shape of a kernel op: argument checks done by the caller,
// then reserve a slot and an SQE, let prep fill the SQE, tag it with the id.
// prep must not throw. (submit_file_op() in ops/files.hpp repeats these
// steps for the ops that honour registered files: change both.)
template <typename Prep>
[[gnu::always_inline]] inline int64_t submit(kio_ctx *c, kio_cb cb, void *user_data, int opcode,
					     int track_fd, bool pipe_write, Prep &&prep) noexcept
{
	Started s = start_op_fast(c, cb, user_data, opcode, track_fd, pipe_write);
	if (__builtin_expect(!s.sqe, 0)) {
		if (s.id < 0)
			return s.id;
		return submit_slow(c, cb, user_data, opcode, track_fd, pipe_write, prep);
	}
	prep(s.sqe);
	s.sqe->user_data = uint64_t(s.id);
	return s.id;
}

// A call the kernel interrupted: -EINTR, or one of the restart codes
// (ERESTARTSYS..ERESTART_RESTARTBLOCK, 512..516) a cancelled io-wq call
// can leak into its CQE.
inline bool interrupted(int32_t res) noexcept
{
	return res == -EINTR || (res <= -512 && res >= -516);
}

// Offsets: KIO_OFFSET_CURRENT, or a value the kernel's loff_t can hold.
inline bool offset_ok(uint64_t off) noexcept
{
	return off == KIO_OFFSET_CURRENT || off <= uint64_t(INT64_MAX);
}

} // namespace kio
