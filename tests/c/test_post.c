/* SPDX-License-Identifier: MIT */
/* kio_ctx_post: thread-safe, FIFO per poster, never inline, cancelled at destroy,
 * and run without a system call when posted on the loop's own thread. */
#include "kio_test.h"

#include <stdatomic.h>

#define PER_THREAD 20000
#define POSTERS 2

struct item {
	int poster;
	int seq;
	int calls;
	int32_t res;
	uint32_t flags;
};

struct post_state {
	kio_ctx *ctx;
	pthread_t loop_thread;
	struct item items[POSTERS][PER_THREAD];
	int last_seq[POSTERS];
	int order_errors;
	int thread_errors;
	int res_errors;
	int total;
	atomic_int post_failures;
	atomic_int go;
};

static struct post_state *g_ps;

static void item_cb(void *ud, int32_t res, uint32_t flags)
{
	struct item *it = ud;
	struct post_state *ps = g_ps;
	it->calls++;
	it->res = res;
	it->flags = flags;
	if (!pthread_equal(pthread_self(), ps->loop_thread))
		ps->thread_errors++;
	if (res != 0 || flags != 0)
		ps->res_errors++;
	if (it->seq != ps->last_seq[it->poster] + 1)
		ps->order_errors++;
	ps->last_seq[it->poster] = it->seq;
	ps->total++;
}

struct poster_arg {
	struct post_state *ps;
	int poster;
};

static void *poster_main(void *arg)
{
	struct poster_arg *pa = arg;
	struct post_state *ps = pa->ps;
	while (!atomic_load(&ps->go))
		sched_yield();
	for (int i = 0; i < PER_THREAD; i++) {
		int rc = kio_ctx_post(ps->ctx, item_cb, &ps->items[pa->poster][i]);
		if (rc != 0)
			atomic_fetch_add(&ps->post_failures, 1);
	}
	return NULL;
}

static void test_post_two_threads_fifo(void **state)
{
	(void)state;
	struct post_state *ps = calloc(1, sizeof(*ps));
	assert_non_null(ps);
	g_ps = ps;
	ps->ctx = kt_ctx_new();
	ps->loop_thread = pthread_self();
	atomic_init(&ps->post_failures, 0);
	atomic_init(&ps->go, 0);
	for (int t = 0; t < POSTERS; t++) {
		ps->last_seq[t] = -1;
		for (int i = 0; i < PER_THREAD; i++) {
			ps->items[t][i].poster = t;
			ps->items[t][i].seq = i;
		}
	}

	pthread_t th[POSTERS];
	struct poster_arg pa[POSTERS];
	for (int t = 0; t < POSTERS; t++) {
		pa[t].ps = ps;
		pa[t].poster = t;
		assert_int_equal(pthread_create(&th[t], NULL, poster_main, &pa[t]), 0);
	}
	atomic_store(&ps->go, 1);

	uint64_t deadline = kt_now_ns() + 60000 * KT_MS;
	while (ps->total < POSTERS * PER_THREAD) {
		uint64_t now = kt_now_ns();
		if (now >= deadline)
			break;
		int rc = kio_ctx_run_once(ps->ctx, (int64_t)(100 * KT_MS));
		if (rc < 0)
			break;
	}
	for (int t = 0; t < POSTERS; t++)
		pthread_join(th[t], NULL);

	assert_int_equal(atomic_load(&ps->post_failures), 0);
	assert_int_equal(ps->total, POSTERS * PER_THREAD);
	assert_int_equal(ps->thread_errors, 0);
	assert_int_equal(ps->order_errors, 0);
	assert_int_equal(ps->res_errors, 0);
	for (int t = 0; t < POSTERS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			assert_int_equal(ps->items[t][i].calls, 1);
	kt_drain_destroy(ps->ctx);
	g_ps = NULL;
	free(ps);
}

static void test_post_before_run(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r = {0};
	assert_int_equal(kio_ctx_post(ctx, kt_rec_cb, &r), 0);
	assert_int_equal(r.calls, 0);
	/* A queued post keeps run from returning before it ran. */
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 0);
	assert_int_equal(r.flags, 0);
	assert_true(pthread_equal(r.thread, pthread_self()));
	kt_drain_destroy(ctx);
}

struct nested {
	kio_ctx *ctx;
	int outer_calls;
	int post_rc;
	int inner_calls_after_post;
	struct kt_rec inner;
};

static void outer_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)res;
	(void)flags;
	struct nested *n = ud;
	n->outer_calls++;
	n->post_rc = kio_ctx_post(n->ctx, kt_rec_cb, &n->inner);
	n->inner_calls_after_post = n->inner.calls;
}

static void test_post_never_inline(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct nested a = {.ctx = ctx}, b = {.ctx = ctx};

	/* From the loop thread outside the loop. */
	struct kt_rec r = {0};
	assert_int_equal(kio_ctx_post(ctx, kt_rec_cb, &r), 0);
	assert_int_equal(r.calls, 0);

	/* From inside a posted callback and inside an op callback. */
	assert_int_equal(kio_ctx_post(ctx, outer_cb, &a), 0);
	assert_true(kio_nop(ctx, outer_cb, &b) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);

	assert_int_equal(r.calls, 1);
	for (struct nested *n = &a; n; n = (n == &a) ? &b : NULL) {
		assert_int_equal(n->outer_calls, 1);
		assert_int_equal(n->post_rc, 0);
		assert_int_equal(n->inner_calls_after_post, 0);
		assert_int_equal(n->inner.calls, 1);
		assert_int_equal(n->inner.res, 0);
	}
	kt_drain_destroy(ctx);
}

struct ordered {
	int *log;
	int *n;
	int id;
	int32_t res;
	int calls;
};

static void ordered_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)flags;
	struct ordered *o = ud;
	o->calls++;
	o->res = res;
	o->log[(*o->n)++] = o->id;
}

static void test_post_pending_at_destroy(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int log[10], n = 0;
	struct ordered o[10];
	for (int i = 0; i < 10; i++) {
		o[i] = (struct ordered){.log = log, .n = &n, .id = i};
		assert_int_equal(kio_ctx_post(ctx, ordered_cb, &o[i]), 0);
	}
	kio_ctx_destroy(ctx);
	assert_int_equal(n, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].res, -ECANCELED);
		assert_int_equal(log[i], i);
	}
}

/* Posts made on the loop's own thread run without the kernel's help: no
 * eventfd is written, so no read on it completes and none is re-armed, and
 * the loop neither waits nor (io_uring) enters the kernel to run them. */
struct local_post {
	kio_ctx *ctx;
	struct ordered o[6];
};

static void local_chain_cb(void *ud, int32_t res, uint32_t flags)
{
	struct local_post *lp = ud;
	ordered_cb(&lp->o[1], res, flags);
	/* From inside a posted callback: after everything queued before. */
	assert_int_equal(kio_ctx_post(lp->ctx, ordered_cb, &lp->o[4]), 0);
	assert_int_equal(kio_ctx_post(lp->ctx, ordered_cb, &lp->o[5]), 0);
}

static void test_post_own_thread_no_wake(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	/* Claim the ctx for this thread and let the wake-up read reach the ring. */
	struct kt_rec r = {0};
	assert_true(kio_nop(ctx, kt_rec_cb, &r) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(r.calls, 1);

	static struct local_post lp;
	int log[6], n = 0;
	lp.ctx = ctx;
	for (int i = 0; i < 6; i++)
		lp.o[i] = (struct ordered){.log = log, .n = &n, .id = i};
	kio_stats s0, s1;
	assert_int_equal(kio_ctx_stats(ctx, &s0, sizeof(s0)), 0);

	assert_int_equal(kio_ctx_post(ctx, ordered_cb, &lp.o[0]), 0);
	assert_int_equal(kio_ctx_post(ctx, local_chain_cb, &lp), 0);
	assert_int_equal(kio_ctx_post(ctx, ordered_cb, &lp.o[2]), 0);
	assert_int_equal(kio_ctx_post(ctx, ordered_cb, &lp.o[3]), 0);
	assert_int_equal(n, 0); /* never inline */
	/* Waiting without limit returns: the loop saw the posts before waiting. */
	assert_true(kio_ctx_run_once(ctx, -1) >= 4);
	assert_int_equal(n, 4);
	assert_int_equal(kio_ctx_run(ctx), 0);

	assert_int_equal(n, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(log[i], i);
		assert_int_equal(lp.o[i].calls, 1);
		assert_int_equal(lp.o[i].res, 0);
	}
	assert_int_equal(kio_ctx_stats(ctx, &s1, sizeof(s1)), 0);
	/* The wake-up read never completed: it was not armed again. */
	assert_int_equal(s1.sqes_submitted, s0.sqes_submitted);
	/* The epoll backend looks at its fds on every round, without waiting. */
	if (kio_ctx_backend(ctx) == KIO_BACKEND_IO_URING)
		assert_int_equal(s1.enter_calls, s0.enter_calls);
	kt_drain_destroy(ctx);
}

static int null_ud_calls;

static void null_ud_cb(void *ud, int32_t res, uint32_t flags)
{
	if (ud == NULL && res == 0 && flags == 0)
		null_ud_calls++;
}

static void test_post_null_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r = {0};
	assert_int_equal(kio_ctx_post(ctx, NULL, &r), -EINVAL);
	assert_int_equal(kio_ctx_post(NULL, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(r.calls, 0);
	/* NULL user_data is legal and handed back as is. */
	null_ud_calls = 0;
	assert_int_equal(kio_ctx_post(ctx, null_ud_cb, NULL), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(null_ud_calls, 1);
	kt_drain_destroy(ctx);
}

/*
 * The loop may run a post, and its owner destroy the ctx, while the posting
 * thread is still inside kio_ctx_post(): nothing it does after queueing may
 * touch the ctx unguarded (TSan checks this in the threads suite).
 */
struct handoff {
	kio_ctx *ctx;
	atomic_int ran;
	int rc;
};

static void handoff_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)res;
	(void)flags;
	struct handoff *h = ud;
	atomic_store(&h->ran, 1);
}

static void *handoff_main(void *arg)
{
	struct handoff *h = arg;
	h->rc = kio_ctx_post(h->ctx, handoff_cb, h);
	return NULL;
}

static void *handoff_stop_main(void *arg)
{
	struct handoff *h = arg;
	kio_ctx_stop(h->ctx);
	return NULL;
}

static void test_post_destroy_right_after(void **state)
{
	(void)state;
	for (int i = 0; i < 200; i++) {
		struct handoff h = {.ctx = kt_ctx_new()};
		atomic_init(&h.ran, 0);
		pthread_t th;
		int stop = i & 1;
		assert_int_equal(pthread_create(&th, NULL, stop ? handoff_stop_main : handoff_main, &h), 0);
		struct kt_rec r = {0};
		if (stop) {
			/* Only the stop can end this run: a 10 s sleep is pending. */
			assert_true(kio_sleep(h.ctx, 10000 * KT_MS, kt_rec_cb, &r) >= 0);
			assert_int_equal(kio_ctx_run(h.ctx), 0);
		} else {
			while (!atomic_load(&h.ran))
				assert_true(kio_ctx_run_once(h.ctx, 1000 * (int64_t)KT_MS) >= 0);
		}
		/* The poster may still be inside kio_ctx_post()/stop() here. */
		kio_ctx_destroy(h.ctx);
		pthread_join(th, NULL);
		assert_int_equal(h.rc, 0);
		if (stop)
			assert_int_equal(r.res, -ECANCELED);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_post_two_threads_fifo),   KT_TEST(test_post_before_run),
		KT_TEST(test_post_never_inline),       KT_TEST(test_post_pending_at_destroy),
		KT_TEST(test_post_null_args),          KT_TEST(test_post_destroy_right_after),
		KT_TEST(test_post_own_thread_no_wake),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
