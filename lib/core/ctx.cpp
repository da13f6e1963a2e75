// SPDX-License-Identifier: MIT
// Creating and destroying a context.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "core/ctx_tag.hpp"
#include "core/faults.hpp"
#include "core/guard.hpp"
#include "core/log.hpp"

namespace {

constexpr uint32_t kKnownFlags =
	KIO_CTX_SQPOLL | KIO_CTX_NO_DEFER_TASKRUN | KIO_CTX_BACKEND_EPOLL | KIO_CTX_NO_FALLBACK |
	KIO_CTX_READ_NOWAIT | KIO_CTX_STATS_TIME;
constexpr uint32_t kMaxEntries = 32768;

kio_ctx_opts default_opts() noexcept
{
	kio_ctx_opts o;
	memset(&o, 0, sizeof(o));
	o.sq_entries = 256;
	o.cq_entries = 0;
	o.flags = 0;
	o.sqpoll_idle_ms = 1000;
	o.sqpoll_cpu = -1;
	return o;
}

// Validates opts and derives what was left to the defaults.
int finish_opts(kio_ctx_opts *out) noexcept
{
	if (out->flags & ~kKnownFlags)
		return -EINVAL;
	// A kernel polling thread is an io_uring thing: asked for together
	// with epoll, one of the two wishes cannot be met.
	if ((out->flags & KIO_CTX_SQPOLL) && (out->flags & KIO_CTX_BACKEND_EPOLL))
		return -EINVAL;
	if (out->sq_entries > kMaxEntries || out->cq_entries > 8 * kMaxEntries)
		return -EINVAL;
	if (!out->cq_entries)
		out->cq_entries = out->sq_entries * 4 > 4096 ? out->sq_entries * 4 : 4096;
	if (out->cq_entries < out->sq_entries)
		return -EINVAL;
	return 0;
}

// Reads the caller's opts of caller_size bytes into *out (defaults for the
// fields the caller does not know), following the openat2 rules.
int read_opts(const kio_ctx_opts *in, size_t caller_size, kio_ctx_opts *out) noexcept
{
	*out = default_opts();
	if (!in)
		return finish_opts(out);
	if (caller_size < sizeof(uint32_t))
		return -EINVAL;
	if (caller_size > sizeof(kio_ctx_opts)) {
		const unsigned char *tail = reinterpret_cast<const unsigned char *>(in) + sizeof(kio_ctx_opts);
		for (size_t i = 0; i < caller_size - sizeof(kio_ctx_opts); i++)
			if (tail[i])
				return -E2BIG;
		caller_size = sizeof(kio_ctx_opts);
	}
	// Fields the caller's struct has replace the defaults; an all-zero field
	// asks for the default.
	kio_ctx_opts given;
	memset(&given, 0, sizeof(given));
	memcpy(&given, in, caller_size);
	if (caller_size >= offsetof(kio_ctx_opts, cq_entries) + sizeof(uint32_t))
		out->cq_entries = given.cq_entries;
	if (given.sq_entries)
		out->sq_entries = given.sq_entries;
	if (caller_size >= offsetof(kio_ctx_opts, flags) + sizeof(uint32_t))
		out->flags = given.flags;
	if (caller_size >= offsetof(kio_ctx_opts, sqpoll_idle_ms) + sizeof(uint32_t) && given.sqpoll_idle_ms)
		out->sqpoll_idle_ms = given.sqpoll_idle_ms;
	if (caller_size >= offsetof(kio_ctx_opts, sqpoll_cpu) + sizeof(int32_t))
		out->sqpoll_cpu = given.sqpoll_cpu;
	return finish_opts(out);
}

// KIO_CTX_READ_NOWAIT, or what KIO_READ_NOWAIT=1|0 says: a switch to run
// a program or a test suite both ways without changing it.
bool read_nowait_wanted(uint32_t flags) noexcept
{
	const char *v = getenv("KIO_READ_NOWAIT");
	if (v && (v[0] == '0' || v[0] == '1') && v[1] == '\0')
		return v[0] == '1';
	return flags & KIO_CTX_READ_NOWAIT;
}

} // namespace

KIO_API void kio_ctx_opts_init(kio_ctx_opts *opts, size_t opts_size) noexcept
{
	if (!opts)
		return;
	kio_ctx_opts d = default_opts();
	memset(opts, 0, opts_size);
	memcpy(opts, &d, opts_size < sizeof(d) ? opts_size : sizeof(d));
}

KIO_API int kio_ctx_create(kio_ctx **out, const kio_ctx_opts *opts, size_t opts_size) noexcept
{
	if (!out)
		return -EINVAL;
	*out = nullptr;
	kio_ctx_opts o;
	if (int rc = read_opts(opts, opts_size, &o))
		return rc;

	return kio::guard<int>([&] {
		kio::ErrnoKeeper keep_errno;
		kio_ctx *c = new (std::nothrow) kio_ctx();
		if (!c)
			return -ENOMEM;
		c->ops.set_tag(kio::ctx_tag_acquire());
		if (o.flags & KIO_CTX_STATS_TIME)
			c->obs.mode.store(kio::kObsTiming, std::memory_order_relaxed);
		int rc = kio::faults_setup(c, &o);
		if (rc == 0)
			rc = c->ring.setup(o);
		if (rc == 0 && c->faults)
			kio::faults_arm(c);
		// Under fault injection every read takes the backend's path,
		// where injected short reads happen: a program's tests see them.
		c->read_nowait = read_nowait_wanted(o.flags) && !c->faults;
		if (rc == 0) {
			c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (c->wake_fd < 0)
				rc = -errno;
		}
		if (rc == 0) {
			c->posts.reserve(64);
			c->posts_work.reserve(64);
			rc = kio::arm_wake(c);
		}
		if (rc < 0) {
			if (c->wake_fd >= 0)
				close(c->wake_fd);
			kio::ctx_tag_release(c->ops.tag_bits() >> kio::kSlotBits);
			delete c;
			return rc;
		}
		*out = c;
		return 0;
	});
}

namespace {

// Destroy re-sends its cancel this often, and gives up on ops that make no
// progress for this long (the kernel keeps their buffers: logged as ERROR).
constexpr uint64_t kDestroyRetryNs = 100000000;
constexpr uint64_t kDestroyGiveUpNs = 30000000000;

// Blocks until another thread posts to c (the wake eventfd turns readable),
// for destroy, whose ring read on that eventfd was cancelled.
void wait_for_posts(kio_ctx *c)
{
	if (c->posts_queued.load(std::memory_order_acquire) != 0)
		return;
	pollfd p{c->wake_fd, POLLIN, 0};
	while (poll(&p, 1, 1000) < 0 && errno == EINTR) {
	}
	uint64_t v;
	while (read(c->wake_fd, &v, sizeof(v)) < 0 && errno == EINTR) {
	}
}

// Destroy's cancels: one IORING_OP_ASYNC_CANCEL per kernel op, naming its
// user_data, sent in batches that the loop reaps between.
//
// Why not one IORING_ASYNC_CANCEL_ANY: the kernel serves it by matching from
// the start of its table of pending requests again for every request it
// cancels (io_cancel_req_match), and the cancelled ones stay in the table
// until their task work runs, after the whole SQE: N pending ops cost
// N^2/2 matches (16,000 recvs took 13 s; 64,000 had not ended after 19
// minutes). A cancel naming one user_data walks one bucket of the kernel's
// cancel hash (at most 256 buckets), where each request went in at the
// head when it was armed: newest first. So the sweep goes from the newest
// op to the oldest: each target is at or near the head of its bucket, the
// ones cancelled before it having left the hash when the loop reaped their
// batch. In any other order each walk passes over the older requests of
// its bucket: with 64,000 recvs pending, destroy took 0.9 s in slot order
// and 1.7 s in a shuffled one, 0.07 to 0.13 s newest first. The batches
// also keep the CQ from overflowing: each cancel costs at most two CQEs
// (its own and the op's). The epoll backend finds each op by its slot, in
// any order.
class Sweep {
public:
	bool active() const noexcept { return active_; }

	// Lists the kernel ops to cancel: newest first (Op::sq_pos of an op
	// without a hook is the SQ tail after its SQE, so its age is how far
	// the tail moved since, modulo 2^32), ops with a hook last, as their
	// age is unknown, but by then their buckets hold little else. Without
	// memory for the list, the sweep goes in slot order.
	void start(kio_ctx *c) noexcept
	{
		using namespace kio;
		active_ = true;
		next_ = 0;
		by_slot_ = false;
		try {
			list_.clear();
			list_.reserve(in_kernel(c));
			uint32_t tail = c->ring.sq_tail();
			for (uint32_t i = 0; i < c->ops.slots(); i++) {
				const Op &op = c->ops.at(i);
				if (op.kind == Kind::Kernel)
					list_.push_back(Entry{op.hook ? UINT64_MAX : uint32_t(tail - op.sq_pos), i});
			}
			std::sort(list_.begin(), list_.end(),
				  [](const Entry &x, const Entry &y) { return x.age < y.age; });
		} catch (...) {
			by_slot_ = true;
		}
		// kio's own read on the wake eventfd.
		if (c->wake_armed)
			send_one(c, kUdWake);
	}

	// Sends up to budget more cancels; the sweep ends once all are sent.
	void send(kio_ctx *c, uint32_t budget) noexcept
	{
		using namespace kio;
		size_t end = by_slot_ ? c->ops.slots() : list_.size();
		uint32_t sent = 0;
		for (; next_ < end && sent < budget; next_++) {
			uint32_t idx = by_slot_ ? uint32_t(next_) : list_[next_].idx;
			// Ops that ended since the list was made are skipped.
			if (c->ops.at(idx).kind != Kind::Kernel)
				continue;
			if (!send_one(c, uint64_t(c->ops.id_of(idx))))
				break; // the kernel refuses work: the loop finds out
			// Hooks that would issue another step stop instead, as
			// after kio_op_cancel().
			c->ops.at(idx).state |= kCancelReq;
			sent++;
		}
		if (next_ >= end)
			active_ = false;
	}

private:
	struct Entry {
		uint64_t age; // SQEs taken since the op's; UINT64_MAX: unknown (a hook)
		uint32_t idx;
	};

	static bool send_one(kio_ctx *c, uint64_t user_data) noexcept
	{
		int err = 0;
		io_uring_sqe *sqe = kio::get_sqe(c, &err);
		if (!sqe)
			return false;
		io_uring_prep_cancel64(sqe, user_data, 0);
		sqe->user_data = kio::kUdIgnore;
		return true;
	}

	std::vector<Entry> list_;
	size_t next_ = 0;
	bool by_slot_ = false;
	bool active_ = false;
};

// Cancels everything the ctx still has and runs the loop until the kernel
// has handed back every op, so no buffer is touched after destroy returns.
void shut_down(kio_ctx *c)
{
	using namespace kio;
	c->destroying = true;
	c->ring.force_slow_start(); // starts now fail in start_op_slow()
	{
		std::lock_guard<std::mutex> lock(c->post_mu);
		c->posts_closed = true;
	}
	// User-space timers end now; kernel ops get a cancel each (below).
	while (!c->timers.empty()) {
		uint32_t idx = c->timers.any(c->ops);
		Op &op = c->ops.at(idx);
		c->timers.remove(c->ops, idx);
		// A pool job's timeout goes with it; the job itself is cancelled
		// below, or, if it already runs, finishes with its own result.
		if (op.kind != Kind::Kernel && op.kind != Kind::External &&
		    !(op.state & kCompleting)) {
			op.state |= kCompleting;
			c->ready.push_back(Ready{idx, -ECANCELED, 0});
		}
	}
	// Jobs running outside the ring (pool threads) are asked to stop; the
	// running ones finish, and their results arrive as posts.
	for (uint32_t i = 0; i < c->ops.slots(); i++) {
		Op &op = c->ops.at(i);
		if (op.kind == Kind::External && !(op.state & (kCompleting | kCancelReq)))
			cancel_op(c, i);
	}
	// Cancels per round: each costs at most two CQEs, so a round's batch
	// fills at most half the CQ.
	const uint32_t batch = std::max<uint32_t>(c->ring.cq().ring_entries / 4, 1);
	Sweep sweep;
	uint64_t cancel_sent_at = 0;          // when the last sweep ended
	uint64_t cancelled_upto = UINT64_MAX; // ops_submitted when the last sweep began
	uint64_t completed = ops_completed(c);
	uint64_t progress_at = mono_ns();
	for (;;) {
		bool kernel_busy = in_kernel(c) > 0 || c->wake_armed;
		uint64_t now = mono_ns();
		// One sweep per batch of new kernel work, repeated every 100 ms
		// for ops a kernel worker notices late. Sweeping every round
		// would end each round's wait at once on its own CQEs.
		if (kernel_busy && !sweep.active() &&
		    (c->stats.ops_submitted != cancelled_upto || now - cancel_sent_at >= kDestroyRetryNs)) {
			cancelled_upto = c->stats.ops_submitted;
			sweep.start(c);
		}
		if (sweep.active()) {
			sweep.send(c, batch);
			if (!sweep.active())
				cancel_sent_at = now;
		}
		// Timers armed by callbacks meanwhile (op timeouts) would only
		// cancel what is being cancelled: drop them.
		while (!c->timers.empty())
			c->timers.remove(c->ops, c->timers.any(c->ops));
		// In the middle of a sweep, no wait: the round only hands the
		// batch over and reaps what it ended.
		bool wait = kernel_busy && !sweep.active();
		int rc = run_once(c, wait ? int64_t(kDestroyRetryNs) : 0, true);
		run_posts(c, -ECANCELED);
		if (in_kernel(c) == 0 && !c->wake_armed && c->ready.empty() && c->live == 0 &&
		    c->posts_queued.load() == 0)
			break;
		if (ops_completed(c) != completed) {
			completed = ops_completed(c);
			progress_at = mono_ns();
		}
		if (in_kernel(c) == 0 && !c->wake_armed && c->ready.empty() && c->in_external > 0) {
			// Only jobs on other threads are left: sleep until one posts.
			wait_for_posts(c);
			continue;
		}
		if (rc < 0 && rc != -EBUSY && c->in_external == 0)
			break; // the kernel refuses us (wrong thread?): nothing left to wait for
		if (mono_ns() - progress_at > kDestroyGiveUpNs) {
			log_printf(KIO_LOG_ERROR,
				   "kio_ctx_destroy: %u ops ignored their cancel for %llu s; closing the ring anyway",
				   c->live, (unsigned long long)(kDestroyGiveUpNs / 1000000000));
			break;
		}
	}
	run_posts(c, -ECANCELED);
}

// Ops the kernel still had when shut_down() gave up on it (or could not
// reach it) still get their one callback: the ring is about to close, and
// their CQEs will never be reaped. Networking ended its own first, with
// better results (partial counts); pool jobs are never abandoned, since a
// pool thread still holds them.
void abandon_ops(kio_ctx *c) noexcept
{
	using namespace kio;
	for (uint32_t i = 0; i < c->ops.slots(); i++) {
		Kind kind = c->ops.at(i).kind;
		if (kind == Kind::Free || kind == Kind::External)
			continue;
		try {
			complete_op(c, i, -ECANCELED, 0);
		} catch (...) {
			// Only a user callback could throw; the others still run.
		}
	}
}

} // namespace

KIO_API void kio_ctx_destroy(kio_ctx *ctx) noexcept
{
	if (!ctx || kio::handle_dead(ctx->tag, kio::HandleTag::Ctx, "kio_ctx", ctx) || ctx->destroying)
		return;
	if (kio::foreign_thread(ctx)) {
		kio::misuse("kio_ctx_destroy", ctx, "called from a thread that does not run it");
		return;
	}
	if (ctx->in_run) {
		// Called from one of ctx's callbacks: the loop below us still uses
		// ctx, so finish the job when kio_ctx_run()/run_once() returns.
		ctx->destroy_deferred = true;
		return;
	}
	kio::ErrnoKeeper keep_errno;
	try {
		shut_down(ctx);
	} catch (...) {
		// Only allocation can throw; the ring teardown below still cancels
		// and reaps whatever the kernel holds.
	}
	kio::net_teardown(ctx);
	abandon_ops(ctx);
	kio::embed_close(ctx);
	int wake_fd = ctx->wake_fd;
	kio::ctx_tag_release(ctx->ops.tag_bits() >> kio::kSlotBits);
	ctx->tag = kio::HandleTag::Dead;
	delete ctx; // closes the ring: nothing of ours is left in the kernel
	if (wake_fd >= 0)
		close(wake_fd);
}

KIO_API uint32_t kio_ctx_pending(const kio_ctx *ctx) noexcept
{
	return ctx ? ctx->live : 0;
}

KIO_API int kio_ctx_probe(kio_ctx *ctx, int io_uring_op) noexcept
{
	if (!ctx || io_uring_op < 0)
		return -EINVAL;
	return ctx->ring.supports(io_uring_op) ? 1 : 0;
}

KIO_API int kio_ctx_backend(const kio_ctx *ctx) noexcept
{
	return ctx ? ctx->ring.backend() : -EINVAL;
}
