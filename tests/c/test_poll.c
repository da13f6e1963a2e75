/* SPDX-License-Identifier: MIT */
/*
 * kio_poll and kio_poll_multishot on pipes: readiness reported as revents,
 * KIO_F_MORE on every multishot callback but the last, cancel ends a
 * multishot poll with exactly one final callback, and fd errors.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <poll.h>

#define WAIT_MS 5000
#define CLOSED_FD 9999

/* Rounds that do not wait: an idle poll must stay pending through them. */
static void spin_idle(kio_ctx *ctx, int rounds)
{
	for (int i = 0; i < rounds; i++)
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
}

static void test_poll_readable_after_write(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int p[2];
	char c;
	kt_pipe(p);

	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(kio_ctx_pending(ctx), 1);

	/* Nothing to read yet. */
	spin_idle(ctx, 5);
	assert_int_equal(r.calls, 0);

	assert_int_equal(write(p[1], "x", 1), 1);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.calls, 1);
	assert_true(r.res > 0);
	assert_true(r.res & POLLIN);
	assert_int_equal(r.flags & KIO_F_MORE, 0);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	assert_int_equal(read(p[0], &c, 1), 1);
	kt_close_pipe(p);
	kt_drain_destroy(ctx);
}

static void test_poll_already_ready(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int p[2];
	kt_pipe(p);

	/* Readable before the poll starts: still not reported inline. */
	assert_int_equal(write(p[1], "x", 1), 1);
	int32_t res = kt_await_op(ctx, kio_poll(ctx, p[0], POLLIN, kt_rec_cb, kt_rec_reset(&r)), &r);
	assert_true(res & POLLIN);

	/* An empty pipe's write end is writable. */
	res = kt_await_op(ctx, kio_poll(ctx, p[1], POLLOUT, kt_rec_cb, kt_rec_reset(&r)), &r);
	assert_true(res & POLLOUT);
	assert_false(res & POLLIN);

	kt_close_pipe(p);
	kt_drain_destroy(ctx);
}

static void test_poll_hangup(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int p[2];
	kt_pipe(p);

	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	spin_idle(ctx, 2);
	assert_int_equal(r.calls, 0);

	/* The writer goes away: POLLHUP is reported even though not asked for. */
	assert_int_equal(close(p[1]), 0);
	p[1] = -1;
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.calls, 1);
	assert_true(r.res & POLLHUP);

	kt_close_pipe(p);
	kt_drain_destroy(ctx);
}

static void test_poll_cancel(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int p[2];
	kt_pipe(p);

	int64_t id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	spin_idle(ctx, 2);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(r.calls, 0);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ECANCELED);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	kt_close_pipe(p);
	kt_drain_destroy(ctx);
}

/* What a multishot poll delivered. */
struct ms_rec {
	int more;     /* callbacks with KIO_F_MORE */
	int more_bad; /* of those, how many lacked POLLIN */
	int finals;   /* callbacks without KIO_F_MORE */
	int after_final; /* callbacks after the final one: must stay 0 */
	int32_t final_res;
	int done;
};

static void ms_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct ms_rec *m = user_data;
	if (m->finals)
		m->after_final++;
	if (flags & KIO_F_MORE) {
		m->more++;
		if (res < 0 || !(res & POLLIN))
			m->more_bad++;
	} else {
		m->finals++;
		m->final_res = res;
		m->done = 1;
	}
}

static void test_poll_multishot_more_then_cancel(void **state)
{
	(void)state;
	enum { ROUNDS = 5 };
	kio_ctx *ctx = kt_ctx_new();
	struct ms_rec m = { 0 };
	int p[2];
	char c;
	kt_pipe(p);

	int64_t id = kio_poll_multishot(ctx, p[0], POLLIN, ms_cb, &m);
	assert_true(id >= 0);
	assert_int_equal(m.more + m.finals, 0);
	assert_int_equal(kio_ctx_pending(ctx), 1);
	spin_idle(ctx, 3);
	assert_int_equal(m.more + m.finals, 0);

	/* Each write wakes the poll once more; draining re-arms the edge. */
	for (int i = 0; i < ROUNDS; i++) {
		int before = m.more;
		assert_int_equal(write(p[1], "x", 1), 1);
		uint64_t deadline = kt_now_ns() + (uint64_t)WAIT_MS * 1000000ull;
		while (m.more == before && !m.done) {
			assert_true(kt_now_ns() < deadline);
			assert_true(kio_ctx_run_once(ctx, 100 * 1000000ll) >= 0);
		}
		assert_int_equal(m.finals, 0);
		assert_true(m.more > before);
		assert_int_equal(read(p[0], &c, 1), 1);
		assert_int_equal(kio_ctx_pending(ctx), 1);
	}
	assert_true(m.more >= ROUNDS);
	assert_int_equal(m.more_bad, 0);

	int more_before_cancel = m.more;
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(m.finals, 0);
	kt_run_until(ctx, &m.done, WAIT_MS);
	assert_int_equal(m.finals, 1);
	assert_int_equal(m.final_res, -ECANCELED);
	assert_int_equal(m.more, more_before_cancel);

	/* Nothing after the final call, even with fresh data. */
	assert_int_equal(write(p[1], "y", 1), 1);
	spin_idle(ctx, 3);
	assert_int_equal(m.after_final, 0);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);
	assert_int_equal(kio_ctx_pending(ctx), 0);

	kt_close_pipe(p);
	kt_drain_destroy(ctx);
	assert_int_equal(m.finals, 1);
	assert_int_equal(m.after_final, 0);
}

static void test_poll_bad_fd(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct ms_rec m = { 0 };
	int p[2];
	kt_pipe(p);

	errno = 0;
	assert_int_equal(fcntl(CLOSED_FD, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(kt_await_op(ctx, kio_poll(ctx, CLOSED_FD, POLLIN, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EBADF);

	/* A multishot poll that cannot start ends with one final callback. */
	int64_t id = kio_poll_multishot(ctx, CLOSED_FD, POLLIN, ms_cb, &m);
	assert_true(id >= 0);
	assert_int_equal(m.finals, 0);
	kt_run_until(ctx, &m.done, WAIT_MS);
	assert_int_equal(m.finals, 1);
	assert_int_equal(m.more, 0);
	assert_int_equal(m.final_res, -EBADF);

	kt_rec_reset(&r);
	assert_int_equal(kio_poll(ctx, -1, POLLIN, kt_rec_cb, &r), -EBADF);
	assert_int_equal(kio_poll_multishot(ctx, -1, POLLIN, kt_rec_cb, &r), -EBADF);
	assert_int_equal(kio_poll(ctx, p[0], POLLIN, NULL, &r), -EINVAL);
	assert_int_equal(kio_poll_multishot(ctx, p[0], POLLIN, NULL, &r), -EINVAL);
	assert_int_equal(kio_poll(NULL, p[0], POLLIN, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_poll_multishot(NULL, p[0], POLLIN, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	spin_idle(ctx, 2);
	assert_int_equal(r.calls, 0);

	kt_close_pipe(p);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
	assert_int_equal(m.after_final, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_poll_readable_after_write),
		KT_TEST(test_poll_already_ready),
		KT_TEST(test_poll_hangup),
		KT_TEST(test_poll_cancel),
		KT_TEST(test_poll_multishot_more_then_cancel),
		KT_TEST(test_poll_bad_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
