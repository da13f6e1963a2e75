// SPDX-License-Identifier: MIT
// The blocking pool: a fixed set of threads taking jobs from one queue
// (one mutex, one condition variable). A job is an External op of the ctx
// that submitted it; its result goes back to that ctx through post_node(),
// which costs one eventfd write per batch, not one per job.
//
// Job records live in slabs owned by the pool and are reused through a free
// list, so the steady state allocates nothing. A record goes back to the
// pool only once its ctx has run the job's callback, which can be after
// kio_pool_destroy() returned (the jobs it cancelled are completed by their
// ctxs later): the pool is reference counted, one reference for its owner
// and one per job not yet completed, and the last one frees it.
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <memory>
#include <mutex>
#include <vector>

#include <pthread.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"
#include "pool/pool.hpp"

namespace {

using namespace kio;

enum class JobState : uint8_t {
	Queued,   // in the pool's queue; a cancel can still take it out
	Running,  // taken by a pool thread: it finishes and reports its result
	Returned, // cancelled while queued: -ECANCELED is on its way to the ctx
};

struct Job {
	PostNode node; // carries the result to ctx; user_data is the job
	Job *prev;     // queue links (pool mutex); next also links free lists
	Job *next;
	kio_pool *pool;
	kio_ctx *ctx;
	uint32_t idx;   // the op's slot in ctx
	JobState state; // guarded by the pool mutex
	int32_t result;
	JobFn fn;
	void *arg;
	JobFinish finish;
};

constexpr uint32_t kMaxThreads = 1024;
constexpr size_t kFirstSlab = 16;

} // namespace

struct kio_pool {
	std::mutex mu;
	std::condition_variable cv;
	Job *head = nullptr; // the queue, oldest first (mu)
	Job *tail = nullptr;
	Job *free_jobs = nullptr; // (mu)
	// Records handed back by ctx threads: pushed without the lock, taken all
	// at once (an exchange, so no ABA) by a submit that found free_jobs empty.
	std::atomic<Job *> returned{nullptr};
	std::vector<std::unique_ptr<Job[]>> slabs; // (mu)
	size_t next_slab = kFirstSlab;
	uint32_t idle = 0;     // threads waiting on cv (mu)
	bool stopping = false; // (mu)
	std::atomic<uint64_t> refs{1};
	std::vector<pthread_t> threads;
	// Poisoned by kio_pool_destroy (core/handle.hpp).
	kio::HandleTag tag = kio::HandleTag::Pool;
};

namespace {

void job_posted(void *user_data, int32_t res, uint32_t flags);

void drop_ref(kio_pool *p) noexcept
{
	if (p->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
		delete p;
}

// Caller holds p->mu. May throw std::bad_alloc; nothing changes then.
Job *take_free(kio_pool *p)
{
	if (!p->free_jobs)
		p->free_jobs = p->returned.exchange(nullptr, std::memory_order_acquire);
	if (!p->free_jobs) {
		size_t n = p->next_slab;
		p->slabs.reserve(p->slabs.size() + 1);
		std::unique_ptr<Job[]> slab(new Job[n]);
		for (size_t i = 0; i < n; i++) {
			Job &j = slab[i];
			j.node = PostNode{nullptr, job_posted, &j};
			j.pool = p;
			j.next = i + 1 < n ? &slab[i + 1] : nullptr;
		}
		p->free_jobs = &slab[0];
		p->slabs.push_back(std::move(slab));
		p->next_slab = n * 2;
	}
	Job *j = p->free_jobs;
	p->free_jobs = j->next;
	return j;
}

// Any thread, without the lock: the record is free for reuse, and the
// reference the job held on its pool is dropped.
void give_back(kio_pool *p, Job *j) noexcept
{
	Job *head = p->returned.load(std::memory_order_relaxed);
	do
		j->next = head;
	while (!p->returned.compare_exchange_weak(head, j, std::memory_order_release,
						  std::memory_order_relaxed));
	drop_ref(p);
}

// On the ctx thread: the job is over; run its finish and the user's callback.
void end_job(kio_ctx *c, Job *j, int32_t res)
{
	uint32_t idx = j->idx;
	JobFinish finish = j->finish;
	void *arg = j->arg;
	give_back(j->pool, j);
	if (finish)
		finish(arg, res);
	complete_op(c, idx, res, 0);
}

// A result posted by a pool thread, or a cancel by kio_pool_destroy(). res
// is -ECANCELED while ctx is being destroyed: the job's own result counts.
void job_posted(void *user_data, int32_t res, uint32_t flags)
{
	(void)res;
	(void)flags;
	Job *j = static_cast<Job *>(user_data);
	end_job(j->ctx, j, j->result);
}

// A job cancelled while queued: its -ECANCELED came through the ready queue.
void job_step(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	(void)flags;
	end_job(c, static_cast<Job *>(c->ops.at(idx).ext), res);
}

// kio_op_cancel(), an expired timeout, or kio_ctx_destroy(). A queued job
// leaves the queue and completes with -ECANCELED (the loop makes that
// -ETIMEDOUT after a timeout) from the ready queue, never inside this call.
// A running job cannot be stopped: its result will arrive as a post.
int job_cancel(kio_ctx *c, uint32_t idx)
{
	Op &op = c->ops.at(idx);
	Job *j = static_cast<Job *>(op.ext);
	kio_pool *p = j->pool;
	{
		std::lock_guard<std::mutex> lock(p->mu);
		if (j->state != JobState::Queued)
			return 0;
		if (j->prev)
			j->prev->next = j->next;
		else
			p->head = j->next;
		if (j->next)
			j->next->prev = j->prev;
		else
			p->tail = j->prev;
		j->state = JobState::Returned;
	}
	op.state |= kCompleting;
	c->ready.push_back(Ready{idx, -ECANCELED, 0}); // room reserved at start
	embed_kick(c);
	return 0;
}

const Hook kJobHook = {job_step, job_cancel};

void *pool_main(void *arg)
{
	kio_pool *p = static_cast<kio_pool *>(arg);
	std::unique_lock<std::mutex> lock(p->mu);
	for (;;) {
		while (!p->head && !p->stopping) {
			p->idle++;
			p->cv.wait(lock);
			p->idle--;
		}
		Job *j = p->head;
		if (!j)
			break; // stopping, and kio_pool_destroy() took the queue
		p->head = j->next;
		if (p->head)
			p->head->prev = nullptr;
		else
			p->tail = nullptr;
		j->state = JobState::Running;
		lock.unlock();
		j->result = j->fn(j->arg);
		post_node(j->ctx, &j->node); // j may be reused from here on
		lock.lock();
	}
	return nullptr;
}

// Stops and joins the threads started so far; used by create on failure.
void stop_threads(kio_pool *p) noexcept
{
	{
		std::lock_guard<std::mutex> lock(p->mu);
		p->stopping = true;
	}
	p->cv.notify_all();
	for (pthread_t t : p->threads)
		pthread_join(t, nullptr);
	p->threads.clear();
}

} // namespace

namespace kio {

int64_t pool_start(kio_ctx *c, kio_pool *p, JobFn fn, void *arg, JobFinish finish, kio_cb cb,
		   void *user_data)
{
	if (int rc = begin_check(c, cb))
		return rc;
	if (!p || !fn)
		return -EINVAL;
	std::unique_lock<std::mutex> lock(p->mu);
	if (p->stopping)
		return -ESHUTDOWN;
	Job *j = take_free(p);
	int64_t id;
	try {
		id = start_external(c, cb, user_data, &kJobHook, j);
	} catch (...) {
		j->next = p->free_jobs;
		p->free_jobs = j;
		throw;
	}
	if (id < 0) {
		j->next = p->free_jobs;
		p->free_jobs = j;
		return id;
	}
	j->ctx = c;
	j->idx = OpTable::index_of(id);
	j->fn = fn;
	j->arg = arg;
	j->finish = finish;
	j->result = 0;
	j->state = JobState::Queued;
	j->next = nullptr;
	j->prev = p->tail;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->refs.fetch_add(1, std::memory_order_relaxed);
	bool wake = p->idle > 0;
	lock.unlock();
	if (wake)
		p->cv.notify_one();
	return id;
}

} // namespace kio

KIO_API int kio_pool_create(kio_pool **out, uint32_t threads) noexcept
{
	if (!out)
		return -EINVAL;
	*out = nullptr;
	if (threads == 0 || threads > kMaxThreads)
		return -EINVAL;
	ErrnoKeeper keep_errno;
	kio_pool *p = new (std::nothrow) kio_pool();
	if (!p)
		return -ENOMEM;
	int rc = guard<int>([&] {
		p->threads.reserve(threads);
		// Pool threads block every signal, so a signal meant for the
		// application never lands on one of them. They inherit the mask
		// of this thread, blocked in full for the moment: no window at
		// their start, and runtimes that wrap pthread_create (the
		// sanitizers) keep it too. The caller's mask is restored after.
		sigset_t all, old;
		sigfillset(&all);
		if (int e = pthread_sigmask(SIG_SETMASK, &all, &old))
			return -e;
		int err = 0;
		for (uint32_t i = 0; i < threads && err == 0; i++) {
			pthread_t t;
			err = pthread_create(&t, nullptr, pool_main, p);
			if (err == 0) {
				p->threads.push_back(t); // reserved: cannot throw
				pthread_setname_np(t, "kio-pool");
			}
		}
		pthread_sigmask(SIG_SETMASK, &old, nullptr);
		return -err;
	});
	if (rc < 0) {
		stop_threads(p);
		delete p;
		return rc;
	}
	*out = p;
	return 0;
}

KIO_API void kio_pool_destroy(kio_pool *pool) noexcept
{
	if (!pool || handle_dead(pool->tag, HandleTag::Pool, "kio_pool", pool))
		return;
	Job *queued;
	{
		std::lock_guard<std::mutex> lock(pool->mu);
		if (pool->stopping)
			return;
		pool->stopping = true;
		queued = pool->head;
		pool->head = pool->tail = nullptr;
		for (Job *j = queued; j; j = j->next)
			j->state = JobState::Returned;
	}
	pool->cv.notify_all();
	// Queued jobs go back to their ctxs cancelled; each ctx completes them
	// on its own thread, in its loop (or in its kio_ctx_destroy()).
	while (queued) {
		Job *j = queued;
		queued = j->next; // read first: once posted, j may be reused
		j->result = -ECANCELED;
		post_node(j->ctx, &j->node);
	}
	for (pthread_t t : pool->threads)
		pthread_join(t, nullptr);
	pool->threads.clear();
	// Its jobs may keep it alive a while: the tag says it is gone now.
	pool->tag = HandleTag::Dead;
	drop_ref(pool);
}

KIO_API int64_t kio_pool_submit(kio_ctx *ctx, kio_pool *pool, kio_work_fn fn, kio_cb cb,
				void *user_data) noexcept
{
	return guard<int64_t>(
		[&] { return pool_start(ctx, pool, fn, user_data, nullptr, cb, user_data); });
}
