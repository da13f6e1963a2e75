/* SPDX-License-Identifier: MIT */
/*
 * The blocking pool: jobs run on pool threads and call back on the ctx
 * thread with fn's result; cancel and timeout take a queued job out and
 * leave a running one alone; destroying the pool or the ctx with jobs
 * queued and running runs every callback exactly once.
 */
#include "kio_test.h"

#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>

/* A gate jobs block on: started is posted when a blocking fn begins. */
struct gate {
	sem_t started;
	sem_t release;
};

struct job {
	int ret;             /* what fn returns */
	atomic_int fn_runs;  /* set on the pool thread */
	pthread_t fn_thread; /* written by fn, read after the callback */
	struct gate *gate;
	int calls;
	int32_t res;
	uint32_t flags;
	pthread_t cb_thread;
	int64_t submit_in_cb; /* what kio_pool_submit() returned inside the callback */
	kio_ctx *ctx;
	kio_pool *pool;
	void *owner;
};

static int plain_fn(void *ud)
{
	struct job *j = ud;
	j->fn_thread = pthread_self();
	atomic_fetch_add(&j->fn_runs, 1);
	return j->ret;
}

static int blocking_fn(void *ud)
{
	struct job *j = ud;
	j->fn_thread = pthread_self();
	atomic_fetch_add(&j->fn_runs, 1);
	sem_post(&j->gate->started);
	while (sem_wait(&j->gate->release) != 0) {
	}
	return j->ret;
}

static int g_done; /* callbacks run, for kt_run_until targets */
static int g_target;
static int g_reached;

static void job_cb(void *ud, int32_t res, uint32_t flags)
{
	struct job *j = ud;
	j->calls++;
	j->res = res;
	j->flags = flags;
	j->cb_thread = pthread_self();
	if (++g_done >= g_target)
		g_reached = 1;
}

static void expect_callbacks(int n)
{
	g_done = 0;
	g_target = n;
	g_reached = 0;
}

static void gate_init(struct gate *g)
{
	assert_int_equal(sem_init(&g->started, 0, 0), 0);
	assert_int_equal(sem_init(&g->release, 0, 0), 0);
}

static void gate_destroy(struct gate *g)
{
	sem_destroy(&g->started);
	sem_destroy(&g->release);
}

static void gate_wait_started(struct gate *g)
{
	while (sem_wait(&g->started) != 0) {
	}
}

static kio_pool *pool_new(uint32_t threads)
{
	kio_pool *pool = NULL;
	assert_int_equal(kio_pool_create(&pool, threads), 0);
	assert_non_null(pool);
	return pool;
}

static void job_init(struct job *j, int ret, struct gate *g)
{
	memset(j, 0, sizeof(*j));
	atomic_init(&j->fn_runs, 0);
	j->ret = ret;
	j->gate = g;
}

/*
 * Submits blocker (a job of blocking_fn that returns ret, held by g) and
 * waits until it holds a pool thread: on a one-thread pool, jobs submitted
 * next queue behind it until sem_post(&g->release).
 */
static int64_t submit_blocker(kio_ctx *ctx, kio_pool *pool, struct gate *g, struct job *blocker,
			      int ret)
{
	gate_init(g);
	job_init(blocker, ret, g);
	int64_t id = kio_pool_submit(ctx, pool, blocking_fn, job_cb, blocker);
	assert_true(id >= 0);
	gate_wait_started(g);
	return id;
}

static void test_pool_many_jobs(void **state)
{
	(void)state;
	enum {
		N = 200
	};
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(4);
	struct job *jobs = calloc(N, sizeof(*jobs));
	assert_non_null(jobs);
	expect_callbacks(N);
	for (int i = 0; i < N; i++) {
		job_init(&jobs[i], i * 3 - 100, NULL);
		int64_t id = kio_pool_submit(ctx, pool, plain_fn, job_cb, &jobs[i]);
		assert_true(id >= 0);
	}
	assert_int_equal(g_done, 0); /* never inside the call */
	assert_int_equal(kio_ctx_pending(ctx), N);
	/* kio_ctx_run() waits for jobs on other threads: returns once all ran. */
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(g_done, N);

	pthread_t seen[N];
	int nseen = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].calls, 1);
		assert_int_equal(jobs[i].res, i * 3 - 100);
		assert_int_equal(jobs[i].flags, 0);
		assert_int_equal(atomic_load(&jobs[i].fn_runs), 1);
		assert_true(pthread_equal(jobs[i].cb_thread, pthread_self()));
		assert_false(pthread_equal(jobs[i].fn_thread, pthread_self()));
		int known = 0;
		for (int k = 0; k < nseen; k++)
			known |= pthread_equal(seen[k], jobs[i].fn_thread) != 0;
		if (!known)
			seen[nseen++] = jobs[i].fn_thread;
	}
	assert_true(nseen >= 1 && nseen <= 4);

	/* A second round reuses the job records of the first. */
	expect_callbacks(N);
	for (int i = 0; i < N; i++) {
		job_init(&jobs[i], i, NULL);
		assert_true(kio_pool_submit(ctx, pool, plain_fn, job_cb, &jobs[i]) >= 0);
	}
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].calls, 1);
		assert_int_equal(jobs[i].res, i);
	}
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	free(jobs);
}

/* Pool threads block every signal, whatever the creating thread's mask. */
static int mask_fn(void *ud)
{
	(void)ud;
	sigset_t cur;
	if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0)
		return -1;
	int sigs[] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE, SIGALRM, SIGRTMIN};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigismember(&cur, sigs[i]) != 1)
			return -sigs[i];
	return 1;
}

static void test_pool_threads_block_signals(void **state)
{
	(void)state;
	sigset_t none, old;
	sigemptyset(&none);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &none, &old), 0);
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(2);
	struct kt_rec r;
	assert_int_equal(
		kt_await_op(ctx, kio_pool_submit(ctx, pool, mask_fn, kt_rec_cb, kt_rec_reset(&r)),
			    &r),
		1);
	/* The caller's mask is left alone. */
	sigset_t cur;
	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	assert_int_equal(sigismember(&cur, SIGUSR1), 0);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

static void test_pool_cancel_queued(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct gate g;
	struct job blocker, queued;
	job_init(&queued, 22, NULL);
	expect_callbacks(1);
	submit_blocker(ctx, pool, &g, &blocker, 11);
	int64_t q = kio_pool_submit(ctx, pool, plain_fn, job_cb, &queued);
	assert_true(q >= 0);
	assert_int_equal(kio_op_cancel(ctx, q), 0);
	assert_int_equal(queued.calls, 0);          /* not inside the cancel */
	assert_int_equal(kio_op_cancel(ctx, q), 0); /* already on its way: a no-op */
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(queued.calls, 1);
	assert_int_equal(queued.res, -ECANCELED);
	assert_int_equal(blocker.calls, 0);
	assert_int_equal(kio_op_cancel(ctx, q), -ENOENT);

	expect_callbacks(1);
	sem_post(&g.release);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(blocker.calls, 1);
	assert_int_equal(blocker.res, 11);
	assert_int_equal(atomic_load(&queued.fn_runs), 0);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	assert_int_equal(atomic_load(&queued.fn_runs), 0);
	gate_destroy(&g);
}

static void test_pool_cancel_running(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct gate g;
	struct job blocker;
	expect_callbacks(1);
	int64_t b = submit_blocker(ctx, pool, &g, &blocker, 33);
	assert_int_equal(kio_op_cancel(ctx, b), 0);
	/* Run a while: the cancel alone must not complete a running job. */
	kt_run_for(ctx, 20);
	assert_int_equal(blocker.calls, 0);
	sem_post(&g.release);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(blocker.calls, 1);
	assert_int_equal(blocker.res, 33); /* its result, not -ECANCELED */
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	gate_destroy(&g);
}

/* Cancel racing the job: either fn never ran and res is -ECANCELED, or fn
 * ran once and res is its result; the callback runs once either way. */
static void test_pool_cancel_races_job(void **state)
{
	(void)state;
	enum {
		ROUNDS = 500
	};
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(2);
	struct job *jobs = calloc(ROUNDS, sizeof(*jobs));
	assert_non_null(jobs);
	int cancelled = 0, ran = 0;
	for (int i = 0; i < ROUNDS; i++) {
		job_init(&jobs[i], i, NULL);
		expect_callbacks(1);
		int64_t id = kio_pool_submit(ctx, pool, plain_fn, job_cb, &jobs[i]);
		assert_true(id >= 0);
		/* Vary the timing: cancel at once, after a round of the loop, or
		 * once fn has run (its result may already be posted). */
		if (i % 3 == 1)
			assert_true(kio_ctx_run_once(ctx, 0) >= 0);
		uint64_t deadline = kt_now_ns() + 5000 * KT_MS;
		while (i % 3 == 2 && !atomic_load(&jobs[i].fn_runs) && kt_now_ns() < deadline)
			sched_yield();
		int rc = kio_op_cancel(ctx, id);
		assert_true(rc == 0 || (rc == -ENOENT && jobs[i].calls == 1));
		kt_run_until(ctx, &g_reached, 5000);
		assert_int_equal(jobs[i].calls, 1);
		if (jobs[i].res == -ECANCELED) {
			assert_int_equal(atomic_load(&jobs[i].fn_runs), 0);
			cancelled++;
		} else {
			assert_int_equal(jobs[i].res, i);
			assert_int_equal(atomic_load(&jobs[i].fn_runs), 1);
			ran++;
		}
		if (i % 3 == 2) {
			assert_int_equal(jobs[i].res, i); /* fn ran before the cancel */
		}
	}
	print_message("%d cancelled while queued, %d ran\n", cancelled, ran);
	assert_int_equal(cancelled + ran, ROUNDS);
	assert_true(ran >= ROUNDS / 3);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	for (int i = 0; i < ROUNDS; i++)
		assert_int_equal(jobs[i].calls, 1);
	free(jobs);
}

static void sleep_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)flags;
	*(int *)ud = res == 0 ? 1 : -1;
}

/* Runs ctx until a timer of ms fired: timeouts armed earlier for less have expired. */
static void run_past(kio_ctx *ctx, uint64_t ms)
{
	int fired = 0;
	assert_true(kio_sleep(ctx, ms * KT_MS, sleep_cb, &fired) >= 0);
	kt_run_until(ctx, &fired, 5000);
	assert_int_equal(fired, 1);
}

static void test_pool_timeout_queued(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct gate g;
	struct job blocker, queued;
	job_init(&queued, 55, NULL);
	submit_blocker(ctx, pool, &g, &blocker, 44);
	int64_t q = kio_pool_submit(ctx, pool, plain_fn, job_cb, &queued);
	assert_true(q >= 0);
	assert_int_equal(kio_op_timeout(ctx, q, 2 * KT_MS), 0);
	expect_callbacks(1);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(queued.calls, 1);
	assert_int_equal(queued.res, -ETIMEDOUT);
	assert_int_equal(blocker.calls, 0);

	expect_callbacks(1);
	sem_post(&g.release);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(blocker.res, 44);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	assert_int_equal(atomic_load(&queued.fn_runs), 0);
	gate_destroy(&g);
}

static void test_pool_timeout_running(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct gate g;
	struct job blocker;
	int64_t b = submit_blocker(ctx, pool, &g, &blocker, 66);
	assert_int_equal(kio_op_timeout(ctx, b, 1 * KT_MS), 0);
	run_past(ctx, 20); /* the timeout expired while fn ran */
	assert_int_equal(blocker.calls, 0);
	expect_callbacks(1);
	sem_post(&g.release);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(blocker.calls, 1);
	assert_int_equal(blocker.res, 66);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	gate_destroy(&g);
}

static void *destroy_pool_main(void *arg)
{
	kio_pool_destroy(arg);
	return NULL;
}

/* A callback of a job the pool cancelled: the pool refuses new jobs. */
static void cancelled_cb(void *ud, int32_t res, uint32_t flags)
{
	struct job *j = ud;
	j->submit_in_cb = kio_pool_submit(j->ctx, j->pool, plain_fn, job_cb, j);
	job_cb(ud, res, flags);
}

static void test_pool_destroy_with_jobs(void **state)
{
	(void)state;
	enum {
		RUNNING = 2,
		QUEUED = 5
	};
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(RUNNING);
	struct gate g;
	gate_init(&g);
	struct job jobs[RUNNING + QUEUED];
	for (int i = 0; i < RUNNING; i++) {
		job_init(&jobs[i], 100 + i, &g);
		assert_true(kio_pool_submit(ctx, pool, blocking_fn, job_cb, &jobs[i]) >= 0);
	}
	for (int i = 0; i < RUNNING; i++)
		gate_wait_started(&g);
	for (int i = RUNNING; i < RUNNING + QUEUED; i++) {
		job_init(&jobs[i], 100 + i, NULL);
		jobs[i].ctx = ctx;
		jobs[i].pool = pool;
		assert_true(kio_pool_submit(ctx, pool, plain_fn, cancelled_cb, &jobs[i]) >= 0);
	}
	/* Destroy from another thread: it joins the threads, which are blocked
	 * until this thread opens the gate. The queued jobs come back cancelled
	 * first, on this thread, through the ctx's loop. */
	pthread_t t;
	expect_callbacks(QUEUED);
	assert_int_equal(pthread_create(&t, NULL, destroy_pool_main, pool), 0);
	kt_run_until(ctx, &g_reached, 5000);
	for (int i = RUNNING; i < RUNNING + QUEUED; i++) {
		assert_int_equal(jobs[i].calls, 1);
		assert_int_equal(jobs[i].res, -ECANCELED);
		assert_int_equal(jobs[i].submit_in_cb, -ESHUTDOWN);
		assert_true(pthread_equal(jobs[i].cb_thread, pthread_self()));
	}
	for (int i = 0; i < RUNNING; i++)
		assert_int_equal(jobs[i].calls, 0);

	expect_callbacks(RUNNING);
	for (int i = 0; i < RUNNING; i++)
		sem_post(&g.release);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(pthread_join(t, NULL), 0);
	for (int i = 0; i < RUNNING; i++) {
		assert_int_equal(jobs[i].calls, 1);
		assert_int_equal(jobs[i].res, 100 + i);
	}
	for (int i = RUNNING; i < RUNNING + QUEUED; i++)
		assert_int_equal(atomic_load(&jobs[i].fn_runs), 0);
	kt_drain_destroy(ctx);
	gate_destroy(&g);
}

/* Destroying an idle pool, or one whose jobs all finished, is immediate. */
static void test_pool_destroy_idle(void **state)
{
	(void)state;
	kio_pool *pool = pool_new(8);
	kio_pool_destroy(pool);
	kio_pool_destroy(NULL);
	pool = pool_new(1);
	kio_ctx *ctx = kt_ctx_new();
	struct job j;
	job_init(&j, 5, NULL);
	expect_callbacks(1);
	assert_true(kio_pool_submit(ctx, pool, plain_fn, job_cb, &j) >= 0);
	kt_run_until(ctx, &g_reached, 5000);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	assert_int_equal(j.res, 5);
}

static struct gate *g_ctx_gate;

/* The first cancelled callback, run inside kio_ctx_destroy(), opens the
 * gate: the running job is still running when destroy starts waiting. */
static void opening_cb(void *ud, int32_t res, uint32_t flags)
{
	struct job *j = ud;
	j->submit_in_cb = kio_pool_submit(j->ctx, j->pool, plain_fn, job_cb, j);
	job_cb(ud, res, flags);
	if (g_ctx_gate) {
		sem_post(&g_ctx_gate->release);
		g_ctx_gate = NULL;
	}
}

static void test_pool_ctx_destroy_with_jobs(void **state)
{
	(void)state;
	enum {
		QUEUED = 3
	};
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct gate g;
	struct job blocker, queued[QUEUED];
	submit_blocker(ctx, pool, &g, &blocker, 77);
	for (int i = 0; i < QUEUED; i++) {
		job_init(&queued[i], i, NULL);
		queued[i].ctx = ctx;
		queued[i].pool = pool;
		assert_true(kio_pool_submit(ctx, pool, plain_fn, opening_cb, &queued[i]) >= 0);
	}
	g_ctx_gate = &g;
	expect_callbacks(QUEUED + 1);
	kio_ctx_destroy(ctx);
	/* Destroy cancelled the queued jobs and waited for the running one. */
	assert_int_equal(g_done, QUEUED + 1);
	assert_null(g_ctx_gate);
	assert_int_equal(blocker.calls, 1);
	assert_int_equal(blocker.res, 77);
	assert_true(pthread_equal(blocker.cb_thread, pthread_self()));
	for (int i = 0; i < QUEUED; i++) {
		assert_int_equal(queued[i].calls, 1);
		assert_int_equal(queued[i].res, -ECANCELED);
		assert_int_equal(queued[i].submit_in_cb, -ESHUTDOWN);
		assert_int_equal(atomic_load(&queued[i].fn_runs), 0);
	}
	/* The pool is unharmed and serves other ctxs. */
	ctx = kt_ctx_new();
	struct job after;
	job_init(&after, 88, NULL);
	expect_callbacks(1);
	assert_true(kio_pool_submit(ctx, pool, plain_fn, job_cb, &after) >= 0);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(after.res, 88);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	gate_destroy(&g);
}

/* A running job with a timeout still pending: destroy takes the timer
 * away, not the job, which finishes with its own result. (Destroy once
 * ended every op in its timer heap at once, a running job's too, with
 * -ECANCELED.) */
static void test_pool_ctx_destroy_running_job_with_timeout(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct gate g;
	struct job blocker, queued;
	int64_t b = submit_blocker(ctx, pool, &g, &blocker, 55);
	assert_int_equal(kio_op_timeout(ctx, b, 60000 * KT_MS), 0);
	job_init(&queued, 1, NULL);
	queued.ctx = ctx;
	queued.pool = pool;
	assert_true(kio_pool_submit(ctx, pool, plain_fn, opening_cb, &queued) >= 0);
	g_ctx_gate = &g;
	expect_callbacks(2);
	kio_ctx_destroy(ctx);
	assert_int_equal(g_done, 2);
	assert_int_equal(blocker.calls, 1);
	assert_int_equal(blocker.res, 55);
	assert_int_equal(queued.calls, 1);
	assert_int_equal(queued.res, -ECANCELED);
	kio_pool_destroy(pool);
	gate_destroy(&g);
}

/* The pool goes first: the jobs it cancelled wait in their ctx, whose
 * destroy, without the loop ever running, runs their callbacks. A job of a
 * second ctx queued behind them tells when the pool took the queue. */
static void test_pool_destroyed_before_ctx(void **state)
{
	(void)state;
	enum {
		QUEUED = 4
	};
	kio_ctx *idle_ctx = kt_ctx_new();
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct gate g;
	struct job blocker, marker, queued[QUEUED];
	job_init(&marker, 10, NULL);
	submit_blocker(ctx, pool, &g, &blocker, 9);
	for (int i = 0; i < QUEUED; i++) {
		job_init(&queued[i], i, NULL);
		assert_true(kio_pool_submit(idle_ctx, pool, plain_fn, job_cb, &queued[i]) >= 0);
	}
	assert_true(kio_pool_submit(ctx, pool, plain_fn, job_cb, &marker) >= 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, destroy_pool_main, pool), 0);
	expect_callbacks(1);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(marker.calls, 1);
	assert_int_equal(marker.res, -ECANCELED);
	for (int i = 0; i < QUEUED; i++)
		assert_int_equal(queued[i].calls, 0); /* idle_ctx has not run */

	expect_callbacks(1);
	sem_post(&g.release);
	kt_run_until(ctx, &g_reached, 5000);
	assert_int_equal(blocker.res, 9);
	assert_int_equal(pthread_join(t, NULL), 0);

	expect_callbacks(QUEUED);
	kio_ctx_destroy(idle_ctx);
	assert_int_equal(g_done, QUEUED);
	for (int i = 0; i < QUEUED; i++) {
		assert_int_equal(queued[i].calls, 1);
		assert_int_equal(queued[i].res, -ECANCELED);
		assert_int_equal(atomic_load(&queued[i].fn_runs), 0);
	}
	kt_drain_destroy(ctx);
	gate_destroy(&g);
}

/* A ctx destroyed right after its last job's callback: the pool thread
 * that posted the result must be done with the ctx by then (the sanitizer
 * builds see any late touch of the freed ctx or its closed eventfd). */
static void test_pool_ctx_destroy_after_result(void **state)
{
	(void)state;
	kio_pool *pool = pool_new(2);
	for (int round = 0; round < 200; round++) {
		kio_ctx *ctx = kt_ctx_new();
		struct job j;
		job_init(&j, round, NULL);
		expect_callbacks(1);
		assert_true(kio_pool_submit(ctx, pool, plain_fn, job_cb, &j) >= 0);
		kt_run_until(ctx, &g_reached, 5000);
		kio_ctx_destroy(ctx);
		assert_int_equal(j.calls, 1);
		assert_int_equal(j.res, round);
	}
	kio_pool_destroy(pool);
}

/* Embedded in a host loop that only polls kio_ctx_fd(): a job's result
 * makes the fd readable. */
static void test_pool_embedded(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(2);
	int fd = kio_ctx_fd(ctx);
	assert_true(fd >= 0);
	struct gate g;
	struct job j;
	expect_callbacks(1);
	submit_blocker(ctx, pool, &g, &j, 42);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0); /* the host's first round */
	sem_post(&g.release);
	uint64_t deadline = kt_now_ns() + 5000 * KT_MS;
	while (!g_reached && kt_now_ns() < deadline) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, 5000);
		assert_true(n >= 0);
		if (n > 0)
			assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	}
	assert_int_equal(j.calls, 1);
	assert_int_equal(j.res, 42);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	gate_destroy(&g);
}

#define SHARED_JOBS 300

struct shared_side {
	kio_pool *pool;
	pthread_t self;
	struct job jobs[SHARED_JOBS];
	int done;
	int errors; /* checked on the main thread: cmocka asserts only there */
	int create_rc;
};

static void shared_cb(void *ud, int32_t res, uint32_t flags)
{
	struct job *j = ud;
	struct shared_side *s = j->owner;
	j->calls++;
	j->res = res;
	if (flags != 0 || !pthread_equal(pthread_self(), s->self))
		s->errors++;
	s->done++;
}

static void *shared_main(void *arg)
{
	struct shared_side *s = arg;
	s->self = pthread_self();
	kio_ctx *ctx = NULL;
	s->create_rc = kio_ctx_create(&ctx, NULL, 0);
	if (s->create_rc < 0)
		return NULL;
	for (int i = 0; i < SHARED_JOBS; i++) {
		job_init(&s->jobs[i], i * 7, NULL);
		s->jobs[i].owner = s;
		if (kio_pool_submit(ctx, s->pool, plain_fn, shared_cb, &s->jobs[i]) < 0)
			s->errors++;
	}
	if (kio_ctx_run(ctx) != 0)
		s->errors++;
	kio_ctx_destroy(ctx);
	return NULL;
}

static void test_pool_shared_by_two_ctxs(void **state)
{
	(void)state;
	kio_pool *pool = pool_new(3);
	struct shared_side *sides = calloc(2, sizeof(*sides));
	assert_non_null(sides);
	pthread_t t[2];
	for (int k = 0; k < 2; k++) {
		sides[k].pool = pool;
		assert_int_equal(pthread_create(&t[k], NULL, shared_main, &sides[k]), 0);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	for (int k = 0; k < 2; k++) {
		if (sides[k].create_rc == -EPERM || sides[k].create_rc == -ENOSYS)
			exit(KT_SKIP);
		assert_int_equal(sides[k].create_rc, 0);
		assert_int_equal(sides[k].errors, 0);
		assert_int_equal(sides[k].done, SHARED_JOBS);
		for (int i = 0; i < SHARED_JOBS; i++) {
			assert_int_equal(sides[k].jobs[i].calls, 1);
			assert_int_equal(sides[k].jobs[i].res, i * 7);
		}
	}
	kio_pool_destroy(pool);
	free(sides);
}

/* Jobs submitted from callbacks keep a chain going through the pool. */
struct chain {
	kio_ctx *ctx;
	kio_pool *pool;
	int left;
	int sum;
	int err;
	int done;
};

static int chain_fn(void *ud)
{
	struct chain *c = ud;
	return c->left;
}

static void chain_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)flags;
	struct chain *c = ud;
	c->sum += res;
	if (--c->left == 0) {
		c->done = 1;
		return;
	}
	int64_t id = kio_pool_submit(c->ctx, c->pool, chain_fn, chain_cb, c);
	if (id < 0) {
		c->err = (int)id;
		c->done = 1;
	}
}

static void test_pool_chain_from_callbacks(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(2);
	struct chain c = {ctx, pool, 50, 0, 0, 0};
	assert_true(kio_pool_submit(ctx, pool, chain_fn, chain_cb, &c) >= 0);
	kt_run_until(ctx, &c.done, 5000);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.sum, 50 * 51 / 2);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
}

static void test_pool_bad_args(void **state)
{
	(void)state;
	kio_pool *pool = (kio_pool *)&pool;
	assert_int_equal(kio_pool_create(NULL, 1), -EINVAL);
	assert_int_equal(kio_pool_create(&pool, 0), -EINVAL);
	assert_null(pool);
	pool = (kio_pool *)&pool;
	assert_int_equal(kio_pool_create(&pool, 1025), -EINVAL);
	assert_null(pool);

	kio_ctx *ctx = kt_ctx_new();
	pool = pool_new(1);
	struct job j;
	job_init(&j, 0, NULL);
	assert_int_equal(kio_pool_submit(NULL, pool, plain_fn, job_cb, &j), -EINVAL);
	assert_int_equal(kio_pool_submit(ctx, NULL, plain_fn, job_cb, &j), -EINVAL);
	assert_int_equal(kio_pool_submit(ctx, pool, NULL, job_cb, &j), -EINVAL);
	assert_int_equal(kio_pool_submit(ctx, pool, plain_fn, NULL, &j), -EINVAL);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	assert_int_equal(j.calls, 0);
	assert_int_equal(atomic_load(&j.fn_runs), 0);
}

static int null_fn(void *ud)
{
	return ud == NULL ? 3 : -1;
}

static int g_null_res;
static void null_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)flags;
	g_null_res = ud == NULL ? res : -1000;
}

static void test_pool_null_user_data(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	g_null_res = 0;
	assert_true(kio_pool_submit(ctx, pool, null_fn, null_cb, NULL) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(g_null_res, 3);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
}

/* A second kio_pool_destroy() used to hang on the freed pool's mutex. */
static void pool_destroy_twice(void)
{
	kio_pool *pool = NULL;
	if (kio_pool_create(&pool, 2) != 0)
		_exit(0);
	kio_pool_destroy(pool);
	kio_pool_destroy(pool);
}

static void test_pool_destroy_twice_caught(void **state)
{
	(void)state;
	kt_expect_misuse_caught(pool_destroy_twice, "kio_pool_destroy(");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_pool_many_jobs),
		KT_TEST(test_pool_threads_block_signals),
		KT_TEST(test_pool_cancel_queued),
		KT_TEST(test_pool_cancel_running),
		KT_TEST(test_pool_cancel_races_job),
		KT_TEST(test_pool_timeout_queued),
		KT_TEST(test_pool_timeout_running),
		KT_TEST(test_pool_destroy_with_jobs),
		KT_TEST(test_pool_destroy_idle),
		KT_TEST(test_pool_ctx_destroy_with_jobs),
		KT_TEST(test_pool_ctx_destroy_running_job_with_timeout),
		KT_TEST(test_pool_destroyed_before_ctx),
		KT_TEST(test_pool_ctx_destroy_after_result),
		KT_TEST(test_pool_shared_by_two_ctxs),
		KT_TEST(test_pool_chain_from_callbacks),
		KT_TEST(test_pool_embedded),
		KT_TEST(test_pool_bad_args),
		KT_TEST(test_pool_null_user_data),
		KT_TEST(test_pool_destroy_twice_caught),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
