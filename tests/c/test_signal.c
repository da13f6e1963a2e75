/* SPDX-License-Identifier: MIT */
/*
 * Signal sets: signals sent from another thread or to the process complete
 * waits, one signal per wait; waits can be cancelled and timed out; the
 * mask is restored at destroy; bad arguments are refused.
 *
 * main() blocks the signals used here before any thread starts, as a
 * program using signal sets must.
 */
#include "kio_test.h"

#include <signal.h>

static pthread_t g_main_thread;

static kio_signal_set *set_new(const int *sigs, size_t n)
{
	kio_signal_set *set = NULL;
	assert_int_equal(kio_signal_set_create(&set, sigs, n), 0);
	assert_non_null(set);
	return set;
}

/* Runs ctx until a timer of ms fired; asserts nothing else ended meanwhile. */
static void sleep_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)flags;
	*(int *)ud = res == 0 ? 1 : -1;
}

static void run_ms(kio_ctx *ctx, uint64_t ms)
{
	int fired = 0;
	assert_true(kio_sleep(ctx, ms * KT_MS, sleep_cb, &fired) >= 0);
	kt_run_until(ctx, &fired, 5000);
	assert_int_equal(fired, 1);
}

struct sender {
	pthread_t target; /* thread to signal; ignored when to_process */
	int to_process;
	int sig;
	int rc;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	s->rc = s->to_process ? kill(getpid(), s->sig) : pthread_kill(s->target, s->sig);
	return NULL;
}

static void send_from_thread(int sig, int to_process)
{
	struct sender s = {g_main_thread, to_process, sig, -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, sender_main, &s), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.rc, 0);
}

static void test_signal_pthread_kill_from_thread(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR1};
	kio_signal_set *set = set_new(sigs, 1);
	struct kt_rec r;
	int64_t id = kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 1); /* the poll is armed before the signal comes */
	send_from_thread(SIGUSR1, 0);
	assert_int_equal(kt_await_op(ctx, id, &r), SIGUSR1);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

static void test_signal_kill_process(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR1, SIGUSR2};
	kio_signal_set *set = set_new(sigs, 2);
	struct kt_rec r;
	int64_t id = kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 1);
	send_from_thread(SIGUSR2, 1);
	assert_int_equal(kt_await_op(ctx, id, &r), SIGUSR2);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

/* A signal that came before any wait stays pending and completes the next one. */
static void test_signal_pending_before_wait(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR1};
	kio_signal_set *set = set_new(sigs, 1);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	struct kt_rec r;
	assert_int_equal(kt_await_op(ctx, kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&r)),
				     &r),
			 SIGUSR1);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

static void test_signal_two_waits_two_signals(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR1, SIGUSR2};
	kio_signal_set *set = set_new(sigs, 2);
	struct kt_rec a, b;
	assert_true(kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&a)) >= 0);
	assert_true(kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&b)) >= 0);
	kt_run_for(ctx, 1);
	send_from_thread(SIGUSR1, 1);
	send_from_thread(SIGUSR2, 1);
	kt_run_until(ctx, &a.done, 5000);
	kt_run_until(ctx, &b.done, 5000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_true((a.res == SIGUSR1 && b.res == SIGUSR2) ||
		    (a.res == SIGUSR2 && b.res == SIGUSR1));
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

/* One signal completes one wait: the other keeps waiting until cancelled. */
static void test_signal_one_signal_two_waits(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR1};
	kio_signal_set *set = set_new(sigs, 1);
	struct kt_rec a, b;
	int64_t ida = kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&a));
	int64_t idb = kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&b));
	assert_true(ida >= 0 && idb >= 0);
	kt_run_for(ctx, 1);
	send_from_thread(SIGUSR1, 1);
	while (!a.done && !b.done)
		assert_true(kio_ctx_run_once(ctx, -1) >= 0);
	run_ms(ctx, 50);
	assert_int_equal(a.done + b.done, 1);
	struct kt_rec *got = a.done ? &a : &b;
	struct kt_rec *left = a.done ? &b : &a;
	assert_int_equal(got->res, SIGUSR1);
	assert_int_equal(got->calls, 1);
	assert_int_equal(left->calls, 0);
	assert_int_equal(kio_op_cancel(ctx, a.done ? idb : ida), 0);
	kt_run_until(ctx, &left->done, 5000);
	assert_int_equal(left->calls, 1);
	assert_int_equal(left->res, -ECANCELED);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

/* Standard signals do not queue: two before a wait make one completion. */
static void test_signal_standard_signals_merge(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR2};
	kio_signal_set *set = set_new(sigs, 1);
	assert_int_equal(kill(getpid(), SIGUSR2), 0);
	assert_int_equal(kill(getpid(), SIGUSR2), 0);
	struct kt_rec a, b;
	assert_int_equal(kt_await_op(ctx, kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&a)),
				     &a),
			 SIGUSR2);
	int64_t idb = kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&b));
	assert_true(idb >= 0);
	run_ms(ctx, 50);
	assert_int_equal(b.calls, 0);
	assert_int_equal(kio_op_cancel(ctx, idb), 0);
	assert_int_equal(kt_await_op(ctx, idb, &b), -ECANCELED);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

/* Real-time signals queue: each one sent completes a wait. */
static void test_signal_realtime_queue(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGRTMIN};
	kio_signal_set *set = set_new(sigs, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kill(getpid(), SIGRTMIN), 0);
	for (int i = 0; i < 3; i++) {
		struct kt_rec r;
		assert_int_equal(kt_await_op(ctx,
					     kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&r)),
					     &r),
				 SIGRTMIN);
	}
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

/* A wait started from the callback of the last: a loop over signals. */
struct rewait {
	kio_ctx *ctx;
	kio_signal_set *set;
	int got[4];
	int n;
	int err;
};

static void rewait_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)flags;
	struct rewait *w = ud;
	w->got[w->n++] = res;
	if (w->n < 3) {
		int64_t id = kio_signal_wait(w->ctx, w->set, rewait_cb, w);
		if (id < 0)
			w->err = (int)id;
	}
}

static void test_signal_repeated_rewait(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR1, SIGUSR2};
	kio_signal_set *set = set_new(sigs, 2);
	struct rewait w = {ctx, set, {0}, 0, 0};
	assert_true(kio_signal_wait(ctx, set, rewait_cb, &w) >= 0);
	int order[3] = {SIGUSR1, SIGUSR2, SIGUSR1};
	for (int i = 0; i < 3; i++) {
		kt_run_for(ctx, 1);
		send_from_thread(order[i], i != 1);
		uint64_t deadline = kt_now_ns() + 5000 * KT_MS;
		while (w.n <= i && kt_now_ns() < deadline)
			assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
		assert_int_equal(w.n, i + 1);
		assert_int_equal(w.got[i], order[i]);
	}
	assert_int_equal(w.err, 0);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

/* A cancelled wait leaves the signal for the next wait. */
static void test_signal_cancel(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR1};
	kio_signal_set *set = set_new(sigs, 1);
	struct kt_rec r;
	int64_t id = kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 1);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(r.calls, 0);
	kt_run_until(ctx, &r.done, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ECANCELED);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	send_from_thread(SIGUSR1, 1);
	assert_int_equal(kt_await_op(ctx, kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&r)),
				     &r),
			 SIGUSR1);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

static void test_signal_timeout(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR2};
	kio_signal_set *set = set_new(sigs, 1);
	struct kt_rec r;
	int64_t id = kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 5 * KT_MS), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ETIMEDOUT);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

/* Two sets share no signal: each wait gets only its own set's signals. */
static void test_signal_two_sets(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int s1[] = {SIGUSR1}, s2[] = {SIGUSR2};
	kio_signal_set *set1 = set_new(s1, 1);
	kio_signal_set *set2 = set_new(s2, 1);
	struct kt_rec a, b;
	int64_t ida = kio_signal_wait(ctx, set1, kt_rec_cb, kt_rec_reset(&a));
	int64_t idb = kio_signal_wait(ctx, set2, kt_rec_cb, kt_rec_reset(&b));
	assert_true(ida >= 0 && idb >= 0);
	kt_run_for(ctx, 1);
	send_from_thread(SIGUSR2, 1);
	kt_run_until(ctx, &b.done, 5000);
	assert_int_equal(b.res, SIGUSR2);
	run_ms(ctx, 20);
	assert_int_equal(a.calls, 0);
	send_from_thread(SIGUSR1, 0);
	kt_run_until(ctx, &a.done, 5000);
	assert_int_equal(a.res, SIGUSR1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set1);
	kio_signal_set_destroy(set2);
}

static void test_signal_ctx_destroy_cancels(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int sigs[] = {SIGUSR1};
	kio_signal_set *set = set_new(sigs, 1);
	struct kt_rec a, b;
	assert_true(kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&a)) >= 0);
	assert_true(kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&b)) >= 0);
	kt_run_for(ctx, 1);
	kio_ctx_destroy(ctx);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.res, -ECANCELED);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.res, -ECANCELED);
	kio_signal_set_destroy(set);
}

/* With SQPOLL the kernel polls from its own thread: signals sent to the
 * process still complete waits. */
static void test_signal_sqpoll_process(void **state)
{
	(void)state;
	kio_ctx_opts o;
	kio_ctx_opts_init(&o, sizeof(o));
	o.flags = KIO_CTX_SQPOLL;
	kio_ctx *ctx = NULL;
	int rc = kio_ctx_create(&ctx, &o, sizeof(o));
	if (rc == -EPERM || rc == -ENOSYS || rc == -EINVAL) {
		print_message("no SQPOLL ring here (%s): skipping\n", kio_strerror(rc));
		skip();
	}
	assert_int_equal(rc, 0);
	int sigs[] = {SIGUSR2};
	kio_signal_set *set = set_new(sigs, 1);
	struct kt_rec r;
	int64_t id = kio_signal_wait(ctx, set, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 1);
	send_from_thread(SIGUSR2, 1);
	assert_int_equal(kt_await_op(ctx, id, &r), SIGUSR2);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
}

static int blocked_here(int sig)
{
	sigset_t cur;
	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	return sigismember(&cur, sig);
}

/* Create blocks in the calling thread; destroy gives back the old mask. */
static void test_signal_mask_restored(void **state)
{
	(void)state;
	assert_int_equal(blocked_here(SIGURG), 0); /* main() left it alone */
	assert_int_equal(blocked_here(SIGUSR1), 1);
	int sigs[] = {SIGURG, SIGUSR1};
	kio_signal_set *set = set_new(sigs, 2);
	assert_int_equal(blocked_here(SIGURG), 1);
	assert_int_equal(blocked_here(SIGUSR1), 1);
	int fds = kt_count_fds();
	kio_signal_set_destroy(set);
	assert_int_equal(kt_count_fds(), fds - 1);
	assert_int_equal(blocked_here(SIGURG), 0);
	assert_int_equal(blocked_here(SIGUSR1), 1); /* it was blocked before */
	kio_signal_set_destroy(NULL);
}

static void test_signal_bad_args(void **state)
{
	(void)state;
	kio_signal_set *set = (kio_signal_set *)&set;
	int ok[] = {SIGUSR1};
	assert_int_equal(kio_signal_set_create(NULL, ok, 1), -EINVAL);
	assert_int_equal(kio_signal_set_create(&set, NULL, 1), -EINVAL);
	assert_null(set);
	assert_int_equal(kio_signal_set_create(&set, ok, 0), -EINVAL);
	int bad[][2] = {{SIGUSR1, SIGKILL}, {SIGSTOP, SIGUSR1}, {0, SIGUSR1}, {SIGUSR1, -1},
			{SIGUSR1, 65},      {SIGUSR1, 32},      {SIGUSR1, 33}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set = (kio_signal_set *)&set;
		assert_int_equal(kio_signal_set_create(&set, bad[i], 2), -EINVAL);
		assert_null(set);
	}
	assert_int_equal(blocked_here(SIGURG), 0);
	int urg[] = {SIGURG, SIGKILL};
	assert_int_equal(kio_signal_set_create(&set, urg, 2), -EINVAL);
	assert_int_equal(blocked_here(SIGURG), 0); /* a refused set blocks nothing */

	kio_ctx *ctx = kt_ctx_new();
	set = set_new(ok, 1);
	struct kt_rec r;
	kt_rec_reset(&r);
	assert_int_equal(kio_signal_wait(NULL, set, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_signal_wait(ctx, NULL, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_signal_wait(ctx, set, NULL, &r), -EINVAL);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kt_drain_destroy(ctx);
	kio_signal_set_destroy(set);
	assert_int_equal(r.calls, 0);
}

int main(void)
{
	/* Before any thread starts, so none takes these signals the old way. */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGRTMIN);
	if (pthread_sigmask(SIG_BLOCK, &block, NULL) != 0)
		return 1;
	g_main_thread = pthread_self();
	const struct CMUnitTest tests[] = {
		KT_TEST(test_signal_pthread_kill_from_thread),
		KT_TEST(test_signal_kill_process),
		KT_TEST(test_signal_pending_before_wait),
		KT_TEST(test_signal_two_waits_two_signals),
		KT_TEST(test_signal_one_signal_two_waits),
		KT_TEST(test_signal_standard_signals_merge),
		KT_TEST(test_signal_realtime_queue),
		KT_TEST(test_signal_repeated_rewait),
		KT_TEST(test_signal_cancel),
		KT_TEST(test_signal_timeout),
		KT_TEST(test_signal_two_sets),
		KT_TEST(test_signal_ctx_destroy_cancels),
		KT_TEST(test_signal_sqpoll_process),
		KT_TEST(test_signal_mask_restored),
		KT_TEST(test_signal_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
