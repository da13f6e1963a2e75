// SPDX-License-Identifier: MIT
// The thread-safe entry points: post, wake, stop. Other threads only touch
// the post queue (under post_mu) and two atomics, then write the eventfd
// the loop keeps a read armed on; the loop finds the work after that read
// completes. The flag wake_signalled, also under post_mu, makes a burst of
// posts cost one eventfd write.
#include <cerrno>
#include <mutex>

#include <unistd.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"

namespace kio {

// Caller holds post_mu. Returns whether the eventfd must be written.
static bool claim_wake(kio_ctx *c) noexcept
{
	if (c->wake_signalled)
		return false;
	c->wake_signalled = true;
	return true;
}

static void write_wake(kio_ctx *c) noexcept
{
	ErrnoKeeper keep_errno;
	uint64_t one = 1;
	// EAGAIN means the counter is already huge: the loop will wake anyway.
	while (write(c->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
	}
}

// The eventfd is written with post_mu held, everywhere: once the lock is
// released the loop may run the post, and its owner may destroy the ctx
// (destroy takes post_mu first, so it waits for a write in progress).
// The request flag is raised under the same lock: a loop that sees it may
// return and have its ctx destroyed at once, so the caller must be done
// with c by then.
void signal_wake(kio_ctx *c, std::atomic<bool> &request) noexcept
{
	std::lock_guard<std::mutex> lock(c->post_mu);
	request.store(true, std::memory_order_relaxed);
	if (claim_wake(c))
		write_wake(c);
}

// Runs the posts queued so far with res (0, or -ECANCELED during destroy).
int run_posts(kio_ctx *c, int32_t res)
{
	PostNode *nodes;
	c->posts_due &= uint8_t(~kPostsLocal); // this run takes them
	{
		std::lock_guard<std::mutex> lock(c->post_mu);
		c->wake_signalled = false;
		nodes = c->nodes_head;
		c->nodes_head = c->nodes_tail = nullptr;
		if (c->posts.empty() && !nodes)
			return 0;
		std::swap(c->posts, c->posts_work);
		c->posts_queued.store(0, std::memory_order_release);
	}
	int n = 0;
	// Internal completions first: they finish ops the user waits on.
	while (nodes) {
		PostNode *next = nodes->next; // the callback may reuse the node
		nodes->cb(nodes->user_data, res, 0);
		nodes = next;
		n++;
	}
	for (const Post &p : c->posts_work) {
		p.cb(p.user_data, res, 0);
		n++;
	}
	c->posts_work.clear();
	return n;
}

// A post from the thread that runs ctx joins the same queue (so posts keep
// one order whoever made them) but writes no eventfd: the loop's own thread
// cannot be blocked in it, and the loop sees kPostsLocal before it would
// wait. An embedded ctx (kio_ctx_fd()) still writes it: the host loop only
// learns of work from its fd.
static int post(kio_ctx *ctx, kio_cb cb, void *user_data) noexcept
{
	// Any thread may read owner here, racing the first run's claim():
	// atomically, and only the owner itself can find its own address.
	bool local = __atomic_load_n(&ctx->owner, __ATOMIC_RELAXED) == this_thread() &&
		     ctx->epoll_fd < 0;
	return kio::guard<int>([&] {
		std::lock_guard<std::mutex> lock(ctx->post_mu);
		if (ctx->posts_closed)
			return -ESHUTDOWN;
		ctx->posts.push_back(Post{cb, user_data});
		ctx->posts_queued.fetch_add(1, std::memory_order_release);
		if (local)
			ctx->posts_due |= kPostsLocal;
		else if (claim_wake(ctx))
			write_wake(ctx);
		return 0;
	});
}

void post_node(kio_ctx *c, PostNode *n) noexcept
{
	n->next = nullptr;
	// The poster (a pool thread) cannot know when c dies: once the loop
	// sees n it may complete the op and destroy c. So, as everywhere here,
	// the eventfd is written before the lock is released, and c is not
	// touched after.
	std::lock_guard<std::mutex> lock(c->post_mu);
	if (c->nodes_tail)
		c->nodes_tail->next = n;
	else
		c->nodes_head = n;
	c->nodes_tail = n;
	c->posts_queued.fetch_add(1, std::memory_order_release);
	if (claim_wake(c))
		write_wake(c);
}

} // namespace kio

KIO_API int kio_ctx_post(kio_ctx *ctx, kio_cb cb, void *user_data) noexcept
{
	if (!ctx || !cb)
		return -EINVAL;
	return kio::post(ctx, cb, user_data);
}

KIO_API int kio_ctx_wake(kio_ctx *ctx) noexcept
{
	if (!ctx)
		return -EINVAL;
	kio::signal_wake(ctx, ctx->woken);
	return 0;
}

KIO_API void kio_ctx_stop(kio_ctx *ctx) noexcept
{
	if (!ctx)
		return;
	kio::signal_wake(ctx, ctx->stop_requested);
}
