// SPDX-License-Identifier: MIT
// Creating and destroying a context.
#include <cerrno>
#include <cstring>
#include <new>

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
	KIO_CTX_SQPOLL | KIO_CTX_NO_DEFER_TASKRUN | KIO_CTX_BACKEND_EPOLL | KIO_CTX_NO_FALLBACK;
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
		int rc = kio::faults_setup(c, &o);
		if (rc == 0)
			rc = c->ring.setup(o);
		if (rc == 0 && c->faults)
			kio::faults_arm(c);
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

// Cancels everything the ctx still has and runs the loop until the kernel
// has handed back every op, so no buffer is touched after destroy returns.
void shut_down(kio_ctx *c)
{
	using namespace kio;
	c->destroying = true;
	{
		std::lock_guard<std::mutex> lock(c->post_mu);
		c->posts_closed = true;
	}
	// User-space timers end now; kernel ops get one cancel-everything SQE.
	while (!c->timers.empty()) {
		uint32_t idx = c->timers.top().idx;
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
	uint64_t cancel_sent_at = 0;
	uint64_t cancelled_upto = UINT64_MAX; // ops_submitted when it was sent
	uint64_t completed = ops_completed(c);
	uint64_t progress_at = mono_ns();
	for (;;) {
		bool kernel_busy = in_kernel(c) > 0 || c->wake_armed;
		uint64_t now = mono_ns();
		// One cancel-everything SQE per batch of new kernel work, repeated
		// every 100 ms for ops a kernel worker notices late. Sending one
		// every round would end each round's wait at once on its own CQE.
		if (kernel_busy && (c->stats.ops_submitted != cancelled_upto ||
				    now - cancel_sent_at >= kDestroyRetryNs)) {
			int err = 0;
			io_uring_sqe *sqe = get_sqe(c, &err);
			if (sqe) {
				io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
				sqe->user_data = kUdIgnore;
			}
			cancelled_upto = c->stats.ops_submitted;
			cancel_sent_at = now;
		}
		// Timers armed by callbacks meanwhile (op timeouts) would only
		// cancel what is being cancelled: drop them.
		while (!c->timers.empty())
			c->timers.remove(c->ops, c->timers.top().idx);
		int rc = run_once(c, kernel_busy ? int64_t(kDestroyRetryNs) : 0, true);
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
