// SPDX-License-Identifier: MIT
// The event loop: starting ops, reaping completions, expiring timers and
// running callbacks. Everything here runs on the ctx's thread.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/ctx.hpp"
#include "core/faults.hpp"
#include "core/fd.hpp"
#include "core/guard.hpp"
#include "core/log.hpp"
#include "core/user_op.hpp"

namespace kio {

// A final error result as the user gets it, counted. A call the kernel
// interrupted for a cancel (or for destroy) can report one of its internal
// restart codes; those never reach the user. Nothing but a cancel interrupts
// the kernel's side of an op (the loop thread's signals do not reach io-wq
// workers; the epoll backend's workers block every signal and retry EINTR),
// so for a kernel op -EINTR means cancelled: kio_cancel_fd() of a splice in
// a worker ends it that way. A pool job's result is the job's own: kept.
static int32_t error_result(kio_ctx *c, int32_t res, bool from_kernel) noexcept
{
	if (interrupted(res))
		res = from_kernel || c->destroying ? -ECANCELED : -EINTR;
	if (res == -ETIMEDOUT)
		c->stats.ops_timeouts++;
	else if (res == -ECANCELED)
		c->stats.ops_cancelled++;
	else
		c->stats.ops_errors++;
	return res;
}

// What only some ops need at the end: a timeout to disarm, a cancel to
// translate, counters to drop. Kept out of finish_op() so a plain op skips it.
static void settle(kio_ctx *c, Op &op, uint32_t idx, int32_t *res) noexcept
{
	if (interrupted(*res))
		*res = -EINTR;
	if ((*res == -ECANCELED || *res == -EINTR) && (op.state & kTimedOut))
		*res = -ETIMEDOUT;
	else if (*res == -EINTR && (op.state & kCancelReq))
		*res = -ECANCELED;
	if (op.heap_pos != kNotInHeap)
		c->timers.remove(c->ops, idx);
	if (op.state & kTracksFd)
		c->fd_inflight[size_t(op.fd)]--;
	if ((op.state & kPipeWrite) && --c->pipe_writes == 0)
		sigpipe_release(c);
	if (op.state & kFixedIO)
		c->fixed_inflight--;
}

[[gnu::always_inline]] inline void finish_op(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	Op &op = c->ops.at(idx);
	// Not for the bits every timer and deferred op ends with (kTimed,
	// kCompleting) or that release() covers (kHooked): an interrupted
	// result settle() would translate gets the same from error_result().
	constexpr uint8_t kSettle = kCancelReq | kTimedOut | kTracksFd | kPipeWrite | kFixedIO;
	if (__builtin_expect((op.state & kSettle) != 0 || op.heap_pos != kNotInHeap, 0))
		settle(c, op, idx, &res);
	if (op.kind != Kind::Kernel) {
		c->in_user--;
		if (op.kind == Kind::External)
			c->in_external--;
	}
	// stats.ops_completed is ops_submitted - live: kio_ctx_stats() derives it.
	if (__builtin_expect(res < 0, 0))
		res = error_result(c, res, op.kind != Kind::External);
	kio_cb cb = op.cb;
	void *ud = op.user_data;
	KIO_PROBE_OP_DONE(c, c->ops.id_of(idx), ud, res);
	c->ops.release(idx);
	c->live--;
	cb(ud, res, flags & ~(KIO_F_MORE | kFlagNotif));
}

// A completion that keeps the op alive (KIO_F_MORE), or its final one.
[[gnu::always_inline]] inline void to_user(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	if (flags & KIO_F_MORE) {
		Op &op = c->ops.at(idx);
		// Copy out first: the callback may grow the table and move op.
		kio_cb cb = op.cb;
		void *ud = op.user_data;
		cb(ud, res, flags & ~kFlagNotif);
		return;
	}
	finish_op(c, idx, res, flags);
}

namespace {

[[gnu::always_inline]] inline void deliver(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	if (const Hook *hook = c->ops.at(idx).hook; __builtin_expect(hook != nullptr, 0)) {
		hook->step(c, idx, res, flags);
		return;
	}
	to_user(c, idx, res, flags);
}

void push_ready(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags) noexcept
{
	try {
		c->ready.push_back(Ready{idx, res, flags});
	} catch (...) {
		// Only a parked multishot CQE can get here (reserve_ready covers
		// the rest). Delivering it now breaks no promise but ordering
		// under memory exhaustion; losing it would break exactly-once.
		deliver(c, idx, res, flags);
	}
}

uint32_t cqe_flags(uint32_t f) noexcept
{
	uint32_t k = 0;
	if (f & IORING_CQE_F_MORE)
		k |= KIO_F_MORE;
	// IORING_CQE_F_BUF_MORE (1 << 4, Linux 6.12; newer than liburing 2.3)
	// becomes KIO_F_BUF_MORE (1 << 3).
	if (f & IORING_CQE_F_BUFFER)
		k |= KIO_F_BUFFER | ((f >> IORING_CQE_BUFFER_SHIFT) << 16) |
		     ((f >> 1) & KIO_F_BUF_MORE);
	if (__builtin_expect(f & IORING_CQE_F_NOTIF, 0))
		k |= kFlagNotif;
	return k;
}

// A CQE of the wake-up timer (core/wake_timer.hpp). The timeout's own
// (fired: -ETIME; cancelled by the ring's end) or a failed update (the
// timeout had already fired: -ENOENT) means none is armed any more; the
// next calm round reads the clock and arms again. A CQE of an earlier
// arming changes nothing.
void on_wake_timer(kio_ctx *c, uint64_t ud, int32_t res) noexcept
{
	WakeTimer &t = c->wake_timer;
	if (uint32_t(ud) != t.gen)
		return;
	if (ud & kWakeTimerUpdBit) {
		if (res >= 0)
			return; // moved
		t.armed = false; // gone: fired, its CQE on the way (a new arming has a new gen)
	} else {
		t.armed = false;
	}
	t.at = kNever;
	if (res == -EINVAL)
		t.off = true; // a kernel without absolute or updated timeouts
}

// A CQE of kio's own (wake-up read, wake-up timer, cancel request): no callback.
[[gnu::noinline]] void on_internal(kio_ctx *c, uint64_t ud, int32_t res) noexcept
{
	if (ud == kUdWake) {
		c->wake_armed = false;
		c->posts_due |= kPostsWake;
		return;
	}
	if (ud & (kWakeTimerBit | kWakeTimerUpdBit)) {
		on_wake_timer(c, ud, res);
		return;
	}
	if ((ud & kUdCancel) == kUdCancel && res == -ENOENT) {
		// Not found, yet not ended: the op was between two steps. Ask
		// again (an op whose CQE is merely still on its way answers
		// -ENOENT once more and ends as it was going to).
		// Next round, not now: its CQE may be in this very batch, or
		// held in the kernel's overflow list until the next enter.
		uint32_t idx = uint32_t(ud);
		if (idx < c->ops.slots() && !c->destroying) {
			const Op &op = c->ops.at(idx);
			if (op.kind == Kind::Kernel && (op.state & kCancelReq) && !(op.state & kCompleting)) {
				try {
					c->recancel.push_back(c->ops.id_of(idx));
				} catch (const std::bad_alloc &) {
					// The op keeps its first cancel's fate: rare, and no worse than before.
				}
			}
		}
	}
}

// The cancels on_internal() found missed, sent again once per round.
[[gnu::noinline]] void resend_cancels(kio_ctx *c) noexcept
{
	std::vector<int64_t> ids;
	ids.swap(c->recancel);
	for (int64_t id : ids) {
		Op *op = c->ops.lookup(id);
		if (op && op->kind == Kind::Kernel && (op->state & kCancelReq) && !(op->state & kCompleting))
			issue_cancel(c, OpTable::index_of(id));
	}
	ids.clear();
	if (c->recancel.empty())
		ids.swap(c->recancel); // keep the capacity
}

// A wait that may block, timed (KIO_CTX_STATS_TIME): its time counts as
// waiting, and the loop's running stretch resumes after it.
[[gnu::noinline]] int enter_timed(kio_ctx *c, uint64_t wait_ns, bool getevents) noexcept
{
	uint64_t t0 = mono_ns();
	int rc = c->ring.enter(true, wait_ns, getevents);
	uint64_t t1 = mono_ns();
	c->obs.run_ns += t0 - c->obs.run_mark;
	c->obs.wait_ns += t1 - t0;
	c->obs.run_mark = t1;
	return rc;
}

// Whether an enter may block and its time is kept.
[[gnu::always_inline]] inline bool timed(const kio_ctx *c, bool wait) noexcept
{
	return __builtin_expect(wait && (c->obs.mode.load(std::memory_order_relaxed) & kObsTiming), 0);
}

// Returns the callbacks run (0 or 1).
[[gnu::always_inline]] inline int on_cqe(kio_ctx *c, uint64_t ud, int32_t res, uint32_t f)
{
	if (ud & kInternal) {
		on_internal(c, ud, res);
		return 0;
	}
	uint32_t idx = OpTable::index_of(int64_t(ud));
	// Destroy may end an op before its last CQE (a zero-copy send whose
	// notice waits for the peer): drop CQEs of ops that are gone.
	if (__builtin_expect(c->destroying, 0) && !c->ops.lookup(int64_t(ud)))
		return 0;
	if (c->parking) {
		push_ready(c, idx, res, cqe_flags(f));
		return 0;
	}
	deliver(c, idx, res, cqe_flags(f));
	return 1;
}

// The final completion of an op without a hook, for reap().
[[gnu::noinline]] void deliver_final(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	finish_op(c, idx, res, flags);
}

// The reap loop for a ctx being destroyed (CQEs of ended ops can arrive)
// or parking CQEs: one CQE at a time through on_cqe(), re-reading the head
// after each, as a callback run here may reap nested.
[[gnu::noinline, gnu::cold]] int reap_slow(kio_ctx *c)
{
	io_uring_cq &cq = c->ring.cq();
	int n = 0;
	for (;;) {
		unsigned head = *cq.khead;
		if (head == io_uring_smp_load_acquire(cq.ktail))
			break;
		const io_uring_cqe &cqe = cq.cqes[head & cq.ring_mask];
		uint64_t ud = cqe.user_data;
		int32_t res = cqe.res;
		uint32_t f = cqe.flags;
		io_uring_smp_store_release(cq.khead, head + 1);
		n += on_cqe(c, ud, res, f);
	}
	return n;
}

// Consumes every CQE in the ring, advancing the head before each callback
// runs: a callback may flush the SQ, that flush may park (reap) CQEs
// itself, and those must all be newer than the ones delivered here, or a
// multishot op's final CQE could overtake its earlier ones. On x86-64 that
// store-release is one plain store; elsewhere a one-way barrier.
//
// The tail is read once per run of CQEs, into c->reap_end, and the head
// stays in a register: a nested reap only ever comes from get_sqe(), which
// first sets c->parking and pulls c->reap_end back to the head (see
// start_parking()), so the one compare per CQE with c->reap_end also
// catches it; reap_slow() then parks the rest.
//
// The common case, the one completion of a plain op (no hook, no timeout,
// no flags; at most an fd count to drop), is finished right here.
// quiet: called for quick_round(), whose ctx quiet() found not destroying.
[[gnu::always_inline]] inline int reap_inline(kio_ctx *c, bool quiet = false)
{
	if (__builtin_expect((!quiet && c->destroying) || c->parking, 0))
		return reap_slow(c);
	io_uring_cq &cq = c->ring.cq();
	unsigned *const khead = cq.khead;
	const io_uring_cqe *const cqes = cq.cqes;
	const unsigned mask = cq.ring_mask;
	unsigned head = *khead;
	// cq.ktail is read through c each time: one register less in the loop.
	unsigned tail = io_uring_smp_load_acquire(cq.ktail);
	if (head == tail)
		return 0;
	c->reap_end = tail;
	// Callbacks run = head + ran_base: the CQEs consumed here less kio's
	// own, so the loop needs no counter of its own.
	unsigned ran_base = 0u - head;
	// (A `continue` below goes to the while test, like the loop's end.)
	do {
		const io_uring_cqe &cqe = cqes[head & mask];
		uint64_t ud = cqe.user_data;
		int32_t res = cqe.res;
		uint32_t f = cqe.flags;
		io_uring_smp_store_release(khead, ++head);
		if (__builtin_expect(ud & kInternal, 0)) {
			on_internal(c, ud, res);
			ran_base--;
			continue;
		}
		uint32_t idx = OpTable::index_of(int64_t(ud));
		Op &op = c->ops.at(idx);
		// One test lets an op with no flags and no state through; an fd
		// count, a fixed-buffer count and an unfired timeout to drop are
		// the states the plain path also handles.
		// kHooked and kTimed stand for op.hook and op.timeout_at here.
		if (uint32_t st = op.state; (f | st) != 0) {
			if (__builtin_expect((f | (st & ~(kTracksFd | kTimed | kFixedIO))) != 0, 0)) {
				if (st & kHooked) {
					op.hook->step(c, idx, res, cqe_flags(f));
				} else if (f & IORING_CQE_F_MORE) {
					// A multishot op's callback; the op stays.
					kio_cb cb = op.cb;
					cb(op.user_data, res, cqe_flags(f) & ~kFlagNotif);
				} else {
					deliver_final(c, idx, res, cqe_flags(f));
				}
				continue;
			}
			// A timeout that did not fire: unlinked here, O(1).
			if (__builtin_expect(st & kTimed, 0)) {
				c->timers.remove(c->ops, idx);
				op.timeout_at = 0;
			}
			if (st & kTracksFd)
				c->fd_inflight[size_t(op.fd)]--;
			if (st & kFixedIO)
				c->fixed_inflight--;
		}
		// Only a Kernel op has CQEs, and a plain one only this one.
		c->live--;
		if (__builtin_expect(res < 0, 0))
			res = error_result(c, res, true);
		kio_cb cb = op.cb;
		void *user_data = op.user_data;
		KIO_PROBE_OP_DONE(c, int64_t(ud), user_data, res);
		c->ops.release_plain(idx);
		cb(user_data, res, 0);
	} while (head != c->reap_end ||
		 (!c->parking && (tail = io_uring_smp_load_acquire(c->ring.cq().ktail)) != head &&
		  (c->reap_end = tail, true)));
	if (__builtin_expect(c->parking, 0))
		return int(head + ran_base) + reap_slow(c);
	return int(head + ran_base);
}

// reap() for the SQ-full path and the drain loop's extra passes.
[[gnu::noinline]] int reap(kio_ctx *c)
{
	return reap_inline(c);
}

// Reaps what the kernel posted, and asks again while it flags more
// (IORING_SQ_TASKRUN). With DEFER_TASKRUN one enter runs only a bounded
// batch (about 20) of deferred completions and the flag does not cover the
// leftovers on every kernel.
// quiet: called from quick_round(), where the ctx is known not to be
// embedded (quiet() excludes it), so that test folds away.
[[gnu::always_inline]] inline int drain_cq(kio_ctx *c, bool entered_with_events, bool quiet = false)
{
	int got = reap_inline(c, quiet); // the round's one pass: inline
	int n = got;
	// A large batch may have left deferred work behind, which a host loop
	// watching kio_ctx_fd() would never hear of again: embedded, ask until
	// the kernel is empty. kio_ctx_run() needs no such pass: its next
	// enter runs the leftovers before it would sleep.
	bool embedded = !quiet && c->epoll_fd >= 0;
	bool ask = c->ring.kernel_has_more() || (embedded && got >= 16) ||
		   (!c->ring.taskrun_flag() && !entered_with_events);
	if (ask && (IO_URING_READ_ONCE(*c->ring.raw()->sq.kflags) & IORING_SQ_CQ_OVERFLOW))
		note_cq_overflow(c);
	for (int i = 0; i < 64 && ask; i++) {
		c->ring.get_events();
		got = reap(c);
		n += got;
		ask = c->ring.kernel_has_more() || (embedded && got >= 16);
	}
	return n;
}

// The reap pass of a context with faults: reap_slow() with two kinds on
// top. delay: a final CQE (no KIO_F_MORE, so no later CQE of its op can
// overtake it) is held back for a round. overflow: the pass stops early and
// leaves the rest in the CQ, which then fills and overflows for real.
// Neither applies while destroying, parking, or embedded (a host loop
// watching kio_ctx_fd() would not be woken for what is held).
[[gnu::noinline, gnu::cold]] int reap_faults(kio_ctx *c, bool *stopped)
{
	Faults &f = *c->faults;
	io_uring_cq &cq = c->ring.cq();
	bool inject = !c->destroying && c->epoll_fd < 0;
	int n = 0;
	for (;;) {
		unsigned head = *cq.khead;
		if (head == io_uring_smp_load_acquire(cq.ktail))
			break;
		if (inject && !c->parking && f.in_loop(kFaultOverflow)) {
			*stopped = true;
			break;
		}
		const io_uring_cqe &cqe = cq.cqes[head & cq.ring_mask];
		uint64_t ud = cqe.user_data;
		int32_t res = cqe.res;
		uint32_t fl = cqe.flags;
		io_uring_smp_store_release(cq.khead, head + 1);
		if (inject && !c->parking && !(ud & kInternal) && !(fl & IORING_CQE_F_MORE) &&
		    f.in_loop(kFaultDelay)) {
			Ready r{OpTable::index_of(int64_t(ud)), res, cqe_flags(fl)};
			try {
				f.held.push_back(r);
				continue;
			} catch (...) {
				// Not held, then: delivered now like any other.
			}
		}
		n += on_cqe(c, ud, res, fl);
	}
	return n;
}

// drain_cq() for a context with faults.
[[gnu::noinline, gnu::cold]] int drain_faults(kio_ctx *c, bool entered_with_events)
{
	bool stopped = false;
	int got = reap_faults(c, &stopped);
	int n = got;
	bool embedded = c->epoll_fd >= 0;
	bool ask = !stopped && (c->ring.kernel_has_more() || (embedded && got >= 16) ||
				(!c->ring.taskrun_flag() && !entered_with_events));
	for (int i = 0; i < 64 && ask; i++) {
		c->ring.enter(false, 0, true);
		got = reap_faults(c, &stopped);
		n += got;
		ask = !stopped && (c->ring.kernel_has_more() || (embedded && got >= 16));
	}
	return n;
}

// The enter and reap of a loop round for a context with faults (the one
// branch the loop takes on c->faults). First what the last round left for
// this one: held completions go to the ready queue, injected cancels go
// out through kio_op_cancel(), whose rules they follow; then the wait,
// which the eintr kind interrupts as a signal would (what was queued is
// still submitted); then the reap. The callbacks run, or an error of the
// kernel's. (A count returned, not added through a pointer: the loop's
// counter stays in a register.)
[[gnu::noinline, gnu::cold]] int faults_round(kio_ctx *c, bool wait, uint64_t wait_ns,
						bool getevents)
{
	Faults &f = *c->faults;
	if (!f.held.empty()) {
		std::vector<Ready> held;
		held.swap(f.held);
		for (const Ready &r : held)
			push_ready(c, r.idx, r.res, r.flags);
	}
	if (!f.cancels.empty()) {
		std::vector<int64_t> ids;
		ids.swap(f.cancels);
		if (!c->destroying)
			for (int64_t id : ids)
				kio_op_cancel(c, id);
	}
	if (!c->ready.empty())
		wait = false;
	int rc;
	if (!c->destroying && f.in_loop(kFaultEintr)) {
		rc = c->ring.enter(false, 0, getevents);
		if (rc >= 0 || rc == -EAGAIN || rc == -EBUSY)
			rc = -EINTR;
	} else {
		rc = timed(c, wait) ? enter_timed(c, wait_ns, getevents) :
				      c->ring.enter(wait, wait_ns, getevents);
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;
	return drain_faults(c, wait || getevents);
}

[[gnu::noinline]] int process_ready_slow(kio_ctx *c)
{
	std::swap(c->ready, c->ready_work);
	int n = 0;
	for (size_t i = 0; i < c->ready_work.size(); i++) {
		Ready r = c->ready_work[i];
		deliver(c, r.idx, r.res, r.flags);
		n++;
	}
	c->ready_work.clear();
	if (c->ready.empty())
		c->parking = false;
	return n;
}

inline int process_ready(kio_ctx *c)
{
	return c->ready.empty() ? 0 : process_ready_slow(c);
}

} // namespace

// Keeps room for every completion the live ops can queue (a periodic timer
// can have a tick and its final queued at once), so the loop never
// allocates, and never has to drop a completion, while it delivers.
//
// The room also covers every slot of the op table, and the table's next
// growth when it has no free slot left: so start_op() needs to test only
// for a free slot.
void reserve_ready(kio_ctx *c)
{
	size_t ops = std::max<size_t>(size_t(c->live) + 1, c->ops.slots());
	if (!c->ops.has_free())
		ops = std::max<size_t>(ops, c->ops.slots() ? size_t(c->ops.slots()) * 2 : 64);
	size_t need = ops * 2 + 16;
	if (c->ready.capacity() < need)
		c->ready.reserve(need * 2);
	if (c->ready_work.capacity() < need)
		c->ready_work.reserve(need * 2);
	size_t cap = std::min(c->ready.capacity(), c->ready_work.capacity());
	c->ready_room = uint32_t(std::min<size_t>((cap - 16) / 2, UINT32_MAX));
}

void grow_fd_table(kio_ctx *c, int fd)
{
	c->fd_inflight.resize(std::max(size_t(fd) + 1, c->fd_inflight.size() * 2), 0);
}

// One entry of the wheel whose deadline passed (already disarmed).
static void fire_timer(kio_ctx *c, uint32_t idx, uint64_t now)
{
	Op &op = c->ops.at(idx);
	if (op.timeout_at && op.timeout_at <= now) {
		op.timeout_at = 0;
		op.state |= kTimedOut;
		if (op.kind == Kind::Kernel || op.kind == Kind::External) {
			if (!(op.state & kCancelReq))
				cancel_op(c, idx);
		} else {
			op.state |= kCompleting;
			push_ready(c, idx, -ETIMEDOUT, 0);
		}
	} else if (op.kind == Kind::Timer) {
		op.state |= kCompleting;
		c->ready.push_back(Ready{idx, 0, 0}); // room reserved at start
	} else if (op.kind == Kind::Periodic) {
		// Room for a tick and the final result of each live op.
		c->ready.push_back(Ready{idx, 0, KIO_F_MORE});
		op.fire_at += op.period;
		if (op.fire_at <= now)
			op.fire_at = deadline_after(now, op.period);
		// Its link was just freed, so arming it again allocates nothing.
		c->timers.set(c->ops, idx, timer_key(op), now);
	} else if (op.timeout_at) {
		// A deadline moved later while its entry waited in the wheel
		// (TimerWheel::flush()): linked again at it, its link still there.
		c->timers.set(c->ops, idx, op.timeout_at, now);
	}
}

void expire_timers(kio_ctx *c, uint64_t now)
{
	c->timers.expire(c->ops, now, [c, now](uint32_t idx) { fire_timer(c, idx, now); });
}

// From now on every CQE waits in the ready queue until it drains. A reap
// loop that is delivering a CQE right now (this runs inside its callback)
// sees c->reap_end at its head, so it stops at once and parks the rest.
static void start_parking(kio_ctx *c) noexcept
{
	c->parking = true;
	c->reap_end = *c->ring.cq().khead;
}

// Fault injection (eagain): what get_sqe() does when the kernel answers
// -EBUSY/-EAGAIN to a flush of a full SQ, as if it just had: park every CQE
// and let the kernel post what it holds. The caller then takes its SQE as
// usual, and parked completions reach their callbacks in order, later.
// Only on the thread that runs ctx: before any thread ran it, an enter
// would make the caller the ring's single issuer, and the thread the ctx
// is handed over to could no longer submit (kio_ctx_run() gets -EEXIST).
[[gnu::noinline, gnu::cold]] static void faults_sq_pressure(kio_ctx *c) noexcept
{
	if (c->destroying || c->owner != this_thread() || !c->faults->in_loop(kFaultEagain))
		return;
	start_parking(c);
	c->ring.enter(false, 0, true);
	reap(c);
}

// A free SQE, flushing the SQ to the kernel when it is full. Never runs a
// callback: CQEs that must be taken off the ring to make progress are
// parked in the ready queue. nullptr with *err set when the kernel refuses.
static io_uring_sqe *flush_for_sqe(kio_ctx *c, int *err)
{
	io_uring_sqe *sqe = c->ring.try_get_sqe();
	for (int tries = 0; !sqe && tries < 1000; tries++) {
		int rc = c->ring.enter(false, 0, false);
		if (rc == -EBUSY || rc == -EAGAIN) {
			// The kernel wants its CQ drained before it takes more.
			start_parking(c);
			c->ring.enter(false, 0, true);
			reap(c);
		} else if (rc < 0 && rc != -EINTR) {
			*err = rc;
			return nullptr;
		}
		sqe = c->ring.try_get_sqe();
	}
	if (!sqe)
		*err = -EAGAIN;
	return sqe;
}

// An SQE kept in user memory while no thread runs ctx yet (kio_ctx::pre_run).
[[gnu::noinline, gnu::cold]] static io_uring_sqe *pre_run_sqe(kio_ctx *c, int *err) noexcept
{
	try {
		c->pre_run.emplace_back();
	} catch (...) {
		*err = -ENOMEM;
		return nullptr;
	}
	io_uring_sqe *sqe = &c->pre_run.back();
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

int move_pre_run(kio_ctx *c) noexcept
{
	size_t i = 0;
	int err = 0;
	for (; i < c->pre_run.size(); i++) {
		io_uring_sqe *sqe = flush_for_sqe(c, &err);
		if (!sqe)
			break;
		*sqe = c->pre_run[i];
	}
	c->pre_run.erase(c->pre_run.begin(), c->pre_run.begin() + ptrdiff_t(i));
	return err;
}

io_uring_sqe *get_sqe(kio_ctx *c, int *err)
{
	if (__builtin_expect(c->faults != nullptr, 0))
		faults_sq_pressure(c);
	// Before any thread ran ctx, the SQ is never flushed: the first
	// io_uring_enter() would make its caller the ring's single issuer,
	// and the thread ctx is handed over to could no longer submit. SQEs
	// past a full SQ wait in pre_run, in order, until the first run or
	// destroy moves them to the ring.
	bool unowned = c->owner == nullptr && !c->destroying;
	if (__builtin_expect(!c->pre_run.empty(), 0)) {
		if (unowned)
			return pre_run_sqe(c, err);
		if (int rc = move_pre_run(c)) {
			*err = rc;
			return nullptr;
		}
	}
	io_uring_sqe *sqe = c->ring.try_get_sqe();
	if (sqe)
		return sqe;
	if (unowned)
		return pre_run_sqe(c, err);
	return flush_for_sqe(c, err);
}

io_uring_sqe *get_sqe_slow(kio_ctx *c, uint32_t idx, int *err)
{
	io_uring_sqe *sqe = get_sqe(c, err);
	if (!sqe)
		c->ops.release(idx);
	return sqe;
}

Started start_op_slow(kio_ctx *c, kio_cb cb, void *user_data, int opcode, int track_fd,
		      bool pipe_write)
{
	if (int rc = begin_check(c, cb))
		return {rc, nullptr};
	if (!c->ring.supports(opcode))
		return {-EOPNOTSUPP, nullptr};
	if (__builtin_expect(c->faults != nullptr, 0)) {
		if (c->faults->at_call(kFaultNomem))
			return {-ENOMEM, nullptr};
		faults_sq_pressure(c);
	}
	if (c->live >= c->ready_room || !c->ops.has_free())
		reserve_ready(c);
	if (track_fd >= 0 && size_t(track_fd) >= c->fd_inflight.size()) {
		if (fd_open(track_fd))
			grow_fd_table(c, track_fd);
		else
			track_fd = -1; // the kernel answers -EBADF: nothing to cancel by fd
	}
	uint32_t idx = c->ops.alloc();
	io_uring_sqe *sqe = c->ring.try_get_sqe();
	if (!sqe) {
		int err = 0;
		sqe = get_sqe_slow(c, idx, &err);
		if (!sqe)
			return {err, nullptr};
	}
	Op &op = c->ops.at(idx);
	op.cb = cb;
	op.user_data = user_data;
	op.kind = Kind::Kernel;
	if (track_fd >= 0) {
		op.fd = track_fd;
		op.state |= kTracksFd;
		c->fd_inflight[size_t(track_fd)]++;
	}
	if (pipe_write) {
		op.state |= kPipeWrite;
		if (c->pipe_writes++ == 0)
			sigpipe_hold(c);
	}
	op.sq_pos = c->ring.sq_tail(); // its place in the SQ (op_table.hpp)
	note_started(c, idx);
	int64_t id = c->ops.id_of(idx);
	KIO_PROBE_OP_START(c, id, user_data, opcode);
	if (__builtin_expect(c->faults != nullptr, 0))
		faults_started(c, id);
	return {id, sqe};
}

Started start_op_slow_noexcept(kio_ctx *c, kio_cb cb, void *user_data, int opcode, int track_fd,
			       bool pipe_write) noexcept
{
	try {
		return start_op_slow(c, cb, user_data, opcode, track_fd, pipe_write);
	} catch (const std::bad_alloc &) {
		return {-ENOMEM, nullptr};
	} catch (...) {
		return {-EFAULT, nullptr};
	}
}

int arm_wake(kio_ctx *c)
{
	int err = 0;
	io_uring_sqe *sqe = get_sqe(c, &err);
	if (!sqe)
		return err;
	io_uring_prep_read(sqe, c->wake_fd, &c->wake_buf, sizeof(c->wake_buf), 0);
	sqe->user_data = kUdWake;
	c->wake_armed = true;
	return 0;
}

int issue_cancel(kio_ctx *c, uint32_t idx) noexcept
{
	int err = 0;
	io_uring_sqe *sqe = get_sqe(c, &err);
	if (!sqe)
		return err;
	io_uring_prep_cancel64(sqe, uint64_t(c->ops.id_of(idx)), 0);
	sqe->user_data = kUdCancel | idx;
	c->ops.at(idx).state |= kCancelReq;
	return 0;
}

int cancel_op(kio_ctx *c, uint32_t idx) noexcept
{
	Op &op = c->ops.at(idx);
	if (op.hook && op.hook->cancel) {
		op.state |= kCancelReq;
		return op.hook->cancel(c, idx);
	}
	if (op.kind == Kind::Kernel)
		return issue_cancel(c, idx);
	return 0;
}

void complete_op_final(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	finish_op(c, idx, res, flags);
}

io_uring_sqe *step_sqe(kio_ctx *c, uint32_t idx, int *err)
{
	io_uring_sqe *sqe = get_sqe(c, err);
	if (sqe) {
		// get_sqe() never runs callbacks, so the slot is still ours.
		sqe->user_data = uint64_t(c->ops.id_of(idx));
	}
	return sqe;
}

int64_t start_hooked(kio_ctx *c, kio_cb cb, void *user_data, int opcode, int track_fd, bool pipe_write,
		     const Hook *hook, void *ext, io_uring_sqe **sqe_out)
{
	int64_t id = start_kernel(c, cb, user_data, opcode, track_fd, pipe_write, sqe_out);
	if (id >= 0) {
		Op &op = c->ops.at(OpTable::index_of(id));
		op.hook = hook;
		op.state |= kHooked;
		op.ext = ext;
		op.aux = 0;
		(*sqe_out)->user_data = uint64_t(id);
	}
	return id;
}

int64_t start_deferred(kio_ctx *c, kio_cb cb, void *user_data, int32_t res)
{
	if (faults_nomem(c))
		return -ENOMEM;
	uint32_t idx = alloc_user_op(c, cb, user_data, Kind::Deferred);
	c->ops.at(idx).state |= kCompleting;
	c->ready.push_back(Ready{idx, res, 0}); // room reserved above
	c->in_user++;
	note_started(c, idx);
	KIO_PROBE_OP_START(c, c->ops.id_of(idx), user_data, -1);
	return c->ops.id_of(idx);
}

int64_t start_external(kio_ctx *c, kio_cb cb, void *user_data, const Hook *hook, void *ext)
{
	if (int rc = begin_check(c, cb))
		return rc;
	if (faults_nomem(c))
		return -ENOMEM;
	uint32_t idx = alloc_user_op(c, cb, user_data, Kind::External);
	Op &op = c->ops.at(idx);
	op.hook = hook;
	op.state |= kHooked;
	op.ext = ext;
	op.aux = 0;
	c->in_external++;
	c->in_user++;
	note_started(c, idx);
	return user_op_started(c, c->ops.id_of(idx));
}

// Clears c->in_run when the loop is left, by return or by exception. From
// construction to then, time counts as the loop's (waits aside, enter_timed()).
struct LeaveRun {
	kio_ctx *c;
	explicit LeaveRun(kio_ctx *ctx) noexcept
		: c(ctx)
	{
		if (__builtin_expect(c->obs.mode.load(std::memory_order_relaxed) & kObsTiming, 0))
			c->obs.run_mark = mono_ns();
	}
	~LeaveRun()
	{
		c->in_run = false;
		if (__builtin_expect(c->obs.mode.load(std::memory_order_relaxed) & kObsTiming, 0))
			note_leave(c);
	}
	[[gnu::noinline, gnu::cold]] static void note_leave(kio_ctx *c) noexcept
	{
		uint64_t now = mono_ns();
		c->obs.run_ns += now - c->obs.run_mark;
		c->obs.run_mark = now;
	}
};

// One round of the loop, for a caller that has set c->in_run: inlined into
// kio_ctx_run(), which holds in_run across all its rounds, and into
// run_once_inline().
[[gnu::always_inline]] inline int round_inline(kio_ctx *c, int64_t timeout_ns, bool from_run)
{
	if (__builtin_expect(c->notify_fd >= 0, 0))
		embed_reset_notify(c);
	uint64_t user_deadline = kNever;
	if (timeout_ns > 0)
		user_deadline = deadline_after(mono_ns(), uint64_t(timeout_ns));
	int n = 0;
	for (;;) {
		c->stats.loop_iterations++;
		if (__builtin_expect(!c->recancel.empty(), 0))
			resend_cancels(c);
		// The clock is read only when a deadline needs it.
		uint64_t now = 0;
		if (__builtin_expect(!c->timers.empty(), 0)) {
			now = mono_ns();
			if (c->timers.has_work(now))
				expire_timers(c, now);
		} else if (timeout_ns > 0) {
			now = mono_ns();
		}
		n += process_ready(c);

		bool wait = timeout_ns != 0 && n == 0 && c->ready.empty() && !c->ring.cq_ready() &&
			    !(c->posts_due & kPostsLocal) &&
			    !c->woken.load(std::memory_order_relaxed) &&
			    !c->stop_requested.load(std::memory_order_relaxed);
		uint64_t wait_ns = kNever;
		if (wait) {
			uint64_t until = std::min(user_deadline, c->timers.next_deadline());
			if (until != kNever) {
				if (until <= now)
					wait = false;
				else
					wait_ns = until - now;
			}
		}
		// Without waiting, deferred completions are only posted if we ask:
		// ask when the kernel flags pending work, or always where it cannot.
		bool getevents = !wait && (c->ring.kernel_has_more() || !c->ring.taskrun_flag());
		if (__builtin_expect(c->faults != nullptr, 0)) {
			int got = faults_round(c, wait, wait_ns, getevents);
			if (got < 0)
				return got;
			n += got;
		} else {
			int rc = timed(c, wait) ? enter_timed(c, wait_ns, getevents) :
						  c->ring.enter(wait, wait_ns, getevents);
			if (__builtin_expect(rc < 0, 0) && rc != -ETIME && rc != -EINTR &&
			    rc != -EAGAIN && rc != -EBUSY)
				return rc;
			n += drain_cq(c, wait || getevents);
		}
		if (__builtin_expect(c->posts_due, 0)) {
			if (c->posts_due & kPostsWake) {
				c->posts_due &= uint8_t(~kPostsWake);
				if (!c->destroying)
					arm_wake(c);
			}
			n += run_posts(c, c->destroying ? -ECANCELED : 0);
		}
		if (__builtin_expect(!c->timers.empty(), 0))
			if (uint64_t t = mono_ns(); c->timers.has_work(t))
				expire_timers(c, t);
		n += process_ready(c);
		// The round's work is done: what it did, for readers on other threads.
		if (__builtin_expect(c->obs.mode.load(std::memory_order_relaxed) & kObsPublish, 0))
			publish_stats(c);

		// Destroy drives its own rounds and re-checks what is left.
		if (n > 0 || timeout_ns == 0 || c->destroying)
			break;
		// Plain loads first: a locked exchange on every round costs more
		// than the rest of the round's bookkeeping.
		if (c->woken.load(std::memory_order_relaxed) &&
		    c->woken.exchange(false, std::memory_order_relaxed))
			break;
		if (c->stop_requested.load(std::memory_order_relaxed) &&
		    (from_run || c->stop_requested.exchange(false, std::memory_order_relaxed)))
			break;
		if (user_deadline != kNever && mono_ns() >= user_deadline)
			break;
	}
	if (__builtin_expect(c->epoll_fd >= 0, 0))
		embed_rearm(c);
	return n;
}

// Whether the next round of kio_ctx_run() can skip the full round's
// checks: nothing in the ready queue, no cancel to send again, no fault
// injection, no host loop (kio_ctx_fd()), no wake or stop request, no post
// made on the loop's own thread, no CQE already waiting, and no stats
// timing or publishing (obs.hpp: those are round_inline()'s). With no timer
// either (quiet()), only a completion from the kernel can end its wait:
// quick_round() serves it (also kio_ctx_run_once() without deadline); with
// timers, timed_round().
[[gnu::always_inline]] inline bool calm(kio_ctx *c) noexcept
{
	// forced_slow(): fault injection, a host loop or destroy, in one test.
	return c->ready.empty() && c->recancel.empty() && !c->ring.forced_slow() && !c->posts_due &&
	       !c->obs.mode.load(std::memory_order_relaxed) &&
	       !c->woken.load(std::memory_order_relaxed) &&
	       !c->stop_requested.load(std::memory_order_relaxed) && !c->ring.cq_ready();
}
[[gnu::always_inline]] inline bool quiet(kio_ctx *c) noexcept
{
	return c->timers.empty() && calm(c);
}

// The rest of a calm round after its wait (rc: the enter's result): the
// reap, and the posts if the wake-up read completed or the loop's own
// thread posted (kPostsLocal). What the callbacks leave (ready entries,
// timers) the next round sees, as round_inline() would. The callbacks
// run, or the kernel's error.
[[gnu::always_inline]] inline int calm_round_rest(kio_ctx *c, int rc)
{
	if (__builtin_expect(rc < 0, 0) && rc != -ETIME && rc != -EINTR && rc != -EAGAIN &&
	    rc != -EBUSY)
		return rc;
	int n = drain_cq(c, true, true);
	// Posts the callbacks made on this thread run in this round too.
	if (__builtin_expect(c->posts_due, 0)) {
		if (c->posts_due & kPostsWake) {
			c->posts_due &= uint8_t(~kPostsWake);
			arm_wake(c); // never destroying here: the run calls refuse that
		}
		n += run_posts(c, 0);
	}
	return n;
}

// One pass of round_inline() without deadline in the state quiet() found:
// wait for a completion, then calm_round_rest().
[[gnu::always_inline]] inline int quick_round(kio_ctx *c)
{
	c->stats.loop_iterations++;
	return calm_round_rest(c, c->ring.enter(true, kNever, true));
}

// Whether the wake-up timer fires no later than the wheel's nearest
// deadline: a calm round may then wait without a timeout, and without
// reading the clock (nothing is due before the timer fires).
[[gnu::always_inline]] inline bool wake_timer_covers(const kio_ctx *c) noexcept
{
	return c->timers.next_deadline() >= c->wake_timer.at;
}

// Arms the wake-up timer at deadline d (absolute, monotonic), or moves the
// armed one there. False (nothing queued) on epoll, where the kernel
// refused it before (IOPOLL rings), with SQPOLL (its thread could read
// the timespec while this writes it) or with the SQ full: the caller
// waits with a timeout instead.
bool arm_wake_timer(kio_ctx *c, uint64_t d) noexcept
{
	WakeTimer &t = c->wake_timer;
	if (t.off || !c->ring.is_uring() || c->ring.sq_thread())
		return false;
	io_uring_sqe *sqe = c->ring.try_get_sqe();
	if (!sqe)
		return false;
	t.ts.tv_sec = int64_t(d / 1000000000ull);
	t.ts.tv_nsec = int64_t(d % 1000000000ull);
	if (!t.armed) {
		io_uring_prep_timeout(sqe, &t.ts, 0, IORING_TIMEOUT_ABS);
		sqe->user_data = kUdWakeTimer | ++t.gen;
		t.armed = true;
	} else {
		io_uring_prep_timeout_update(sqe, &t.ts, kUdWakeTimer | t.gen, IORING_TIMEOUT_ABS);
		sqe->user_data = kUdWakeTimerUpd | t.gen;
	}
	t.at = d;
	return true;
}

// A round in the state calm() found, with deadlines in the timer wheel,
// none due at now (TimerWheel::has_work()) and the wake-up timer not
// covering the nearest: it is armed there (or, where it cannot be, the
// wait is timed), then calm_round_rest(). A deadline that passed during
// the wait fires in the full round that follows. (With an idle timeout on
// every connection, this round runs once per firing of the wake-up timer;
// the rounds between wait as if no deadline were pending.)
[[gnu::noinline]] int timed_round(kio_ctx *c, uint64_t now)
{
	c->stats.loop_iterations++;
	uint64_t d = c->timers.next_deadline();
	uint64_t wait = arm_wake_timer(c, d) ? kNever : d - now;
	return calm_round_rest(c, c->ring.enter(true, wait, true));
}

// run_once(), inlined into kio_ctx_run_once(): one call level less.
[[gnu::always_inline]] inline int run_once_inline(kio_ctx *c, int64_t timeout_ns, bool from_run)
{
	if (c->in_run)
		return -EBUSY;
	c->in_run = true;
	LeaveRun leave{c};
	// A pass that ran no callback (a wake-up, a signal) goes on as the
	// full round, which knows when to stop waiting.
	// (Destroy drives its rounds through here: calm() says no to it.)
	if (timeout_ns < 0 && calm(c)) {
		if (c->timers.empty() || wake_timer_covers(c)) {
			if (int n = quick_round(c))
				return n;
		} else if (uint64_t now = mono_ns(); !c->timers.has_work(now)) {
			if (int n = timed_round(c, now))
				return n;
		}
	}
	return round_inline(c, timeout_ns, from_run);
}

int run_once(kio_ctx *c, int64_t timeout_ns, bool from_run)
{
	return run_once_inline(c, timeout_ns, from_run);
}

} // namespace kio

using kio::guard;

// kio_ctx_destroy() from inside a callback is carried out here, once the
// loop no longer touches ctx.
static int finish_deferred_destroy(kio_ctx *ctx, int rc) noexcept
{
	if (ctx->destroy_deferred && !ctx->in_run) {
		ctx->destroy_deferred = false;
		kio_ctx_destroy(ctx);
	}
	return rc;
}

KIO_API int kio_ctx_run_once(kio_ctx *ctx, int64_t timeout_ns) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (int rc = kio::claim(ctx))
		return rc;
	if (__builtin_expect(ctx->destroying, 0))
		return -EBUSY; // from a callback kio_ctx_destroy() runs: it drives the loop
	bool outer = !ctx->in_run;
	int rc = guard<int>(
		[&] { return kio::run_once_inline(ctx, timeout_ns < 0 ? -1 : timeout_ns, false); });
	return outer ? finish_deferred_destroy(ctx, rc) : rc;
}

KIO_API int kio_ctx_run(kio_ctx *ctx) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (int rc = kio::claim(ctx))
		return rc;
	if (ctx->in_run || ctx->destroying)
		return -EBUSY;
	int rc = guard<int>([&] {
		// in_run stays set from round to round: between them no callback
		// runs, so nothing could see it cleared.
		ctx->in_run = true;
		kio::LeaveRun leave{ctx};
		for (;;) {
			if (ctx->stop_requested.load(std::memory_order_relaxed) &&
			    ctx->stop_requested.exchange(false))
				return 0;
			if (ctx->live == 0 && ctx->ready.empty() &&
			    ctx->posts_queued.load(std::memory_order_acquire) == 0)
				return 0;
			int rc;
			uint64_t now;
			if (!kio::calm(ctx))
				rc = kio::round_inline(ctx, -1, true);
			else if (ctx->timers.empty() || kio::wake_timer_covers(ctx))
				rc = kio::quick_round(ctx);
			else if (now = kio::mono_ns(); !ctx->timers.has_work(now))
				rc = kio::timed_round(ctx, now);
			else
				rc = kio::round_inline(ctx, -1, true);
			if (rc < 0)
				return rc;
			if (ctx->destroy_deferred)
				return 0;
		}
	});
	return finish_deferred_destroy(ctx, rc);
}
