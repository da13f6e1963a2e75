/* SPDX-License-Identifier: MIT */
/* kio_ctx_cancel_all: every pending op of the context ends once. */
#include "kio_test.h"

#include <poll.h>
#include <sys/socket.h>

/* A mix of kinds: kernel ops, a user-space timer, a periodic timer and a
 * multishot poll; each callback once, with -ECANCELED. */
static void check_all_cancelled(int run_first)
{
	kio_ctx *ctx = kt_ctx_new();
	int p[2], sv[2];
	kt_pipe(p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct kt_rec rd = {0}, pl = {0}, sl = {0}, per = {0}, ms = {0}, rv = {0};
	char buf[8], rbuf[8];
	assert_true(kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, kt_rec_cb, &rd) >= 0);
	assert_true(kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &pl) >= 0);
	assert_true(kio_sleep(ctx, 3600000 * KT_MS, kt_rec_cb, &sl) >= 0);
	assert_true(kio_timer_periodic(ctx, 3600000 * KT_MS, kt_rec_cb, &per) >= 0);
	assert_true(kio_poll_multishot(ctx, sv[0], POLLIN, kt_rec_cb, &ms) >= 0);
	assert_true(kio_recv(ctx, sv[1], rbuf, sizeof(rbuf), 0, kt_rec_cb, &rv) >= 0);
	if (run_first) /* hand the kernel ops to the kernel first */
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(kio_ctx_cancel_all(ctx), 6);
	/* Asynchronous: nothing ran inside the call. */
	assert_int_equal(rd.calls + pl.calls + sl.calls + per.calls + ms.calls + rv.calls, 0);
	/* Asked already: a second call finds nothing new to ask. */
	assert_int_equal(kio_ctx_cancel_all(ctx), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	struct kt_rec *all[] = {&rd, &pl, &sl, &per, &ms, &rv};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_int_equal(all[i]->finals, 1);
		assert_int_equal(all[i]->res, -ECANCELED);
		assert_int_equal(all[i]->flags & KIO_F_MORE, 0);
	}
	assert_int_equal(rd.calls + pl.calls + sl.calls + per.calls + rv.calls, 5);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(rd.calls + pl.calls + sl.calls + per.calls + ms.finals + rv.calls, 6);
	kt_close_pipe(p);
	close(sv[0]);
	close(sv[1]);
}

static void test_cancel_all_before_submit(void **state)
{
	(void)state;
	check_all_cancelled(0);
}

static void test_cancel_all_in_kernel(void **state)
{
	(void)state;
	check_all_cancelled(1);
}

static void test_cancel_all_idle(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	assert_int_equal(kio_ctx_cancel_all(ctx), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	kt_drain_destroy(ctx);
}

static void test_cancel_all_bad_args(void **state)
{
	(void)state;
	assert_int_equal(kio_ctx_cancel_all(NULL), -EINVAL);
}

struct foreign {
	kio_ctx *ctx;
	int rc;
};

static void *cancel_from_thread(void *arg)
{
	struct foreign *f = (struct foreign *)arg;
	f->rc = kio_ctx_cancel_all(f->ctx);
	return NULL;
}

static void test_cancel_all_foreign_thread(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec sl = {0};
	assert_true(kio_sleep(ctx, 20 * KT_MS, kt_rec_cb, &sl) >= 0);
	/* The first thread to run a context owns it. */
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	struct foreign f = {ctx, 0};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cancel_from_thread, &f), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(f.rc, -EPERM);
	/* Nothing was cancelled: the timer fires. */
	assert_int_equal(kt_await_op(ctx, 0, &sl), 0);
	kt_drain_destroy(ctx);
}

/* A read whose data is already there races the cancel: it ends once, with
 * its byte or with -ECANCELED, never both. */
static void test_cancel_all_racing_completion(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec rd = {0};
	char buf[4];
	assert_true(kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, kt_rec_cb, &rd) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	int n = kio_ctx_cancel_all(ctx);
	assert_true(n == 0 || n == 1);
	kt_run_until(ctx, &rd.done, 5000);
	assert_int_equal(rd.calls, 1);
	assert_true(rd.res == 1 || rd.res == -ECANCELED);
	kt_drain_destroy(ctx);
	assert_int_equal(rd.calls, 1);
	kt_close_pipe(p);
}

/* Ops started by the callbacks of cancelled ones are new: not cancelled. */
struct restart {
	kio_ctx *ctx;
	int first_res;
	struct kt_rec second;
};

static void restart_cb(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	struct restart *r = (struct restart *)user_data;
	r->first_res = res;
	assert_true(kio_sleep(r->ctx, 1 * KT_MS, kt_rec_cb, &r->second) >= 0);
}

static void test_cancel_all_later_ops_untouched(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct restart r = {ctx, 0, {0}};
	assert_true(kio_sleep(ctx, 3600000 * KT_MS, restart_cb, &r) >= 0);
	assert_int_equal(kio_ctx_cancel_all(ctx), 1);
	kt_run_until(ctx, &r.second.done, 5000);
	assert_int_equal(r.first_res, -ECANCELED);
	assert_int_equal(r.second.calls, 1);
	assert_int_equal(r.second.res, 0);
	kt_drain_destroy(ctx);
}

/* Destroyed right after the call, with the cancels still in flight: each
 * callback still runs exactly once. */
static void test_cancel_all_then_destroy(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec rd[16];
	char buf[16][4];
	memset(rd, 0, sizeof(rd));
	for (int i = 0; i < 16; i++)
		assert_true(kio_read(ctx, p[0], buf[i], sizeof(buf[i]), KIO_OFFSET_CURRENT, kt_rec_cb,
				     &rd[i]) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(kio_ctx_cancel_all(ctx), 16);
	kio_ctx_destroy(ctx);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(rd[i].calls, 1);
		assert_true(rd[i].res == -ECANCELED || rd[i].res == -ESHUTDOWN);
	}
	kt_close_pipe(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_cancel_all_before_submit),
		KT_TEST(test_cancel_all_in_kernel),
		KT_TEST(test_cancel_all_idle),
		KT_TEST(test_cancel_all_bad_args),
		KT_TEST(test_cancel_all_foreign_thread),
		KT_TEST(test_cancel_all_racing_completion),
		KT_TEST(test_cancel_all_later_ops_untouched),
		KT_TEST(test_cancel_all_then_destroy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
