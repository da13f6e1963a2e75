/* SPDX-License-Identifier: MIT */
/*
 * Registered files: kio_register_files(), kio_unregister_files(), and the
 * file ops on a registered fd. Transfers with their data checked, every
 * argument error, and the rules around the table: kio_close() empties a
 * slot (the number can name another file, the kernel lets the old one
 * go), kio_cancel_fd() reaches ops issued through a slot, unregister with
 * ops in flight, destroy with ops in flight. Runs on whichever backend
 * KIO_BACKEND picks; where the backends differ by design (a registered fd
 * closed with close(2)), each one's answer is checked.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

static int is_uring(kio_ctx *ctx)
{
	return kio_ctx_backend(ctx) == KIO_BACKEND_IO_URING;
}

/* A file in dir holding text (no NUL). */
static int file_with(const char *dir, const char *name, const char *text)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	return fd;
}

static int32_t read_at(kio_ctx *ctx, int fd, char *buf, size_t len, uint64_t off)
{
	struct kt_rec r;
	return kt_await_op(ctx, kio_read(ctx, fd, buf, len, off, kt_rec_cb, kt_rec_reset(&r)), &r);
}

/* Runs ctx until every one of n ops ran its callback once. */
static void await_all(kio_ctx *ctx, struct kt_rec *r, int n)
{
	for (int i = 0; i < n; i++) {
		kt_run_until(ctx, &r[i].done, 5000);
		assert_int_equal(r[i].calls, 1);
	}
}

static void test_files_read_write(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	char *dir = kt_tmpdir();
	int other = file_with(dir, "other", "");
	int fd = file_with(dir, "f", "");
	int fds[2] = {other, fd};
	assert_int_equal(kio_register_files(ctx, fds, 2), 0);

	struct kt_rec r;
	char out[64], in[64];
	memset(out, 'a', sizeof(out));
	int64_t id = kio_write(ctx, fd, out, sizeof(out), 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 64);
	memset(in, 0, sizeof(in));
	assert_int_equal(read_at(ctx, fd, in, sizeof(in), 0), 64);
	assert_memory_equal(in, out, 64);

	/* Vectored, at an offset, then the whole file back. */
	char v1[5] = "hello", v2[3] = "abc";
	struct iovec wv[2] = {{v1, 5}, {v2, 3}};
	id = kio_writev(ctx, fd, wv, 2, 10, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 8);
	char r1[4], r2[6];
	struct iovec rv[2] = {{r1, 4}, {r2, 6}};
	id = kio_readv(ctx, fd, rv, 2, 8, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 10);
	assert_memory_equal(r1, "aahe", 4);
	assert_memory_equal(r2, "lloabc", 6);

	/* Registered buffers and registered files together. */
	static char buf[4096] __attribute__((aligned(4096)));
	struct iovec reg = {buf, sizeof(buf)};
	assert_int_equal(kio_register_buffers(ctx, &reg, 1), 0);
	memset(buf, 'z', 100);
	id = kio_write_fixed(ctx, fd, buf, 100, 64, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 100);
	memset(buf, 0, sizeof(buf));
	id = kio_read_fixed(ctx, fd, buf, sizeof(buf), 60, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 104);
	assert_memory_equal(buf, "aaaa", 4);
	assert_int_equal(buf[4], 'z');
	assert_int_equal(buf[103], 'z');
	assert_int_equal(kio_unregister_buffers(ctx), 0);

	/* The file position (KIO_OFFSET_CURRENT) and the other index. */
	id = kio_write(ctx, other, "xyz", 3, KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 3);
	assert_int_equal(lseek(other, 0, SEEK_CUR), 3);
	assert_int_equal(read_at(ctx, other, in, sizeof(in), 0), 3);
	assert_memory_equal(in, "xyz", 3);
	/* A length of 0 answers 0, as without registration. */
	assert_int_equal(read_at(ctx, fd, in, 0, 0), 0);

	assert_int_equal(kio_unregister_files(ctx), 0);
	/* The same fds work as plain fds again. */
	assert_int_equal(read_at(ctx, fd, in, 4, 10), 4);
	assert_memory_equal(in, "hell", 4);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(other), 0);
	kt_tmpdir_remove(dir);
}

static kio_ctx *foreign_ctx;
static int foreign_rc[2];

static void *call_from_thread(void *arg)
{
	(void)arg;
	int fd = 0;
	foreign_rc[0] = kio_register_files(foreign_ctx, &fd, 1);
	foreign_rc[1] = kio_unregister_files(foreign_ctx);
	return NULL;
}

static void test_files_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	int fds[3] = {p[0], p[1], p[0]};
	assert_int_equal(kio_register_files(NULL, fds, 2), -EINVAL);
	assert_int_equal(kio_register_files(ctx, NULL, 2), -EINVAL);
	assert_int_equal(kio_register_files(ctx, fds, 0), -EINVAL);
	assert_int_equal(kio_register_files(ctx, fds, (1u << 20) + 1), -EINVAL);
	assert_int_equal(kio_register_files(ctx, fds, 3), -EINVAL); /* p[0] twice */
	int neg[2] = {p[0], -1};
	assert_int_equal(kio_register_files(ctx, neg, 2), -EBADF);
	int closed[2] = {p[1], 9999};
	assert_int_equal(kio_register_files(ctx, closed, 2), -EBADF);

	/* More than RLIMIT_NOFILE allows: the kernel's -EMFILE, on both. */
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int many[65];
	for (int i = 0; i < 65; i++)
		many[i] = p[0];
	int rc = kio_register_files(ctx, many, 65);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rc, -EMFILE);

	/* No failed call registered anything. */
	assert_int_equal(kio_unregister_files(ctx), -ENXIO);
	assert_int_equal(kio_unregister_files(NULL), -EINVAL);
	assert_int_equal(kio_register_files(ctx, fds, 2), 0);
	assert_int_equal(kio_register_files(ctx, fds, 2), -EBUSY);
	assert_int_equal(kio_unregister_files(ctx), 0);
	assert_int_equal(kio_unregister_files(ctx), -ENXIO);
	/* Again, with another table. */
	assert_int_equal(kio_register_files(ctx, &p[1], 1), 0);

	/* From a thread that does not run ctx. */
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	foreign_ctx = ctx;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, call_from_thread, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(foreign_rc[0], -EPERM);
	assert_int_equal(foreign_rc[1], -EPERM);
	assert_int_equal(kio_unregister_files(ctx), 0);
	kio_ctx_destroy(ctx);
	kt_close_pipe(p);
}

/* kio_close() of a registered fd empties its slot before the close: the
 * kernel drops its reference (the pipe's reader sees end of file), and the
 * number, once reused, names the new file for kio's ops. */
static void test_files_close_reuses_number(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	char *dir = kt_tmpdir();
	int p[2];
	kt_pipe(p);
	int a = file_with(dir, "a", "AAAA");
	int fds[3] = {p[0], a, p[1]};
	assert_int_equal(kio_register_files(ctx, fds, 3), 0);
	char in[8];
	assert_int_equal(read_at(ctx, a, in, 4, 0), 4);
	assert_memory_equal(in, "AAAA", 4);

	struct kt_rec r;
	assert_int_equal(kt_await_op(ctx, kio_close(ctx, a, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	int b = file_with(dir, "b", "BBBB");
	assert_int_equal(b, a); /* the lowest free number: a's */
	memset(in, 0, sizeof(in));
	assert_int_equal(read_at(ctx, b, in, 4, 0), 4);
	assert_memory_equal(in, "BBBB", 4);

	/* The write end closed through kio: the reader gets end of file, not
	 * a wait (a timeout would say the kernel still holds the file). */
	assert_int_equal(kt_await_op(ctx, kio_close(ctx, p[1], kt_rec_cb, kt_rec_reset(&r)), &r),
			 0);
	p[1] = -1;
	int64_t id = kio_read(ctx, p[0], in, sizeof(in), KIO_OFFSET_CURRENT, kt_rec_cb,
			      kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 2000 * KT_MS), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), 0);

	/* The table still holds p[0]; both others are gone from it. */
	assert_int_equal(kio_unregister_files(ctx), 0);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(close(b), 0);
	kt_close_pipe(p);
	kt_tmpdir_remove(dir);
}

/* kio_close() of a registered fd with a read in flight on it: cancelled
 * first, then the slot, then the close. */
static void test_files_close_with_op_in_flight(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	assert_int_equal(kio_register_files(ctx, p, 2), 0);
	char in[8];
	struct kt_rec r[2];
	int64_t id = kio_read(ctx, p[0], in, sizeof(in), KIO_OFFSET_CURRENT, kt_rec_cb,
			      kt_rec_reset(&r[0]));
	assert_true(id >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r[0].calls, 0);
	assert_true(kio_close(ctx, p[0], kt_rec_cb, kt_rec_reset(&r[1])) >= 0);
	await_all(ctx, r, 2);
	assert_int_equal(r[0].res, -ECANCELED);
	assert_int_equal(r[1].res, 0);
	p[0] = -1;
	assert_int_equal(kio_unregister_files(ctx), 0);
	kio_ctx_destroy(ctx);
	kt_close_pipe(p);
}

/* kio_cancel_fd() reaches ops issued through a slot, and ops of a
 * registered fd that do not use the slot (a recv on a socket). */
static void test_files_cancel_fd(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2], s[2];
	kt_pipe(p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	int fds[2] = {p[0], s[0]};
	assert_int_equal(kio_register_files(ctx, fds, 2), 0);
	char in[8], sin[8];
	struct kt_rec r[3];
	int64_t id = kio_read(ctx, p[0], in, sizeof(in), KIO_OFFSET_CURRENT, kt_rec_cb,
			      kt_rec_reset(&r[0]));
	int64_t id2 = kio_readv(ctx, p[0], &(struct iovec){in, 4}, 1, KIO_OFFSET_CURRENT, kt_rec_cb,
				kt_rec_reset(&r[1]));
	int64_t rid = kio_recv(ctx, s[0], sin, sizeof(sin), 0, kt_rec_cb, kt_rec_reset(&r[2]));
	assert_true(id >= 0 && id2 >= 0 && rid >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 2);
	assert_int_equal(kio_cancel_fd(ctx, s[0]), 1);
	await_all(ctx, r, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].res, -ECANCELED);
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 0);
	assert_int_equal(kio_unregister_files(ctx), 0);
	kio_ctx_destroy(ctx);
	kt_close_pipe(p);
	kt_close_pipe(s);
}

/* A registered fd closed with close(2) while a read waits on it: on
 * io_uring the read holds the registered file, and kio_cancel_fd() still
 * reaches it (a cancel by the number would name nothing). On epoll the
 * read waits on the file too; the cancel finds it by number. */
static void test_files_cancel_fd_after_close2(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	int rd = dup(p[0]);
	assert_true(rd >= 0);
	assert_int_equal(kio_register_files(ctx, &rd, 1), 0);
	char in[8];
	struct kt_rec r;
	int64_t id =
		kio_read(ctx, rd, in, sizeof(in), KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(close(rd), 0);
	assert_int_equal(kio_cancel_fd(ctx, rd), 1);
	/* A cancel that missed would end the read by this timeout instead. */
	assert_int_equal(kio_op_timeout(ctx, id, 2000 * KT_MS), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ECANCELED);
	assert_int_equal(kio_unregister_files(ctx), 0);
	kio_ctx_destroy(ctx);
	kt_close_pipe(p);
}

/* The documented rule: a registered fd closed with close(2), its number
 * reused, names the old file for kio's ops on io_uring until unregister;
 * on epoll the ops use the number. */
static void test_files_close2_keeps_old_file(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	char *dir = kt_tmpdir();
	int a = file_with(dir, "a", "AAAA");
	assert_int_equal(kio_register_files(ctx, &a, 1), 0);
	assert_int_equal(close(a), 0);
	int b = file_with(dir, "b", "BBBB");
	assert_int_equal(b, a);
	char in[4];
	assert_int_equal(read_at(ctx, b, in, 4, 0), 4);
	assert_memory_equal(in, is_uring(ctx) ? "AAAA" : "BBBB", 4);
	assert_int_equal(kio_unregister_files(ctx), 0);
	assert_int_equal(read_at(ctx, b, in, 4, 0), 4);
	assert_memory_equal(in, "BBBB", 4);
	kio_ctx_destroy(ctx);
	assert_int_equal(close(b), 0);
	kt_tmpdir_remove(dir);
}

/* KIO_CTX_READ_NOWAIT: a registered fd skips the synchronous attempt on
 * the number, so the rule above holds for its reads too. */
static void test_files_nowait_uses_table(void **state)
{
	(void)state;
	kio_ctx_opts opts;
	kio_ctx_opts_init(&opts, sizeof(opts));
	opts.flags |= KIO_CTX_READ_NOWAIT;
	kio_ctx *ctx = NULL;
	assert_int_equal(kio_ctx_create(&ctx, &opts, sizeof(opts)), 0);
	char *dir = kt_tmpdir();
	int a = file_with(dir, "a", "AAAA");
	assert_int_equal(kio_register_files(ctx, &a, 1), 0);
	char in[4];
	assert_int_equal(read_at(ctx, a, in, 4, 0), 4);
	assert_memory_equal(in, "AAAA", 4);
	assert_int_equal(close(a), 0);
	int b = file_with(dir, "b", "BBBB");
	assert_int_equal(b, a);
	struct iovec iov = {in, 4};
	struct kt_rec r;
	int64_t id = kio_readv(ctx, b, &iov, 1, 0, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 4);
	assert_memory_equal(in, is_uring(ctx) ? "AAAA" : "BBBB", 4);
	assert_int_equal(read_at(ctx, b, in, 4, 0), 4);
	assert_memory_equal(in, is_uring(ctx) ? "AAAA" : "BBBB", 4);
	assert_int_equal(kio_unregister_files(ctx), 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(close(b), 0);
	kt_tmpdir_remove(dir);
}

/* Unregister is refused while an op on a registered fd is in flight and
 * allowed once its callback ran; ops then use the plain fd. */
static void test_files_unregister_in_flight(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	assert_int_equal(kio_register_files(ctx, p, 2), 0);
	char in[8];
	struct kt_rec r;
	int64_t id = kio_read(ctx, p[0], in, sizeof(in), KIO_OFFSET_CURRENT, kt_rec_cb,
			      kt_rec_reset(&r));
	assert_true(id >= 0);
	/* Queued, not yet submitted: refused as well. */
	assert_int_equal(kio_unregister_files(ctx), -EBUSY);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(kio_unregister_files(ctx), -EBUSY);
	assert_int_equal(write(p[1], "data", 4), 4);
	assert_int_equal(kt_await_op(ctx, id, &r), 4);
	assert_memory_equal(in, "data", 4);
	assert_int_equal(kio_unregister_files(ctx), 0);
	id = kio_read(ctx, p[0], in, sizeof(in), KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(write(p[1], "more", 4), 4);
	assert_int_equal(kt_await_op(ctx, id, &r), 4);
	assert_memory_equal(in, "more", 4);
	kio_ctx_destroy(ctx);
	kt_close_pipe(p);
}

/* Before any thread ran ctx, a kio_close() of a registered fd leaves its
 * slot's update queued: on io_uring unregister waits for the first run
 * (-EBUSY), which must not let the update meet a later table. */
static void test_files_close_before_run(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2], q[2];
	kt_pipe(p);
	kt_pipe(q);
	assert_int_equal(kio_register_files(ctx, p, 2), 0);
	struct kt_rec r;
	int64_t cid = kio_close(ctx, p[1], kt_rec_cb, kt_rec_reset(&r));
	assert_true(cid >= 0);
	/* A new table whose slot 1 the old update must not empty: registered
	 * at once where the unregister was allowed, else after the run. */
	int rc = kio_unregister_files(ctx);
	assert_true(rc == 0 || rc == -EBUSY);
	if (rc == 0)
		assert_int_equal(kio_register_files(ctx, q, 2), 0);
	assert_int_equal(kt_await_op(ctx, cid, &r), 0);
	p[1] = -1;
	if (rc != 0) {
		assert_int_equal(kio_unregister_files(ctx), 0);
		assert_int_equal(kio_register_files(ctx, q, 2), 0);
	}
	assert_int_equal(write(q[1], "q", 1), 1);
	char in[4];
	int64_t id = kio_read(ctx, q[0], in, sizeof(in), KIO_OFFSET_CURRENT, kt_rec_cb,
			      kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 1);
	id = kio_write(ctx, q[1], "w", 1, KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 1);
	assert_int_equal(kio_unregister_files(ctx), 0);
	/* The answer itself: io_uring had an update to wait for. */
	assert_int_equal(rc, is_uring(ctx) ? -EBUSY : 0);
	kio_ctx_destroy(ctx);
	kt_close_pipe(p);
	kt_close_pipe(q);
}

/* Destroy with registered files and ops in flight on them: each callback
 * runs once, cancelled; nothing leaks (the teardown counts fds). */
static void test_files_destroy_in_flight(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	assert_int_equal(kio_register_files(ctx, p, 2), 0);
	char in[3][8];
	struct kt_rec r[3];
	for (int i = 0; i < 3; i++)
		assert_true(kio_read(ctx, p[0], in[i], sizeof(in[i]), KIO_OFFSET_CURRENT, kt_rec_cb,
				     kt_rec_reset(&r[i])) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	kio_ctx_destroy(ctx);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, -ECANCELED);
	}
	kt_close_pipe(p);
}

/* Callbacks that destroy runs (cancelled ops) may still call both: a
 * new table is refused (-ESHUTDOWN), the old one can be given back. */
struct in_destroy {
	kio_ctx *ctx;
	int fd;
	int calls;
	int reg_rc;
	int unreg_rc;
};

static void call_in_destroy(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	struct in_destroy *d = user_data;
	d->calls++;
	assert_int_equal(res, -ECANCELED);
	d->unreg_rc = kio_unregister_files(d->ctx);
	d->reg_rc = kio_register_files(d->ctx, &d->fd, 1);
}

static void test_files_calls_during_destroy(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	assert_int_equal(kio_register_files(ctx, &p[1], 1), 0);
	struct in_destroy d = {ctx, p[1], 0, 1, 1};
	char in[8];
	assert_true(kio_read(ctx, p[0], in, sizeof(in), KIO_OFFSET_CURRENT, call_in_destroy, &d) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.unreg_rc, 0);
	assert_int_equal(d.reg_rc, -ESHUTDOWN);
	kt_close_pipe(p);
}

/* A registered pipe read that waits, then a timeout: -ETIMEDOUT. A write
 * to a registered pipe without a reader: -EPIPE, no SIGPIPE. */
static void test_files_timeout_and_epipe(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	assert_int_equal(kio_register_files(ctx, p, 2), 0);
	char in[8];
	struct kt_rec r;
	int64_t id = kio_read(ctx, p[0], in, sizeof(in), KIO_OFFSET_CURRENT, kt_rec_cb,
			      kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10 * KT_MS), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ETIMEDOUT);
	assert_int_equal(kio_unregister_files(ctx), 0);
	assert_int_equal(close(p[0]), 0);
	p[0] = -1;
	assert_int_equal(kio_register_files(ctx, &p[1], 1), 0);
	id = kio_write(ctx, p[1], "x", 1, KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), -EPIPE);
	kio_ctx_destroy(ctx); /* still registered: destroy lets go */
	kt_close_pipe(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_files_read_write),
		KT_TEST(test_files_bad_args),
		KT_TEST(test_files_close_reuses_number),
		KT_TEST(test_files_close_with_op_in_flight),
		KT_TEST(test_files_cancel_fd),
		KT_TEST(test_files_cancel_fd_after_close2),
		KT_TEST(test_files_close2_keeps_old_file),
		KT_TEST(test_files_nowait_uses_table),
		KT_TEST(test_files_unregister_in_flight),
		KT_TEST(test_files_close_before_run),
		KT_TEST(test_files_destroy_in_flight),
		KT_TEST(test_files_timeout_and_epipe),
		KT_TEST(test_files_calls_during_destroy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
