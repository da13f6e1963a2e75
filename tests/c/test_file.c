/* SPDX-License-Identifier: MIT */
/*
 * File and descriptor operations: for each op the success path, the errors
 * the kernel reports through the callback, the argument errors returned at
 * once (whose callback must never run), and that no callback runs inside
 * the call that started the op.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define WAIT_MS 5000

/* A descriptor number these tests never open: the kernel answers -EBADF. */
#define CLOSED_FD 9999

/* A call that must fail at once with want; its callback must not have run. */
static void expect_err(int64_t got, int64_t want, const struct kt_rec *r)
{
	assert_int_equal(got, want);
	assert_int_equal(r->calls, 0);
}

/* A round of the loop must not run a callback for a call that failed. */
static void assert_quiet(kio_ctx *ctx, const struct kt_rec *r)
{
	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r->calls, 0);
}

static void assert_fd_closed(int fd)
{
	errno = 0;
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

/* A scratch directory, opened so tests can pass it as dirfd. */
struct tdir {
	char *path;
	int fd;
};

static void tdir_open(struct tdir *d)
{
	d->path = kt_tmpdir();
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(d->fd >= 0);
}

static void tdir_close(struct tdir *d)
{
	assert_int_equal(close(d->fd), 0);
	kt_tmpdir_remove(d->path);
}

/* Creates (or truncates) name in d holding len bytes of data; returns an O_RDWR fd. */
static int make_file(const struct tdir *d, const char *name, const void *data, size_t len)
{
	int fd = openat(d->fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	if (len)
		assert_int_equal(pwrite(fd, data, len, 0), (ssize_t)len);
	return fd;
}

static int exists(const struct tdir *d, const char *name)
{
	struct stat st;
	return fstatat(d->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static off_t file_size(int fd)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

static off_t file_pos(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 131u + seed) ^ (i >> 7));
}

/* ---- nop ---- */

static void test_file_nop_completes(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;

	assert_int_equal(kt_await_op(ctx, kio_nop(ctx, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_int_equal(r.flags, 0);
	kt_drain_destroy(ctx);
}

static void test_file_nop_many_once_each(void **state)
{
	(void)state;
	enum { N = 64 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r[N];
	int64_t ids[N];

	for (int i = 0; i < N; i++) {
		ids[i] = kio_nop(ctx, kt_rec_cb, kt_rec_reset(&r[i]));
		assert_true(ids[i] >= 0);
		assert_int_equal(r[i].calls, 0);
		for (int j = 0; j < i; j++)
			assert_true(ids[j] != ids[i]);
	}
	assert_int_equal(kio_ctx_pending(ctx), N);
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, 0);
	}
	kt_drain_destroy(ctx);
}

static void test_file_nop_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;

	expect_err(kio_nop(NULL, kt_rec_cb, kt_rec_reset(&r)), -EINVAL, &r);
	expect_err(kio_nop(ctx, NULL, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
}

/* ---- openat ---- */

static void test_file_openat_create(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct stat st;
	char path[512];
	char c = 0;

	int fd = kt_await_op(ctx, kio_openat(ctx, d.fd, "new", O_CREAT | O_RDWR | O_CLOEXEC, 0600,
					  kt_rec_cb, kt_rec_reset(&r)), &r);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0077, 0);
	assert_true(exists(&d, "new"));
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(close(fd), 0);

	/* The kernel's refusal arrives through the callback. */
	assert_int_equal(kt_await_op(ctx, kio_openat(ctx, d.fd, "new",
						  O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600,
						  kt_rec_cb, kt_rec_reset(&r)), &r), -EEXIST);

	/* An absolute path with AT_FDCWD opens the same file. */
	snprintf(path, sizeof(path), "%s/new", d.path);
	fd = kt_await_op(ctx, kio_openat(ctx, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0, kt_rec_cb,
				      kt_rec_reset(&r)), &r);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'x');
	assert_int_equal(close(fd), 0);

	kt_drain_destroy(ctx);
	tdir_close(&d);
}

static void test_file_openat_missing(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;

	assert_int_equal(kt_await_op(ctx, kio_openat(ctx, d.fd, "missing", O_RDONLY | O_CLOEXEC, 0,
						  kt_rec_cb, kt_rec_reset(&r)), &r), -ENOENT);
	assert_int_equal(kt_await_op(ctx, kio_openat(ctx, d.fd, "nodir/file",
						  O_CREAT | O_RDWR | O_CLOEXEC, 0600, kt_rec_cb,
						  kt_rec_reset(&r)), &r), -ENOENT);
	assert_false(exists(&d, "missing"));
	assert_int_equal(kt_await_op(ctx, kio_openat(ctx, CLOSED_FD, "rel", O_RDONLY | O_CLOEXEC, 0,
						  kt_rec_cb, kt_rec_reset(&r)), &r), -EBADF);

	kt_drain_destroy(ctx);
	tdir_close(&d);
}

static void test_file_openat_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;

	expect_err(kio_openat(ctx, AT_FDCWD, NULL, O_RDONLY, 0, kt_rec_cb, kt_rec_reset(&r)), -EINVAL, &r);
	expect_err(kio_openat(ctx, AT_FDCWD, "/", O_RDONLY, 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_openat(NULL, AT_FDCWD, "/", O_RDONLY, 0, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
}

/* Peak resident memory of the process, in KiB (VmHWM). */
static long peak_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* An fd number far past any open one reaches the kernel, which answers
 * -EBADF, without kio growing a table to that size on the way (it once
 * grew its per-fd tables to 2**31 entries: seconds and gigabytes). */
static void test_file_huge_fd_number(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char buf[16];
	long before = peak_kib();
	const int fds[] = {INT_MAX, INT_MAX - 1, 1 << 30};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		assert_int_equal(kt_await_op(ctx, kio_read(ctx, fds[i], buf, sizeof(buf), 0, kt_rec_cb,
							   kt_rec_reset(&r)), &r), -EBADF);
		assert_int_equal(kt_await_op(ctx, kio_recv(ctx, fds[i], buf, sizeof(buf), 0, kt_rec_cb,
							   kt_rec_reset(&r)), &r), -EBADF);
		assert_int_equal(kt_await_op(ctx, kio_poll(ctx, fds[i], POLLIN, kt_rec_cb,
							   kt_rec_reset(&r)), &r), -EBADF);
		assert_int_equal(kio_cancel_fd(ctx, fds[i]), 0);
	}
	assert_true(peak_kib() - before < 64 * 1024);
	kt_drain_destroy(ctx);
}

/* A negative directory fd other than AT_FDCWD is refused at the call, by
 * every *at() op, as every other negative fd is (kio(7), ERRORS). */
static void test_file_at_ops_bad_dirfd(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct statx stx;
	const int bad[] = {-1, -2, AT_FDCWD - 1, INT_MIN};
	kt_rec_reset(&r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = bad[i];
		expect_err(kio_openat(ctx, fd, "x", O_RDONLY, 0, kt_rec_cb, &r), -EBADF, &r);
		expect_err(kio_statx(ctx, fd, "x", 0, STATX_BASIC_STATS, &stx, kt_rec_cb, &r), -EBADF, &r);
		expect_err(kio_unlinkat(ctx, fd, "x", 0, kt_rec_cb, &r), -EBADF, &r);
		expect_err(kio_mkdirat(ctx, fd, "x", 0700, kt_rec_cb, &r), -EBADF, &r);
		expect_err(kio_renameat(ctx, fd, "x", AT_FDCWD, "y", 0, kt_rec_cb, &r), -EBADF, &r);
		expect_err(kio_renameat(ctx, AT_FDCWD, "x", fd, "y", 0, kt_rec_cb, &r), -EBADF, &r);
	}
	assert_quiet(ctx, &r);
	/* AT_FDCWD itself still reaches the kernel, which answers. */
	assert_int_equal(kt_await_op(ctx, kio_statx(ctx, AT_FDCWD, "/", 0, STATX_BASIC_STATS, &stx,
						 kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	kt_drain_destroy(ctx);
}

/* ---- close ---- */

static void test_file_close_ok(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);

	assert_int_equal(kt_await_op(ctx, kio_close(ctx, fd, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_fd_closed(fd);
	kt_drain_destroy(ctx);
}

static void test_file_close_bad_fd(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;

	assert_fd_closed(CLOSED_FD);
	assert_int_equal(kt_await_op(ctx, kio_close(ctx, CLOSED_FD, kt_rec_cb, kt_rec_reset(&r)), &r), -EBADF);
	kt_drain_destroy(ctx);
}

static void test_file_close_negative_fd(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;

	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);

	expect_err(kio_close(ctx, -1, kt_rec_cb, kt_rec_reset(&r)), -EBADF, &r);
	expect_err(kio_close(ctx, INT_MIN, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_close(ctx, fd, NULL, &r), -EINVAL, &r);
	expect_err(kio_close(NULL, fd, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
	/* The refused calls left the fd open. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	assert_int_equal(close(fd), 0);
}

static void test_file_close_cancels_pending(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec pr, cr;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	int64_t poll_id = kio_poll(ctx, p[0], POLLIN, kt_rec_cb, kt_rec_reset(&pr));
	assert_true(poll_id >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(pr.calls, 0);

	assert_int_equal(kt_await_op(ctx, kio_close(ctx, p[0], kt_rec_cb, kt_rec_reset(&cr)), &cr), 0);
	kt_run_until(ctx, &pr.done, WAIT_MS);
	assert_int_equal(pr.calls, 1);
	assert_int_equal(pr.res, -ECANCELED);
	assert_fd_closed(p[0]);
	assert_int_equal(kio_op_cancel(ctx, poll_id), -ENOENT);

	assert_int_equal(close(p[1]), 0);
	kt_drain_destroy(ctx);
}

/* ---- read / write ---- */

static void test_file_rw_offsets(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char buf[16];
	static const char zeros[5];
	int fd = make_file(&d, "f", NULL, 0);

	assert_int_equal(kt_await_op(ctx, kio_write(ctx, fd, "hello", 5, 0, kt_rec_cb, kt_rec_reset(&r)), &r), 5);
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, fd, "world", 5, 100, kt_rec_cb, kt_rec_reset(&r)), &r),
			 5);
	assert_int_equal(file_size(fd), 105);

	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 5, 100, kt_rec_cb, kt_rec_reset(&r)), &r), 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal((unsigned char)buf[5], 0x55);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 5, 0, kt_rec_cb, kt_rec_reset(&r)), &r), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 5, 50, kt_rec_cb, kt_rec_reset(&r)), &r), 5);
	assert_memory_equal(buf, zeros, 5);

	/* Positional ops leave the file position alone. */
	assert_int_equal(file_pos(fd), 0);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	tdir_close(&d);
}

static void test_file_rw_current_position(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char buf[16];
	int fd = make_file(&d, "f", NULL, 0);

	/* Two writes at the current position land back to back. */
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, fd, "abc", 3, KIO_OFFSET_CURRENT, kt_rec_cb,
						 kt_rec_reset(&r)), &r), 3);
	assert_int_equal(file_pos(fd), 3);
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, fd, "defg", 4, KIO_OFFSET_CURRENT, kt_rec_cb,
						 kt_rec_reset(&r)), &r), 4);
	assert_int_equal(file_pos(fd), 7);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 7);
	assert_memory_equal(buf, "abcdefg", 7);

	/* Reads at the current position advance it and end with 0 at EOF. */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 4, KIO_OFFSET_CURRENT, kt_rec_cb,
						kt_rec_reset(&r)), &r), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(file_pos(fd), 4);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, sizeof(buf), KIO_OFFSET_CURRENT,
						kt_rec_cb, kt_rec_reset(&r)), &r), 3);
	assert_memory_equal(buf, "efg", 3);
	assert_int_equal(file_pos(fd), 7);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, sizeof(buf), KIO_OFFSET_CURRENT,
						kt_rec_cb, kt_rec_reset(&r)), &r), 0);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	tdir_close(&d);
}

static void test_file_read_short_at_eof(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char buf[100];
	int fd = make_file(&d, "f", "0123456789", 10);

	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, sizeof(buf), 4, kt_rec_cb, kt_rec_reset(&r)), &r),
			 6);
	assert_memory_equal(buf, "456789", 6);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, sizeof(buf), 10, kt_rec_cb, kt_rec_reset(&r)),
				  &r), 0);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, sizeof(buf), 1ull << 40, kt_rec_cb,
						kt_rec_reset(&r)), &r), 0);
	/* A zero-length read needs no buffer. */
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, NULL, 0, 0, kt_rec_cb, kt_rec_reset(&r)), &r), 0);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	tdir_close(&d);
}

static void test_file_rw_closed_fd(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char buf[8] = "abcdefg";
	struct iovec iov = { buf, sizeof(buf) };

	assert_fd_closed(CLOSED_FD);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, CLOSED_FD, buf, sizeof(buf), 0, kt_rec_cb,
						kt_rec_reset(&r)), &r), -EBADF);
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, CLOSED_FD, buf, sizeof(buf), 0, kt_rec_cb,
						 kt_rec_reset(&r)), &r), -EBADF);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, CLOSED_FD, buf, sizeof(buf), KIO_OFFSET_CURRENT,
						kt_rec_cb, kt_rec_reset(&r)), &r), -EBADF);
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, CLOSED_FD, &iov, 1, 0, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EBADF);
	assert_int_equal(kt_await_op(ctx, kio_writev(ctx, CLOSED_FD, &iov, 1, 0, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EBADF);

	/* An fd opened for the other direction is refused by the kernel too. */
	int wo = make_file(&d, "f", "x", 1);
	int ro = openat(d.fd, "f", O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, ro, buf, 1, 0, kt_rec_cb, kt_rec_reset(&r)), &r), -EBADF);
	assert_int_equal(close(ro), 0);
	assert_int_equal(close(wo), 0);

	kt_drain_destroy(ctx);
	tdir_close(&d);
}

static void test_file_rw_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char buf[8] = { 0 };
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	const uint64_t too_far = (uint64_t)INT64_MAX + 1;

	kt_rec_reset(&r);
	expect_err(kio_read(ctx, -1, buf, sizeof(buf), 0, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_write(ctx, -1, buf, sizeof(buf), 0, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_read(ctx, fd, NULL, 4, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_write(ctx, fd, NULL, 4, 0, kt_rec_cb, &r), -EINVAL, &r);
#if SIZE_MAX > UINT32_MAX
	expect_err(kio_read(ctx, fd, buf, (size_t)UINT32_MAX + 1, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_write(ctx, fd, buf, (size_t)UINT32_MAX + 1, 0, kt_rec_cb, &r), -EINVAL, &r);
#endif
	expect_err(kio_read(ctx, fd, buf, sizeof(buf), too_far, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_write(ctx, fd, buf, sizeof(buf), too_far, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_read(ctx, fd, buf, sizeof(buf), KIO_OFFSET_CURRENT - 1, kt_rec_cb, &r),
		   -EINVAL, &r);
	expect_err(kio_read(ctx, fd, buf, sizeof(buf), 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_write(ctx, fd, buf, sizeof(buf), 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_read(NULL, fd, buf, sizeof(buf), 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_write(NULL, fd, buf, sizeof(buf), 0, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
}

/* ---- readv / writev ---- */

static void test_file_readv_writev(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char a[] = "abc", b[] = "defgh", c[] = "ijklmnopq";
	struct iovec w[3] = { { a, 3 }, { b, 5 }, { c, 9 } };
	char x[4], y[6], z[7], buf[64];
	struct iovec rv[3] = { { x, sizeof(x) }, { y, sizeof(y) }, { z, sizeof(z) } };
	int fd = make_file(&d, "f", NULL, 0);

	assert_int_equal(kt_await_op(ctx, kio_writev(ctx, fd, w, 3, 10, kt_rec_cb, kt_rec_reset(&r)), &r), 17);
	assert_int_equal(file_size(fd), 27);
	assert_int_equal(pread(fd, buf, sizeof(buf), 10), 17);
	assert_memory_equal(buf, "abcdefghijklmnopq", 17);
	assert_int_equal(file_pos(fd), 0);

	memset(x, 0, sizeof(x));
	memset(y, 0, sizeof(y));
	memset(z, 0, sizeof(z));
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, fd, rv, 3, 10, kt_rec_cb, kt_rec_reset(&r)), &r), 17);
	assert_memory_equal(x, "abcd", 4);
	assert_memory_equal(y, "efghij", 6);
	assert_memory_equal(z, "klmnopq", 7);

	/* Short at EOF: 7 bytes left from offset 20. */
	memset(x, 0, sizeof(x));
	memset(y, 0, sizeof(y));
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, fd, rv, 3, 20, kt_rec_cb, kt_rec_reset(&r)), &r), 7);
	assert_memory_equal(x, "klmn", 4);
	assert_memory_equal(y, "opq", 3);

	/* At the current position: written from 0, position moves to 17. */
	assert_int_equal(kt_await_op(ctx, kio_writev(ctx, fd, w, 3, KIO_OFFSET_CURRENT, kt_rec_cb,
						  kt_rec_reset(&r)), &r), 17);
	assert_int_equal(file_pos(fd), 17);
	assert_int_equal(pread(fd, buf, 17, 0), 17);
	assert_memory_equal(buf, "abcdefghijklmnopq", 17);
	assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, fd, rv, 1, KIO_OFFSET_CURRENT, kt_rec_cb,
						 kt_rec_reset(&r)), &r), 4);
	assert_memory_equal(x, "defg", 4);
	assert_int_equal(file_pos(fd), 7);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	tdir_close(&d);
}

static void test_file_readv_writev_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	static char byte;
	static struct iovec many[IOV_MAX + 1];
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	for (int i = 0; i < IOV_MAX + 1; i++)
		many[i] = (struct iovec){ &byte, 1 };

	kt_rec_reset(&r);
	expect_err(kio_readv(ctx, fd, many, 0, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_writev(ctx, fd, many, 0, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_readv(ctx, fd, many, -1, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_writev(ctx, fd, many, -1, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_readv(ctx, fd, many, IOV_MAX + 1, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_writev(ctx, fd, many, IOV_MAX + 1, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_readv(ctx, fd, NULL, 1, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_writev(ctx, fd, NULL, 1, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_readv(ctx, -1, many, 1, 0, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_writev(ctx, -1, many, 1, 0, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_readv(ctx, fd, many, 1, (uint64_t)INT64_MAX + 1, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_writev(ctx, fd, many, 1, (uint64_t)INT64_MAX + 1, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_readv(ctx, fd, many, 1, 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_writev(ctx, fd, many, 1, 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_readv(NULL, fd, many, 1, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_writev(NULL, fd, many, 1, 0, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);

	/* IOV_MAX itself is allowed. */
	assert_int_equal(kt_await_op(ctx, kio_writev(ctx, fd, many, IOV_MAX, KIO_OFFSET_CURRENT,
						  kt_rec_cb, kt_rec_reset(&r)), &r), IOV_MAX);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
}

/* ---- fsync ---- */

static void test_file_fsync(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int fd = make_file(&d, "f", "data", 4);

	assert_int_equal(kt_await_op(ctx, kio_fsync(ctx, fd, 0, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_int_equal(kt_await_op(ctx, kio_fsync(ctx, fd, KIO_FSYNC_DATASYNC, kt_rec_cb, kt_rec_reset(&r)), &r),
			 0);
	assert_int_equal(kt_await_op(ctx, kio_fsync(ctx, CLOSED_FD, 0, kt_rec_cb, kt_rec_reset(&r)), &r), -EBADF);
	assert_int_equal(kt_await_op(ctx, kio_fsync(ctx, CLOSED_FD, KIO_FSYNC_DATASYNC, kt_rec_cb,
						 kt_rec_reset(&r)), &r), -EBADF);

	kt_rec_reset(&r);
	expect_err(kio_fsync(ctx, fd, 1u << 1, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_fsync(ctx, fd, 1u << 31, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_fsync(ctx, fd, KIO_FSYNC_DATASYNC | (1u << 7), kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_fsync(ctx, -1, 0, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_fsync(ctx, fd, 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_fsync(NULL, fd, 0, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
	tdir_close(&d);
}

/* ---- fallocate ---- */

static void test_file_fallocate(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	int probe = make_file(&d, "probe", NULL, 0);
	if (fallocate(probe, 0, 0, 4096) != 0 && errno == EOPNOTSUPP) {
		close(probe);
		tdir_close(&d);
		skip();
	}
	assert_int_equal(close(probe), 0);

	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct stat st;
	int fd = make_file(&d, "f", NULL, 0);

	assert_int_equal(kt_await_op(ctx, kio_fallocate(ctx, fd, 0, 0, 65536, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 65536);
	assert_true((uint64_t)st.st_blocks * 512 >= 65536);

	/* Past the end with an offset: the size becomes offset + len. */
	assert_int_equal(kt_await_op(ctx, kio_fallocate(ctx, fd, 0, 100000, 10, kt_rec_cb, kt_rec_reset(&r)), &r),
			 0);
	assert_int_equal(file_size(fd), 100010);

	/* KEEP_SIZE reserves blocks without growing the file. */
	assert_int_equal(kt_await_op(ctx, kio_fallocate(ctx, fd, FALLOC_FL_KEEP_SIZE, 200000, 65536,
						     kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_int_equal(file_size(fd), 100010);

	kt_rec_reset(&r);
	expect_err(kio_fallocate(ctx, -1, 0, 0, 4096, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_fallocate(ctx, fd, 0, 0, 4096, NULL, &r), -EINVAL, &r);
	expect_err(kio_fallocate(NULL, fd, 0, 0, 4096, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);
	assert_int_equal(kt_await_op(ctx, kio_fallocate(ctx, CLOSED_FD, 0, 0, 4096, kt_rec_cb, kt_rec_reset(&r)),
				  &r), -EBADF);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	tdir_close(&d);
}

/* ---- ftruncate ---- */

static void test_file_ftruncate(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char buf[16];
	int fd = make_file(&d, "f", "0123456789", 10);

	assert_int_equal(kt_await_op(ctx, kio_ftruncate(ctx, fd, 10000, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_int_equal(file_size(fd), 10000);
	assert_int_equal(pread(fd, buf, 10, 0), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(pread(fd, buf, 1, 5000), 1);
	assert_int_equal(buf[0], 0);

	assert_int_equal(kt_await_op(ctx, kio_ftruncate(ctx, fd, 4, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_int_equal(file_size(fd), 4);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "0123", 4);

	assert_int_equal(kt_await_op(ctx, kio_ftruncate(ctx, fd, 0, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_int_equal(file_size(fd), 0);

	assert_int_equal(kt_await_op(ctx, kio_ftruncate(ctx, CLOSED_FD, 0, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EBADF);

	kt_rec_reset(&r);
	expect_err(kio_ftruncate(ctx, -1, 0, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_ftruncate(ctx, fd, 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_ftruncate(NULL, fd, 0, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
	tdir_close(&d);
}

/* ---- statx ---- */

static void test_file_statx(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct statx stx;
	unsigned char data[1234];
	memset(data, 'q', sizeof(data));
	int fd = make_file(&d, "f", data, sizeof(data));

	memset(&stx, 0, sizeof(stx));
	assert_int_equal(kt_await_op(ctx, kio_statx(ctx, d.fd, "f", 0, STATX_SIZE | STATX_TYPE, &stx,
						 kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_true(stx.stx_mask & STATX_SIZE);
	assert_int_equal(stx.stx_size, 1234);
	assert_true(S_ISREG(stx.stx_mode));

	/* AT_EMPTY_PATH stats the fd itself. */
	memset(&stx, 0, sizeof(stx));
	assert_int_equal(kt_await_op(ctx, kio_statx(ctx, fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx,
						 kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_int_equal(stx.stx_size, 1234);

	memset(&stx, 0, sizeof(stx));
	assert_int_equal(kt_await_op(ctx, kio_statx(ctx, AT_FDCWD, d.path, 0, STATX_TYPE, &stx,
						 kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_true(S_ISDIR(stx.stx_mode));

	assert_int_equal(kt_await_op(ctx, kio_statx(ctx, d.fd, "missing", 0, STATX_SIZE, &stx,
						 kt_rec_cb, kt_rec_reset(&r)), &r), -ENOENT);

	kt_rec_reset(&r);
	expect_err(kio_statx(ctx, d.fd, "f", 0, STATX_SIZE, NULL, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_statx(ctx, d.fd, NULL, 0, STATX_SIZE, &stx, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_statx(ctx, d.fd, "f", 0, STATX_SIZE, &stx, NULL, &r), -EINVAL, &r);
	expect_err(kio_statx(NULL, d.fd, "f", 0, STATX_SIZE, &stx, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);

	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
	tdir_close(&d);
}

/* ---- unlinkat ---- */

static void test_file_unlinkat(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;

	assert_int_equal(close(make_file(&d, "f", "x", 1)), 0);
	assert_int_equal(kt_await_op(ctx, kio_unlinkat(ctx, d.fd, "f", 0, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	assert_false(exists(&d, "f"));
	assert_int_equal(kt_await_op(ctx, kio_unlinkat(ctx, d.fd, "f", 0, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -ENOENT);

	/* Directories need AT_REMOVEDIR, and must be empty. */
	assert_int_equal(mkdirat(d.fd, "sub", 0700), 0);
	assert_int_equal(kt_await_op(ctx, kio_unlinkat(ctx, d.fd, "sub", 0, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EISDIR);
	assert_true(exists(&d, "sub"));
	assert_int_equal(kt_await_op(ctx, kio_unlinkat(ctx, d.fd, "sub", AT_REMOVEDIR, kt_rec_cb,
						    kt_rec_reset(&r)), &r), 0);
	assert_false(exists(&d, "sub"));

	assert_int_equal(mkdirat(d.fd, "full", 0700), 0);
	assert_int_equal(close(make_file(&d, "full/x", "x", 1)), 0);
	assert_int_equal(kt_await_op(ctx, kio_unlinkat(ctx, d.fd, "full", AT_REMOVEDIR, kt_rec_cb,
						    kt_rec_reset(&r)), &r), -ENOTEMPTY);
	assert_true(exists(&d, "full/x"));

	kt_rec_reset(&r);
	expect_err(kio_unlinkat(ctx, d.fd, NULL, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_unlinkat(ctx, d.fd, "full/x", 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_unlinkat(NULL, d.fd, "full/x", 0, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);
	assert_true(exists(&d, "full/x"));

	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
	tdir_close(&d);
}

/* ---- renameat ---- */

static void test_file_renameat(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char buf[16];
	char dst[512];

	assert_int_equal(close(make_file(&d, "a", "content", 7)), 0);
	assert_int_equal(kt_await_op(ctx, kio_renameat(ctx, d.fd, "a", d.fd, "b", 0, kt_rec_cb,
						    kt_rec_reset(&r)), &r), 0);
	assert_false(exists(&d, "a"));
	int fd = openat(d.fd, "b", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "content", 7);
	assert_int_equal(close(fd), 0);

	assert_int_equal(kt_await_op(ctx, kio_renameat(ctx, d.fd, "a", d.fd, "c", 0, kt_rec_cb,
						    kt_rec_reset(&r)), &r), -ENOENT);
	assert_false(exists(&d, "c"));

	/* renameat2 flags reach the kernel. */
	assert_int_equal(close(make_file(&d, "c", "other", 5)), 0);
	assert_int_equal(kt_await_op(ctx, kio_renameat(ctx, d.fd, "b", d.fd, "c", RENAME_NOREPLACE,
						    kt_rec_cb, kt_rec_reset(&r)), &r), -EEXIST);
	assert_true(exists(&d, "b"));
	assert_true(exists(&d, "c"));

	/* Across directory fds: AT_FDCWD with an absolute new path. */
	assert_int_equal(mkdirat(d.fd, "sub", 0700), 0);
	snprintf(dst, sizeof(dst), "%s/sub/b2", d.path);
	assert_int_equal(kt_await_op(ctx, kio_renameat(ctx, d.fd, "b", AT_FDCWD, dst, 0, kt_rec_cb,
						    kt_rec_reset(&r)), &r), 0);
	assert_false(exists(&d, "b"));
	assert_true(exists(&d, "sub/b2"));

	kt_rec_reset(&r);
	expect_err(kio_renameat(ctx, d.fd, NULL, d.fd, "z", 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_renameat(ctx, d.fd, "c", d.fd, NULL, 0, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_renameat(ctx, d.fd, "c", d.fd, "z", 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_renameat(NULL, d.fd, "c", d.fd, "z", 0, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);
	assert_true(exists(&d, "c"));
	assert_false(exists(&d, "z"));

	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
	tdir_close(&d);
}

/* ---- mkdirat ---- */

static void test_file_mkdirat(void **state)
{
	(void)state;
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct stat st;

	assert_int_equal(kt_await_op(ctx, kio_mkdirat(ctx, d.fd, "dir", 0755, kt_rec_cb, kt_rec_reset(&r)), &r),
			 0);
	assert_int_equal(fstatat(d.fd, "dir", &st, 0), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(kt_await_op(ctx, kio_mkdirat(ctx, d.fd, "dir", 0755, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EEXIST);
	assert_int_equal(kt_await_op(ctx, kio_mkdirat(ctx, d.fd, "missing/dir", 0755, kt_rec_cb,
						   kt_rec_reset(&r)), &r), -ENOENT);
	assert_int_equal(kt_await_op(ctx, kio_mkdirat(ctx, d.fd, "dir/inner", 0700, kt_rec_cb,
						   kt_rec_reset(&r)), &r), 0);
	assert_true(exists(&d, "dir/inner"));

	kt_rec_reset(&r);
	expect_err(kio_mkdirat(ctx, d.fd, NULL, 0755, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_mkdirat(ctx, d.fd, "x", 0755, NULL, &r), -EINVAL, &r);
	expect_err(kio_mkdirat(NULL, d.fd, "x", 0755, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);
	assert_false(exists(&d, "x"));

	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
	tdir_close(&d);
}

/* ---- splice ---- */

static void test_file_splice_roundtrip(void **state)
{
	(void)state;
	enum { N = 3000 };
	struct tdir d;
	tdir_open(&d);
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	static unsigned char src[N], got[N];
	int p[2];
	fill_pattern(src, N, 7);
	int in = make_file(&d, "in", src, N);
	int out = make_file(&d, "out", NULL, 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* file -> pipe, then pipe -> file: every byte arrives, in order. */
	for (int64_t done = 0; done < N;) {
		int32_t res = kt_await_op(ctx, kio_splice(ctx, in, done, p[1], -1, (uint32_t)(N - done),
						       0, kt_rec_cb, kt_rec_reset(&r)), &r);
		assert_true(res > 0);
		done += res;
	}
	for (int64_t done = 0; done < N;) {
		int32_t res = kt_await_op(ctx, kio_splice(ctx, p[0], -1, out, done, (uint32_t)(N - done),
						       0, kt_rec_cb, kt_rec_reset(&r)), &r);
		assert_true(res > 0);
		done += res;
	}
	assert_int_equal(file_size(out), N);
	assert_int_equal(pread(out, got, N, 0), N);
	assert_memory_equal(got, src, N);
	/* Explicit offsets leave both file positions alone. */
	assert_int_equal(file_pos(in), 0);
	assert_int_equal(file_pos(out), 0);

	/* Offsets are honoured: src[1000..1100) lands at out[5000..5100). */
	assert_int_equal(kt_await_op(ctx, kio_splice(ctx, in, 1000, p[1], -1, 100, 0, kt_rec_cb,
						  kt_rec_reset(&r)), &r), 100);
	assert_int_equal(kt_await_op(ctx, kio_splice(ctx, p[0], -1, out, 5000, 100, 0, kt_rec_cb,
						  kt_rec_reset(&r)), &r), 100);
	assert_int_equal(pread(out, got, 100, 5000), 100);
	assert_memory_equal(got, src + 1000, 100);

	/* off_in -1 on a file uses and moves its position. */
	assert_int_equal(lseek(in, 20, SEEK_SET), 20);
	assert_int_equal(kt_await_op(ctx, kio_splice(ctx, in, -1, p[1], -1, 10, 0, kt_rec_cb, kt_rec_reset(&r)),
				  &r), 10);
	assert_int_equal(file_pos(in), 30);
	assert_int_equal(read(p[0], got, sizeof(got)), 10);
	assert_memory_equal(got, src + 20, 10);

	assert_int_equal(close(p[0]), 0);
	assert_int_equal(close(p[1]), 0);
	assert_int_equal(close(in), 0);
	assert_int_equal(close(out), 0);
	kt_drain_destroy(ctx);
	tdir_close(&d);
}

/* A splice blocked in a kernel worker (its source pipe is empty), then
 * kio_cancel_fd() of its destination: the worker is interrupted, and the
 * callback says -ECANCELED, never the -EINTR the kernel reports. */
static void test_file_splice_cancel_fd_blocked(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int p[2], s[2];
	kt_pipe(p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	int64_t id = kio_splice(ctx, p[0], -1, s[0], -1, 14, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	for (int i = 0; i < 3; i++)
		assert_true(kio_ctx_run_once(ctx, 1 * KT_MS) >= 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(kio_cancel_fd(ctx, s[0]), 1);
	kt_run_until(ctx, &r.finals, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, -ECANCELED);
	kt_close_pipe(p);
	close(s[0]);
	close(s[1]);
	kt_drain_destroy(ctx);
}

static void test_file_splice_bad_fd(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int in = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);

	assert_int_equal(kt_await_op(ctx, kio_splice(ctx, CLOSED_FD, 0, p[1], -1, 10, 0, kt_rec_cb,
						  kt_rec_reset(&r)), &r), -EBADF);
	assert_int_equal(kt_await_op(ctx, kio_splice(ctx, p[0], -1, CLOSED_FD, 0, 10, 0, kt_rec_cb,
						  kt_rec_reset(&r)), &r), -EBADF);

	kt_rec_reset(&r);
	expect_err(kio_splice(ctx, -1, 0, p[1], -1, 10, 0, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_splice(ctx, in, -1, -1, -1, 10, 0, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_splice(ctx, in, -1, p[1], -1, 10, 0, NULL, &r), -EINVAL, &r);
	expect_err(kio_splice(NULL, in, -1, p[1], -1, 10, 0, kt_rec_cb, &r), -EINVAL, &r);
	assert_quiet(ctx, &r);

	/* Nothing reached the pipe. */
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	char c;
	errno = 0;
	assert_int_equal(read(p[0], &c, 1), -1);
	assert_int_equal(errno, EAGAIN);

	assert_int_equal(close(in), 0);
	assert_int_equal(close(p[0]), 0);
	assert_int_equal(close(p[1]), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_file_nop_completes),
		KT_TEST(test_file_nop_many_once_each),
		KT_TEST(test_file_nop_bad_args),
		KT_TEST(test_file_openat_create),
		KT_TEST(test_file_openat_missing),
		KT_TEST(test_file_openat_bad_args),
		KT_TEST(test_file_at_ops_bad_dirfd),
		KT_TEST(test_file_huge_fd_number),
		KT_TEST(test_file_close_ok),
		KT_TEST(test_file_close_bad_fd),
		KT_TEST(test_file_close_negative_fd),
		KT_TEST(test_file_close_cancels_pending),
		KT_TEST(test_file_rw_offsets),
		KT_TEST(test_file_rw_current_position),
		KT_TEST(test_file_read_short_at_eof),
		KT_TEST(test_file_rw_closed_fd),
		KT_TEST(test_file_rw_bad_args),
		KT_TEST(test_file_readv_writev),
		KT_TEST(test_file_readv_writev_bad_args),
		KT_TEST(test_file_fsync),
		KT_TEST(test_file_fallocate),
		KT_TEST(test_file_ftruncate),
		KT_TEST(test_file_statx),
		KT_TEST(test_file_unlinkat),
		KT_TEST(test_file_renameat),
		KT_TEST(test_file_mkdirat),
		KT_TEST(test_file_splice_roundtrip),
		KT_TEST(test_file_splice_bad_fd),
		KT_TEST(test_file_splice_cancel_fd_blocked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
