/* SPDX-License-Identifier: MIT */
/*
 * Registered buffers: kio_register_buffers(), kio_unregister_buffers(),
 * kio_read_fixed(), kio_write_fixed(). The transfers, every argument error
 * at the call (whose callback must never run), and the contract of any op:
 * cancel, timeout, destroy with ops in flight, a closed fd. Runs on
 * whichever backend KIO_BACKEND picks (fixed ops are plain reads and
 * writes on epoll).
 */
#include "kio_test.h"

#include <fcntl.h>
#include <sys/uio.h>

#define BUF 8192

static char bufs[2][BUF] __attribute__((aligned(4096)));

static void register_two(kio_ctx *ctx)
{
	struct iovec iov[2] = {{bufs[0], BUF}, {bufs[1], BUF}};
	assert_int_equal(kio_register_buffers(ctx, iov, 2), 0);
}

static int tmp_file(char **dir)
{
	*dir = kt_tmpdir();
	char path[300];
	snprintf(path, sizeof(path), "%s/f", *dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	return fd;
}

static void test_fixed_write_then_read(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	char *dir;
	int fd = tmp_file(&dir);
	register_two(ctx);
	memset(bufs[0], 'w', BUF);
	struct kt_rec r;
	/* Part of buffer 0, at an offset inside it. */
	int64_t id = kio_write_fixed(ctx, fd, bufs[0] + 100, 4000, 0, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 4000);
	memset(bufs[1], 0, BUF);
	id = kio_read_fixed(ctx, fd, bufs[1] + BUF - 4000, 4000, 0, 1, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 4000);
	assert_int_equal(bufs[1][BUF - 4000], 'w');
	assert_int_equal(bufs[1][BUF - 1], 'w');
	assert_int_equal(bufs[1][BUF - 4001], 0);
	/* At end of file: 0. */
	id = kio_read_fixed(ctx, fd, bufs[1], BUF, 4000, 1, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 0);
	assert_int_equal(kio_unregister_buffers(ctx), 0);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(close(fd), 0);
	kt_tmpdir_remove(dir);
}

static void test_fixed_register_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct iovec iov[2] = {{bufs[0], BUF}, {bufs[1], BUF}};
	assert_int_equal(kio_register_buffers(NULL, iov, 2), -EINVAL);
	assert_int_equal(kio_register_buffers(ctx, NULL, 2), -EINVAL);
	assert_int_equal(kio_register_buffers(ctx, iov, 0), -EINVAL);
	assert_int_equal(kio_register_buffers(ctx, iov, (1u << 14) + 1), -EINVAL);
	struct iovec bad[2] = {{bufs[0], BUF}, {NULL, BUF}};
	assert_int_equal(kio_register_buffers(ctx, bad, 2), -EINVAL);
	bad[1].iov_base = bufs[1];
	bad[1].iov_len = 0;
	assert_int_equal(kio_register_buffers(ctx, bad, 2), -EINVAL);
	bad[1].iov_len = ((size_t)1 << 30) + 1;
	assert_int_equal(kio_register_buffers(ctx, bad, 2), -EINVAL);
	/* Nothing registered by the failed calls. */
	assert_int_equal(kio_unregister_buffers(ctx), -ENXIO);
	assert_int_equal(kio_unregister_buffers(NULL), -EINVAL);
	assert_int_equal(kio_register_buffers(ctx, iov, 2), 0);
	assert_int_equal(kio_register_buffers(ctx, iov, 2), -EBUSY);
	assert_int_equal(kio_unregister_buffers(ctx), 0);
	assert_int_equal(kio_unregister_buffers(ctx), -ENXIO);
	/* Registered again after that, with another table. */
	assert_int_equal(kio_register_buffers(ctx, iov, 1), 0);
	assert_int_equal(kio_unregister_buffers(ctx), 0);
	kio_ctx_destroy(ctx);
}

static void test_fixed_op_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	kt_rec_reset(&r);
	/* None registered: every index is out of range. */
	assert_int_equal(kio_read_fixed(ctx, 0, bufs[0], 16, 0, 0, kt_rec_cb, &r), -EINVAL);
	register_two(ctx);
	assert_int_equal(kio_read_fixed(ctx, 0, bufs[0], 16, 0, 2, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_write_fixed(ctx, 1, bufs[0], 16, 0, UINT32_MAX, kt_rec_cb, &r), -EINVAL);
	/* Outside the buffer: before it, past its end, in the other buffer. */
	assert_int_equal(kio_read_fixed(ctx, 0, &bufs[0][BUF - 1], 16, 0, 1, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_read_fixed(ctx, 0, bufs[0] + 1, BUF, 0, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_read_fixed(ctx, 0, bufs[0] + BUF + 1, 0, 0, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_read_fixed(ctx, 0, bufs[1], 16, 0, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_write_fixed(ctx, 1, bufs[1] + BUF - 8, 16, 0, 1, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_read_fixed(ctx, 0, NULL, 16, 0, 0, kt_rec_cb, &r), -EINVAL);
	/* The checks of kio_read(). */
	assert_int_equal(kio_read_fixed(NULL, 0, bufs[0], 16, 0, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_read_fixed(ctx, 0, bufs[0], 16, 0, 0, NULL, &r), -EINVAL);
	assert_int_equal(kio_read_fixed(ctx, -1, bufs[0], 16, 0, 0, kt_rec_cb, &r), -EBADF);
	assert_int_equal(kio_write_fixed(ctx, 1, bufs[0], 16, (uint64_t)INT64_MAX + 1, 0, kt_rec_cb, &r),
			 -EINVAL);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(kio_unregister_buffers(ctx), 0);
	kio_ctx_destroy(ctx);
}

/* A closed descriptor: the kernel's -EBADF through the callback. */
static void test_fixed_closed_fd(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	register_two(ctx);
	struct kt_rec r;
	int64_t id = kio_read_fixed(ctx, 9999, bufs[0], 16, 0, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), -EBADF);
	id = kio_write_fixed(ctx, 9999, bufs[0], 16, 0, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), -EBADF);
	assert_int_equal(kio_unregister_buffers(ctx), 0);
	kio_ctx_destroy(ctx);
}

/* Unregister is refused while a fixed op is in flight, allowed once its
 * callback ran; cancel ends it with -ECANCELED. */
static void test_fixed_unregister_in_flight_and_cancel(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	register_two(ctx);
	int p[2];
	kt_pipe(p);
	struct kt_rec r;
	int64_t id = kio_read_fixed(ctx, p[0], bufs[0], 64, KIO_OFFSET_CURRENT, 0, kt_rec_cb,
				    kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(kio_unregister_buffers(ctx), -EBUSY);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ECANCELED);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);
	assert_int_equal(kio_unregister_buffers(ctx), 0);
	/* And after the unregister, the index is gone. */
	assert_int_equal(kio_read_fixed(ctx, p[0], bufs[0], 64, KIO_OFFSET_CURRENT, 0, kt_rec_cb,
					kt_rec_reset(&r)),
			 -EINVAL);
	kt_close_pipe(p);
	kio_ctx_destroy(ctx);
}

/* A pipe read that waits, then data: delivered; a timeout: -ETIMEDOUT. */
static void test_fixed_pipe_data_and_timeout(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	register_two(ctx);
	int p[2];
	kt_pipe(p);
	struct kt_rec r;
	int64_t id = kio_read_fixed(ctx, p[0], bufs[1] + 10, 64, KIO_OFFSET_CURRENT, 1, kt_rec_cb,
				    kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(write(p[1], "fixed", 5), 5);
	assert_int_equal(kt_await_op(ctx, id, &r), 5);
	assert_memory_equal(bufs[1] + 10, "fixed", 5);

	id = kio_read_fixed(ctx, p[0], bufs[1], 64, KIO_OFFSET_CURRENT, 1, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10 * KT_MS), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ETIMEDOUT);
	assert_int_equal(kio_unregister_buffers(ctx), 0);

	/* A write to a pipe without a reader: -EPIPE, no SIGPIPE. */
	register_two(ctx);
	assert_int_equal(close(p[0]), 0);
	p[0] = -1;
	id = kio_write_fixed(ctx, p[1], bufs[0], 16, KIO_OFFSET_CURRENT, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), -EPIPE);
	kt_close_pipe(p);
	kio_ctx_destroy(ctx);
}

/* Destroy with fixed ops in flight (and the buffers still registered):
 * each callback runs once, cancelled. */
static void test_fixed_destroy_in_flight(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	register_two(ctx);
	int p[2];
	kt_pipe(p);
	struct kt_rec r[3];
	for (int i = 0; i < 3; i++)
		assert_true(kio_read_fixed(ctx, p[0], bufs[0] + i * 100, 100, KIO_OFFSET_CURRENT, 0,
					   kt_rec_cb, kt_rec_reset(&r[i])) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	kio_ctx_destroy(ctx);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, -ECANCELED);
	}
	kt_close_pipe(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_fixed_write_then_read),
		KT_TEST(test_fixed_register_bad_args),
		KT_TEST(test_fixed_op_bad_args),
		KT_TEST(test_fixed_closed_fd),
		KT_TEST(test_fixed_unregister_in_flight_and_cancel),
		KT_TEST(test_fixed_pipe_data_and_timeout),
		KT_TEST(test_fixed_destroy_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
