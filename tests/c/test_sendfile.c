/* SPDX-License-Identifier: MIT */
/*
 * kio_sendfile(): file -> pooled pipe -> socket. Byte-exact transfers from
 * an offset and from the file position, short files, pipes as the
 * destination, partial progress on cancel and timeout, and above all: a
 * pipe that still held bytes when a transfer failed never hands them to
 * the next transfer.
 */
#include "kt_net.h"

#include <sys/stat.h>

#define WAIT_MS 5000

static void expect_err(int64_t got, int64_t want, const struct kt_rec *r)
{
	assert_int_equal(got, want);
	assert_int_equal(r->calls, 0);
}

/* A temporary file holding n bytes of stream seed; unlinked at once. */
static int make_file(size_t n, unsigned seed)
{
	char path[] = "/tmp/kio-sendfile-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	unsigned char *p = malloc(n ? n : 1);
	assert_non_null(p);
	kt_fill(p, n, 0, seed);
	assert_int_equal(pwrite(fd, p, n, 0), (ssize_t)n);
	free(p);
	return fd;
}

/* Reads everything that arrives on fd, through the same ctx. */
struct sink {
	kio_ctx *ctx;
	int fd;
	unsigned char *buf;
	size_t cap, n;
	int eof;
	int32_t err;
};

static void sink_arm(struct sink *s);

static void sink_cb(void *ud, int32_t res, uint32_t flags)
{
	struct sink *s = ud;
	(void)flags;
	if (res <= 0) {
		if (res == 0)
			s->eof = 1;
		else
			s->err = res;
		return;
	}
	s->n += (size_t)res;
	if (s->n < s->cap)
		sink_arm(s);
}

static void sink_arm(struct sink *s)
{
	int64_t id = kio_read(s->ctx, s->fd, s->buf + s->n, s->cap - s->n, KIO_OFFSET_CURRENT, sink_cb, s);
	assert_true(id >= 0);
}

static void sink_start(struct sink *s, kio_ctx *ctx, int fd, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->fd = fd;
	s->cap = cap;
	s->buf = malloc(cap);
	assert_non_null(s->buf);
	sink_arm(s);
}

/* Runs until the sendfile callback ran and the sink holds want bytes. */
static void run_transfer(kio_ctx *ctx, struct kt_rec *r, struct sink *s, size_t want)
{
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (!r->done || s->n < want) {
		assert_true(kt_now_ns() < deadline);
		assert_int_equal(s->err, 0);
		assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
	}
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->finals, 1);
}

static void test_sendfile_300k_from_offset(void **state)
{
	(void)state;
	enum { FILE_SIZE = 400000, OFF = 12345, COUNT = 300000 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct sink s;
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	int fd = make_file(FILE_SIZE, 1);

	sink_start(&s, ctx, sfd, COUNT + 1);
	int64_t id = kio_sendfile(ctx, cfd, fd, OFF, COUNT, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(r.calls, 0);
	run_transfer(ctx, &r, &s, COUNT);
	assert_int_equal(r.res, COUNT);
	assert_int_equal(s.n, COUNT);
	assert_true(kt_check(s.buf, COUNT, OFF, 1));
	/* An explicit offset leaves the file position alone. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	/* Nothing more arrives: close the sender and see end of stream. */
	assert_int_equal(close(cfd), 0);
	kt_run_until(ctx, &s.eof, WAIT_MS);
	assert_int_equal(s.n, COUNT);

	free(s.buf);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(sfd), 0);
	kt_drain_destroy(ctx);
}

static void test_sendfile_current_and_short(void **state)
{
	(void)state;
	enum { FILE_SIZE = 100000 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct sink s;
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	int fd = make_file(FILE_SIZE, 2);
	sink_start(&s, ctx, sfd, FILE_SIZE);

	/* KIO_OFFSET_CURRENT uses and moves the file position. */
	assert_int_equal(lseek(fd, 1000, SEEK_SET), 1000);
	assert_true(kio_sendfile(ctx, cfd, fd, KIO_OFFSET_CURRENT, 5000, kt_rec_cb, kt_rec_reset(&r)) >= 0);
	run_transfer(ctx, &r, &s, 5000);
	assert_int_equal(r.res, 5000);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 6000);
	assert_true(kt_check(s.buf, 5000, 1000, 2));

	/* The file ends first: a short transfer, reported as such. */
	assert_true(kio_sendfile(ctx, cfd, fd, FILE_SIZE - 3000, 100000, kt_rec_cb, kt_rec_reset(&r)) >= 0);
	run_transfer(ctx, &r, &s, 8000);
	assert_int_equal(r.res, 3000);
	assert_true(kt_check(s.buf + 5000, 3000, FILE_SIZE - 3000, 2));

	/* At or past the end, and count 0: res 0, still after the call. */
	assert_int_equal(kt_await_op(ctx, kio_sendfile(ctx, cfd, fd, FILE_SIZE, 10, kt_rec_cb, kt_rec_reset(&r)), &r),
			 0);
	assert_int_equal(kt_await_op(ctx, kio_sendfile(ctx, cfd, fd, 0, 0, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	kt_run_for(ctx, 10);
	assert_int_equal(s.n, 8000);

	assert_int_equal(kio_op_cancel(ctx, 0), -ENOENT);
	assert_int_equal(close(cfd), 0);
	kt_run_until(ctx, &s.eof, WAIT_MS);
	free(s.buf);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(sfd), 0);
	kt_drain_destroy(ctx);
}

static void test_sendfile_to_pipe_and_pool(void **state)
{
	(void)state;
	enum { N = 200000 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r[3];
	struct sink s;
	int p[2];
	kt_pipe(p);
	int fd = make_file(N, 3);
	int base = kt_count_fds();

	/* A pipe works as the destination too. */
	sink_start(&s, ctx, p[0], N);
	assert_true(kio_sendfile(ctx, p[1], fd, 0, N, kt_rec_cb, kt_rec_reset(&r[0])) >= 0);
	run_transfer(ctx, &r[0], &s, N);
	assert_int_equal(r[0].res, N);
	assert_true(kt_check(s.buf, N, 0, 3));
	free(s.buf);
	/* Its pipe went back to the pool: two fds, kept for the next transfer. */
	assert_int_equal(kt_count_fds(), base + 2);

	/* Transfers one after the other reuse it: no new pipe per op. */
	for (int i = 0; i < 5; i++) {
		int cfd, sfd;
		kt_tcp_pair(&cfd, &sfd);
		sink_start(&s, ctx, sfd, 70000);
		assert_true(kio_sendfile(ctx, cfd, fd, (uint64_t)i * 1000, 70000, kt_rec_cb, kt_rec_reset(&r[0])) >=
			    0);
		run_transfer(ctx, &r[0], &s, 70000);
		assert_int_equal(r[0].res, 70000);
		assert_true(kt_check(s.buf, 70000, (size_t)i * 1000, 3));
		free(s.buf);
		assert_int_equal(close(cfd), 0);
		assert_int_equal(close(sfd), 0);
		assert_int_equal(kt_count_fds(), base + 2);
	}

	/* Three at once need three pipes; all go back to the pool. */
	int c[3], sv[3];
	struct sink ss[3];
	for (int i = 0; i < 3; i++) {
		kt_tcp_pair(&c[i], &sv[i]);
		sink_start(&ss[i], ctx, sv[i], 150000);
		assert_true(kio_sendfile(ctx, c[i], fd, (uint64_t)i * 10, 150000, kt_rec_cb, kt_rec_reset(&r[i])) >=
			    0);
	}
	for (int i = 0; i < 3; i++) {
		run_transfer(ctx, &r[i], &ss[i], 150000);
		assert_int_equal(r[i].res, 150000);
		assert_true(kt_check(ss[i].buf, 150000, (size_t)i * 10, 3));
		free(ss[i].buf);
		assert_int_equal(close(c[i]), 0);
		assert_int_equal(close(sv[i]), 0);
	}
	assert_int_equal(kt_count_fds(), base + 6);

	kt_close_pipe(p);
	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
}

/*
 * The reference library's bug: a transfer failed with bytes still in its
 * pipe, the pipe went back to the pool, and the next transfer sent those
 * bytes first - to another socket.
 */
static void test_sendfile_failed_transfer_leaks_nothing(void **state)
{
	(void)state;
	enum { N = 50000 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct sink s;
	int fa = make_file(N, 4), fb = make_file(N, 5);
	int base = kt_count_fds();

	/* A peer that is gone: the file -> pipe step works, the pipe -> socket
	 * step fails with bytes in the pipe. -EPIPE, and no SIGPIPE. */
	int sv[2];
	kt_unix_pair(sv);
	assert_int_equal(close(sv[1]), 0);
	assert_int_equal(kt_await_op(ctx, kio_sendfile(ctx, sv[0], fa, 0, N, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EPIPE);
	kt_assert_sigpipe_default();
	assert_int_equal(close(sv[0]), 0);
	/* The pipe held bytes: it was closed, not pooled. */
	assert_int_equal(kt_count_fds(), base);

	/* The next transfer, to another socket, carries only its own file. */
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	sink_start(&s, ctx, sfd, N + 1);
	assert_true(kio_sendfile(ctx, cfd, fb, 0, N, kt_rec_cb, kt_rec_reset(&r)) >= 0);
	run_transfer(ctx, &r, &s, N);
	assert_int_equal(r.res, N);
	assert_int_equal(close(cfd), 0);
	kt_run_until(ctx, &s.eof, WAIT_MS);
	assert_int_equal(s.n, N);
	assert_true(kt_check(s.buf, N, 0, 5));
	free(s.buf);
	assert_int_equal(close(sfd), 0);

	/* A destination that is not open: the same, -EBADF. */
	assert_int_equal(kt_await_op(ctx, kio_sendfile(ctx, KT_CLOSED_FD, fa, 0, N, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EBADF);
	kt_tcp_pair(&cfd, &sfd);
	sink_start(&s, ctx, sfd, N + 1);
	assert_true(kio_sendfile(ctx, cfd, fb, 100, N - 100, kt_rec_cb, kt_rec_reset(&r)) >= 0);
	run_transfer(ctx, &r, &s, N - 100);
	assert_int_equal(close(cfd), 0);
	kt_run_until(ctx, &s.eof, WAIT_MS);
	assert_int_equal(s.n, N - 100);
	assert_true(kt_check(s.buf, N - 100, 100, 5));
	free(s.buf);

	assert_int_equal(close(sfd), 0);
	assert_int_equal(close(fa), 0);
	assert_int_equal(close(fb), 0);
	kt_drain_destroy(ctx);
}

/* Cancel or time out a transfer stuck on a peer that does not read: the
 * partial count is exactly what the peer can read, and nothing follows. */
static void stuck_transfer(int use_timeout)
{
	enum { N = 2 << 20 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct sink s;
	int fa = make_file(N, 6), fb = make_file(100000, 7);
	int cfd, sfd, small = 16384;
	kt_tcp_pair(&cfd, &sfd);
	assert_int_equal(setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	int base = kt_count_fds();

	int64_t id = kio_sendfile(ctx, cfd, fa, 0, N, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	if (use_timeout) {
		assert_int_equal(kio_op_timeout(ctx, id, 30 * KT_MS), 0);
	} else {
		kt_run_for(ctx, 30);
		assert_int_equal(r.calls, 0);
		assert_int_equal(kio_op_cancel(ctx, id), 0);
	}
	int32_t res = kt_await_op(ctx, id, &r);
	assert_true(res == (use_timeout ? -ETIMEDOUT : -ECANCELED) || (res > 0 && res < N));
	/* Stopped in the pipe -> socket step, its pipe held bytes and was
	 * closed; stopped (on a slow machine) in a file -> pipe step, the
	 * pipe was empty and went back to the pool. */
	int fds = kt_count_fds();
	assert_true(fds == base || fds == base + 2);
	size_t moved = res > 0 ? (size_t)res : 0;
	unsigned char *got = malloc(moved + 1);
	assert_non_null(got);
	kt_read_exact(sfd, got, moved);
	assert_true(kt_check(got, moved, 0, 6));
	usleep(20000);
	kt_assert_no_data(sfd);
	free(got);
	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);

	/* The next transfer is byte-exact. */
	kt_tcp_pair(&cfd, &sfd);
	sink_start(&s, ctx, sfd, 100001);
	assert_true(kio_sendfile(ctx, cfd, fb, 0, 100000, kt_rec_cb, kt_rec_reset(&r)) >= 0);
	run_transfer(ctx, &r, &s, 100000);
	assert_int_equal(r.res, 100000);
	assert_int_equal(close(cfd), 0);
	kt_run_until(ctx, &s.eof, WAIT_MS);
	assert_int_equal(s.n, 100000);
	assert_true(kt_check(s.buf, 100000, 0, 7));
	free(s.buf);

	assert_int_equal(close(sfd), 0);
	assert_int_equal(close(fa), 0);
	assert_int_equal(close(fb), 0);
	kt_drain_destroy(ctx);
}

static void test_sendfile_cancel_partial(void **state)
{
	(void)state;
	stuck_transfer(0);
}

static void test_sendfile_timeout_partial(void **state)
{
	(void)state;
	stuck_transfer(1);
}

/* A non-blocking socket that fills up makes the transfer wait for room,
 * not end early. */
static void test_sendfile_nonblocking_socket(void **state)
{
	(void)state;
	enum { N = 1 << 20 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	struct sink s;
	int cfd, sfd, small = 16384;
	kt_tcp_pair(&cfd, &sfd);
	assert_int_equal(setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(fcntl(cfd, F_SETFL, O_NONBLOCK), 0);
	int fd = make_file(N, 10);

	int64_t id = kio_sendfile(ctx, cfd, fd, 0, N, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	/* Nobody reads for a while: the socket is full, the transfer waits. */
	kt_run_for(ctx, 30);
	assert_int_equal(r.calls, 0);
	sink_start(&s, ctx, sfd, N + 1);
	run_transfer(ctx, &r, &s, N);
	assert_int_equal(r.res, N);
	assert_int_equal(close(cfd), 0);
	kt_run_until(ctx, &s.eof, WAIT_MS);
	assert_int_equal(s.n, N);
	assert_true(kt_check(s.buf, N, 0, 10));
	free(s.buf);

	assert_int_equal(close(fd), 0);
	assert_int_equal(close(sfd), 0);
	kt_drain_destroy(ctx);
}

static void test_sendfile_destroy_in_flight(void **state)
{
	(void)state;
	enum { N = 2 << 20 };
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int fa = make_file(N, 8);
	int cfd, sfd, small = 16384;
	kt_tcp_pair(&cfd, &sfd);
	assert_int_equal(setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);

	assert_true(kio_sendfile(ctx, cfd, fa, 0, N, kt_rec_cb, kt_rec_reset(&r)) >= 0);
	kt_run_for(ctx, 20);
	assert_int_equal(r.calls, 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(r.calls, 1);
	assert_true(r.res == -ECANCELED || (r.res > 0 && r.res < N));
	/* The leak check of KT_TEST proves the pipes were closed. */
	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);
	assert_int_equal(close(fa), 0);
}

static void test_sendfile_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int fd = make_file(100, 9);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	kt_rec_reset(&r);

	expect_err(kio_sendfile(ctx, -1, fd, 0, 10, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_sendfile(ctx, cfd, -1, 0, 10, kt_rec_cb, &r), -EBADF, &r);
	expect_err(kio_sendfile(ctx, cfd, fd, (uint64_t)INT64_MAX + 1, 10, kt_rec_cb, &r), -EINVAL, &r);
	expect_err(kio_sendfile(ctx, cfd, fd, 0, 10, NULL, &r), -EINVAL, &r);
	expect_err(kio_sendfile(NULL, cfd, fd, 0, 10, kt_rec_cb, &r), -EINVAL, &r);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);

	/* A source that is not open, or cannot be spliced from. */
	assert_int_equal(kt_await_op(ctx, kio_sendfile(ctx, cfd, KT_CLOSED_FD, 0, 10, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -EBADF);
	int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir >= 0);
	assert_true(kt_await_op(ctx, kio_sendfile(ctx, cfd, dir, 0, 10, kt_rec_cb, kt_rec_reset(&r)), &r) < 0);
	/* A pipe has no offsets: only KIO_OFFSET_CURRENT works on it. */
	int p[2];
	kt_pipe(p);
	assert_int_equal(kt_await_op(ctx, kio_sendfile(ctx, cfd, p[0], 0, 10, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -ESPIPE);
	kt_close_pipe(p);
	kt_assert_no_data(sfd);

	assert_int_equal(close(dir), 0);
	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);
	assert_int_equal(close(fd), 0);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_sendfile_300k_from_offset),
		KT_TEST(test_sendfile_current_and_short),
		KT_TEST(test_sendfile_to_pipe_and_pool),
		KT_TEST(test_sendfile_failed_transfer_leaks_nothing),
		KT_TEST(test_sendfile_cancel_partial),
		KT_TEST(test_sendfile_timeout_partial),
		KT_TEST(test_sendfile_nonblocking_socket),
		KT_TEST(test_sendfile_destroy_in_flight),
		KT_TEST(test_sendfile_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
