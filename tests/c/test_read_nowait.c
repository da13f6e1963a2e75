/* SPDX-License-Identifier: MIT */
/*
 * KIO_CTX_READ_NOWAIT: a cached read is made inside kio_read()/kio_readv(),
 * its completion still comes from the loop; everything else (a read the
 * cache cannot answer whole, a pipe, a closed fd, cancel and timeout) ends
 * as it would without the flag. Runs on whichever backend KIO_BACKEND picks.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <sys/uio.h>

#define LEN 4096

static kio_ctx *ctx_nowait(void)
{
	kio_ctx_opts opts;
	kio_ctx_opts_init(&opts, sizeof(opts));
	opts.flags = KIO_CTX_READ_NOWAIT;
	kio_ctx *ctx = NULL;
	int rc = kio_ctx_create(&ctx, &opts, sizeof(opts));
	if (rc == -EPERM || rc == -ENOSYS)
		exit(KT_SKIP);
	assert_int_equal(rc, 0);
	return ctx;
}

struct tfile {
	char *dir;
	char path[256];
	int fd;
};

/* A file of len bytes of fill, read once so the page cache holds it. */
static void tfile_make(struct tfile *f, size_t len, char fill)
{
	f->dir = kt_tmpdir();
	snprintf(f->path, sizeof(f->path), "%s/data", f->dir);
	f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(f->fd >= 0);
	char *b = malloc(len ? len : 1);
	assert_non_null(b);
	memset(b, fill, len);
	assert_int_equal(pwrite(f->fd, b, len, 0), (ssize_t)len);
	assert_int_equal(pread(f->fd, b, len, 0), (ssize_t)len);
	free(b);
}

static void tfile_close(struct tfile *f)
{
	assert_int_equal(close(f->fd), 0);
	kt_tmpdir_remove(f->dir);
}

/*
 * Whether f's file system answers RWF_NOWAIT reads (ramfs, which an
 * initramfs root is, refuses them: every read then takes the backend's
 * path, and the tests of the at-call path skip).
 */
static int nowait_answers(struct tfile *f)
{
	char b[LEN];
	struct iovec iov = {b, sizeof(b)};
	return preadv2(f->fd, &iov, 1, 0, RWF_NOWAIT) > 0;
}

/* Skips the test (after cleaning up) when the at-call path cannot be taken. */
#define NEED_NOWAIT(ctx, f)                                                                        \
	do {                                                                                       \
		if (!nowait_answers(f)) {                                                          \
			kio_ctx_destroy(ctx);                                                      \
			tfile_close(f);                                                            \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Completion comes from the loop, and the read was made at the call: data
 * written after the call is not in the buffer (without the flag, or on a
 * read the cache cannot answer, the backend reads later and sees it). */
static void test_read_nowait_cached_at_call(void **state)
{
	(void)state;
	kio_ctx *ctx = ctx_nowait();
	struct tfile f;
	tfile_make(&f, LEN, 'a');
	NEED_NOWAIT(ctx, &f);
	static char buf[LEN];
	struct kt_rec r;
	int64_t id = kio_read(ctx, f.fd, buf, LEN, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(kio_ctx_pending(ctx), 1);
	char b = 'b';
	for (int i = 0; i < LEN; i += 512)
		assert_int_equal(pwrite(f.fd, &b, 1, i), 1);
	assert_int_equal(kt_await_op(ctx, id, &r), LEN);
	for (int i = 0; i < LEN; i++)
		assert_int_equal(buf[i], 'a');
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kio_ctx_destroy(ctx);
	tfile_close(&f);
}

/* The same with the environment switch and default options. */
static void test_read_nowait_env_switch(void **state)
{
	(void)state;
	assert_int_equal(setenv("KIO_READ_NOWAIT", "1", 1), 0);
	kio_ctx *ctx = kt_ctx_new();
	assert_int_equal(unsetenv("KIO_READ_NOWAIT"), 0);
	struct tfile f;
	tfile_make(&f, LEN, 'a');
	NEED_NOWAIT(ctx, &f);
	static char buf[LEN];
	struct kt_rec r;
	int64_t id = kio_read(ctx, f.fd, buf, LEN, 0, kt_rec_cb, kt_rec_reset(&r));
	char b = 'b';
	assert_int_equal(pwrite(f.fd, &b, 1, 0), 1);
	assert_int_equal(kt_await_op(ctx, id, &r), LEN);
	assert_int_equal(buf[0], 'a');
	kio_ctx_destroy(ctx);
	tfile_close(&f);
}

/* KIO_READ_NOWAIT=0 overrides the flag: the read is the backend's, made
 * after the call, so it sees the later write. */
static void test_read_nowait_env_off(void **state)
{
	(void)state;
	assert_int_equal(setenv("KIO_READ_NOWAIT", "0", 1), 0);
	kio_ctx *ctx = ctx_nowait();
	assert_int_equal(unsetenv("KIO_READ_NOWAIT"), 0);
	struct tfile f;
	tfile_make(&f, LEN, 'a');
	NEED_NOWAIT(ctx, &f);
	static char buf[LEN];
	struct kt_rec r;
	int64_t id = kio_read(ctx, f.fd, buf, LEN, 0, kt_rec_cb, kt_rec_reset(&r));
	char b = 'b';
	assert_int_equal(pwrite(f.fd, &b, 1, 0), 1);
	assert_int_equal(kt_await_op(ctx, id, &r), LEN);
	assert_int_equal(buf[0], 'b');
	kio_ctx_destroy(ctx);
	tfile_close(&f);
}

/* A read past the end answers 0; one that crosses the end is short: it goes
 * to the backend, whose count (the bytes up to the end) is the result. */
static void test_read_nowait_eof_and_short(void **state)
{
	(void)state;
	kio_ctx *ctx = ctx_nowait();
	struct tfile f;
	tfile_make(&f, 100, 'x');
	static char buf[LEN];
	struct kt_rec r;
	int64_t id = kio_read(ctx, f.fd, buf, LEN, 4096, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 0);
	memset(buf, 0, sizeof(buf));
	id = kio_read(ctx, f.fd, buf, LEN, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 100);
	assert_int_equal(buf[99], 'x');
	assert_int_equal(buf[100], 0);
	kio_ctx_destroy(ctx);
	tfile_close(&f);
}

/* readv: every buffer filled; the total is the result. */
static void test_read_nowait_readv(void **state)
{
	(void)state;
	kio_ctx *ctx = ctx_nowait();
	struct tfile f;
	tfile_make(&f, 3 * 1000, 'v');
	static char a[1000], b[2000];
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
	struct kt_rec r;
	int64_t id = kio_readv(ctx, f.fd, iov, 2, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 3000);
	assert_int_equal(a[999], 'v');
	assert_int_equal(b[1999], 'v');
	kio_ctx_destroy(ctx);
	tfile_close(&f);
}

/* A pipe has no offsets: the attempt fails and the read waits in the
 * backend for data as usual. A closed fd gets the backend's -EBADF. */
static void test_read_nowait_pipe_and_closed_fd(void **state)
{
	(void)state;
	kio_ctx *ctx = ctx_nowait();
	int p[2];
	kt_pipe(p);
	static char buf[16];
	struct kt_rec r;
	int64_t id = kio_read(ctx, p[0], buf, sizeof(buf), 0, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(p[1], "hello", 5), 5);
	assert_int_equal(kt_await_op(ctx, id, &r), 5);
	assert_memory_equal(buf, "hello", 5);
	kt_close_pipe(p);

	id = kio_read(ctx, 9999, buf, sizeof(buf), 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), -EBADF);
	kio_ctx_destroy(ctx);
}

/* Cancel and timeout of a read the cache answered: the op has finished, so
 * both are accepted and the callback brings the result, once; afterwards
 * the id is gone (-ENOENT). */
static void test_read_nowait_cancel_and_timeout(void **state)
{
	(void)state;
	kio_ctx *ctx = ctx_nowait();
	struct tfile f;
	tfile_make(&f, LEN, 'c');
	NEED_NOWAIT(ctx, &f);
	static char buf[LEN];
	struct kt_rec r;
	int64_t id = kio_read(ctx, f.fd, buf, LEN, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), LEN);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	id = kio_read(ctx, f.fd, buf, LEN, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 1), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), LEN);
	assert_int_equal(kio_op_timeout(ctx, id, 1), -ENOENT);
	kio_ctx_destroy(ctx);
	tfile_close(&f);
}

/* Destroy with such reads not yet delivered: each callback runs once. */
static void test_read_nowait_destroy_pending(void **state)
{
	(void)state;
	kio_ctx *ctx = ctx_nowait();
	struct tfile f;
	tfile_make(&f, LEN, 'd');
	static char buf[4][LEN];
	struct kt_rec r[4];
	for (int i = 0; i < 4; i++)
		assert_true(kio_read(ctx, f.fd, buf[i], LEN, 0, kt_rec_cb, kt_rec_reset(&r[i])) >= 0);
	kio_ctx_destroy(ctx);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_true(r[i].res == LEN || r[i].res == -ECANCELED);
	}
	tfile_close(&f);
}

/* Bad arguments fail at the call, as without the flag. */
static void test_read_nowait_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = ctx_nowait();
	static char buf[16];
	struct kt_rec r;
	kt_rec_reset(&r);
	assert_int_equal(kio_read(ctx, -1, buf, sizeof(buf), 0, kt_rec_cb, &r), -EBADF);
	assert_int_equal(kio_read(ctx, 0, NULL, 16, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_read(ctx, 0, buf, sizeof(buf), (uint64_t)INT64_MAX + 1, kt_rec_cb, &r),
			 -EINVAL);
	assert_int_equal(kio_readv(ctx, 0, NULL, 1, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_ctx_run_once(ctx, 0), 0);
	assert_int_equal(r.calls, 0);
	kio_ctx_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_read_nowait_cached_at_call),
		KT_TEST(test_read_nowait_env_switch),
		KT_TEST(test_read_nowait_env_off),
		KT_TEST(test_read_nowait_eof_and_short),
		KT_TEST(test_read_nowait_readv),
		KT_TEST(test_read_nowait_pipe_and_closed_fd),
		KT_TEST(test_read_nowait_cancel_and_timeout),
		KT_TEST(test_read_nowait_destroy_pending),
		KT_TEST(test_read_nowait_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
