/* SPDX-License-Identifier: MIT */
/*
 * Multishot socket ops: kio_accept_multishot() and kio_recv_multishot()
 * call back with KIO_F_MORE until a final callback without it (cancel, an
 * error, end of stream, -ENOBUFS, -EMFILE), exactly once, even at destroy.
 * Out of fds, a multishot accept ends instead of spinning.
 */
#include "kt_net.h"

#include <sys/resource.h>
#include <sys/wait.h>

#define WAIT_MS 5000

/* Records every callback of a multishot op. */
struct shots {
	int more;      /* callbacks with KIO_F_MORE */
	int finals;
	int32_t final_res;
	uint32_t final_flags;
	int fds[64];   /* accept: the fds delivered */
	int nfds;
	int bad;       /* callbacks after the final one, or odd results */
};

static void shots_cb(void *ud, int32_t res, uint32_t flags)
{
	struct shots *s = ud;
	if (s->finals)
		s->bad++;
	if (flags & KIO_F_MORE) {
		s->more++;
		if (res >= 0 && s->nfds < 64)
			s->fds[s->nfds++] = res;
		else
			s->bad++;
		return;
	}
	s->finals++;
	s->final_res = res;
	s->final_flags = flags;
}

static void close_shots(struct shots *s)
{
	for (int i = 0; i < s->nfds; i++)
		assert_int_equal(close(s->fds[i]), 0);
	s->nfds = 0;
}

static int connect_client(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof(*addr)), 0);
	return fd;
}

/* Runs ctx until s has seen n callbacks with KIO_F_MORE (or a final one). */
static void run_until_more(kio_ctx *ctx, struct shots *s, int n)
{
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (s->more < n && !s->finals) {
		assert_true(kt_now_ns() < deadline);
		assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
	}
}

/* ---- accept ---- */

static void test_ms_accept_ten_then_cancel(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct shots s;
	memset(&s, 0, sizeof(s));
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);
	int clients[10];

	int64_t id = kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC | SOCK_NONBLOCK, shots_cb, &s);
	assert_true(id >= 0);
	assert_int_equal(s.more + s.finals, 0);
	for (int i = 0; i < 10; i++)
		clients[i] = connect_client(&addr);
	run_until_more(ctx, &s, 10);
	assert_int_equal(s.more, 10);
	assert_int_equal(s.finals, 0);
	assert_int_equal(kio_ctx_pending(ctx), 1); /* a multishot op counts as pending */
	for (int i = 0; i < 10; i++) {
		assert_true(fcntl(s.fds[i], F_GETFD) & FD_CLOEXEC);
		assert_true(fcntl(s.fds[i], F_GETFL) & O_NONBLOCK);
	}

	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &s.finals, WAIT_MS);
	assert_int_equal(s.finals, 1);
	assert_int_equal(s.final_res, -ECANCELED);
	assert_int_equal(s.final_flags & KIO_F_MORE, 0);
	assert_int_equal(s.more, 10);
	assert_int_equal(s.bad, 0);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	/* The listener still works after the op ended. */
	int late = connect_client(&addr);
	struct kt_rec r;
	int fd = kt_await_op(ctx, kio_accept(ctx, lfd, NULL, NULL, SOCK_CLOEXEC, kt_rec_cb, kt_rec_reset(&r)), &r);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(late), 0);

	close_shots(&s);
	for (int i = 0; i < 10; i++)
		assert_int_equal(close(clients[i]), 0);
	assert_int_equal(close(lfd), 0);
	kt_drain_destroy(ctx);
}

static void test_ms_accept_timeout_and_close(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct shots s;
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);

	/* A timeout ends a multishot op like a cancel, with -ETIMEDOUT. */
	memset(&s, 0, sizeof(s));
	int64_t id = kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, shots_cb, &s);
	assert_int_equal(kio_op_timeout(ctx, id, 20 * KT_MS), 0);
	int c1 = connect_client(&addr);
	kt_run_until(ctx, &s.finals, WAIT_MS);
	assert_int_equal(s.final_res, -ETIMEDOUT);
	assert_int_equal(s.more, 1);
	close_shots(&s);
	assert_int_equal(close(c1), 0);

	/* kio_close() of the listener ends it with -ECANCELED. */
	memset(&s, 0, sizeof(s));
	assert_true(kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, shots_cb, &s) >= 0);
	kt_run_for(ctx, 5);
	struct kt_rec r;
	assert_int_equal(kt_await_op(ctx, kio_close(ctx, lfd, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	kt_run_until(ctx, &s.finals, WAIT_MS);
	assert_int_equal(s.final_res, -ECANCELED);
	assert_int_equal(s.more, 0);
	assert_int_equal(s.bad, 0);
	kt_drain_destroy(ctx);
}

/*
 * Out of fds: the op must end with -EMFILE after the few accepts that fit,
 * not spin. Lowering RLIMIT_NOFILE affects the whole process, so this runs
 * in a child; its exit status is the verdict (0 ok, 77 skip, else the
 * number of the failed check).
 */
static int emfile_child(void)
{
	kio_ctx *ctx = NULL;
	if (kio_ctx_create(&ctx, NULL, 0) < 0)
		return 77;
	enum { CLIENTS = 12, ROOM = 3 };
	struct sockaddr_in addr;
	int one = 1;
	socklen_t len = sizeof(addr);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 64) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len))
		return 2;
	int clients[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		if ((clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return 3;
	/* Room for exactly ROOM more fds: the limit is one past the highest
	 * fd in use, plus ROOM, minus the holes below it. */
	int highest = -1, open_fds = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0) {
			highest = fd;
			open_fds++;
		}
	/* Plug the holes below the highest fd, so the room is exact. */
	for (int holes = highest + 1 - open_fds; holes > 0; holes--)
		if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0)
			return 14;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = (rlim_t)(highest + 1 + ROOM);
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return 4;

	struct shots s;
	memset(&s, 0, sizeof(s));
	uint64_t t0 = kt_now_ns();
	if (kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, shots_cb, &s) < 0)
		return 5;
	/* Clients connect with plain syscalls: the backlog completes them. */
	for (int i = 0; i < CLIENTS; i++)
		if (connect(clients[i], (struct sockaddr *)&addr, sizeof(addr)))
			return 6;
	while (!s.finals && kt_now_ns() - t0 < 5000 * KT_MS)
		if (kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) < 0)
			return 7;
	if (s.finals != 1 || s.final_res != -EMFILE)
		return 8;
	/* It took the fds there were and stopped: a handful of callbacks. */
	if (s.more != ROOM || s.bad)
		return 9;
	if (kt_now_ns() - t0 > 2000 * KT_MS)
		return 10;

	/* The documented recovery: free an fd, start again; it takes one
	 * more connection and ends with -EMFILE again. */
	close(s.fds[--s.nfds]);
	struct shots s2;
	memset(&s2, 0, sizeof(s2));
	if (kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, shots_cb, &s2) < 0)
		return 11;
	while (!s2.finals && kt_now_ns() - t0 < 5000 * KT_MS)
		if (kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) < 0)
			return 12;
	if (s2.finals != 1 || s2.final_res != -EMFILE || s2.more != 1)
		return 13;
	kio_ctx_destroy(ctx);
	return 0;
}

static void test_ms_accept_emfile_no_spin(void **state)
{
	(void)state;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(emfile_child());
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	if (WEXITSTATUS(status) != 0)
		fail_msg("EMFILE child failed at check %d", WEXITSTATUS(status));
}

/* ---- recv multishot ---- */

struct rx {
	kio_ctx *ctx;
	kio_buf_ring *ring;
	uint32_t size;        /* buffer size */
	int release;          /* give buffers back from the callback */
	unsigned char *got;   /* everything received, in order */
	size_t n, cap;
	int more, finals, bad;
	int32_t final_res;
	uint32_t final_flags;
	int held[64];         /* ids kept when !release */
	int nheld;
	int seen[64];         /* how often each id was used */
};

static void rx_cb(void *ud, int32_t res, uint32_t flags)
{
	struct rx *x = ud;
	if (x->finals)
		x->bad++;
	if (flags & KIO_F_MORE)
		x->more++;
	else {
		x->finals++;
		x->final_res = res;
		x->final_flags = flags;
	}
	if (res <= 0) {
		if (flags & KIO_F_BUFFER)
			x->bad++; /* no data, no buffer */
		return;
	}
	if (!(flags & KIO_F_BUFFER)) {
		x->bad++;
		return;
	}
	uint16_t id = (uint16_t)(flags >> 16);
	const unsigned char *p = kio_buf_ring_data(x->ring, id);
	if (!p || (uint32_t)res > x->size || x->n + (size_t)res > x->cap) {
		x->bad++;
		return;
	}
	memcpy(x->got + x->n, p, (size_t)res);
	x->n += (size_t)res;
	if (id < 64)
		x->seen[id]++;
	if (x->release) {
		if (kio_buf_ring_release(x->ring, id) != 0)
			x->bad++;
	} else if (x->nheld < 64) {
		x->held[x->nheld++] = id;
	}
}

static void rx_init(struct rx *x, kio_ctx *ctx, kio_buf_ring *ring, uint32_t size, size_t cap, int release)
{
	memset(x, 0, sizeof(*x));
	x->ctx = ctx;
	x->ring = ring;
	x->size = size;
	x->release = release;
	x->cap = cap;
	x->got = malloc(cap);
	assert_non_null(x->got);
}

static void test_ms_recv_40k_16_buffers(void **state)
{
	(void)state;
	enum { TOTAL = 40 * 1024, CHUNK = 4000, BUFSZ = 1024 };
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = kt_make_ring(ctx, 7, 16, BUFSZ);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	static unsigned char out[TOTAL];
	kt_fill(out, TOTAL, 0, 21);
	struct rx x;
	rx_init(&x, ctx, ring, BUFSZ, TOTAL, 1);

	int64_t id = kio_recv_multishot(ctx, sfd, ring, 0, rx_cb, &x);
	assert_true(id >= 0);
	assert_int_equal(x.more + x.finals, 0);
	/* In pieces, each one received before the next is written: 40 KB
	 * through 16 KiB of buffers means every buffer is used again. */
	for (size_t sent = 0; sent < TOTAL;) {
		size_t n = TOTAL - sent < CHUNK ? TOTAL - sent : CHUNK;
		assert_int_equal(write(cfd, out + sent, n), (ssize_t)n);
		sent += n;
		uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
		while (x.n < sent && !x.finals) {
			assert_true(kt_now_ns() < deadline);
			assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
		}
		assert_int_equal(x.finals, 0);
	}
	assert_int_equal(x.n, TOTAL);
	assert_memory_equal(x.got, out, TOTAL);
	assert_int_equal(x.bad, 0);
	assert_true(x.more >= TOTAL / BUFSZ);
	int used = 0, reused = 0;
	for (int i = 0; i < 16; i++) {
		used += x.seen[i] > 0;
		reused += x.seen[i] > 1;
	}
	assert_int_equal(used, 16);
	assert_true(reused > 0);
	for (int i = 16; i < 64; i++)
		assert_int_equal(x.seen[i], 0);

	/* End of stream: a final callback with res 0 and no KIO_F_MORE. */
	assert_int_equal(shutdown(cfd, SHUT_WR), 0);
	kt_run_until(ctx, &x.finals, WAIT_MS);
	assert_int_equal(x.final_res, 0);
	assert_int_equal(x.final_flags & (KIO_F_MORE | KIO_F_BUFFER), 0);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);

	free(x.got);
	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);
	kt_drain_destroy(ctx);
	kio_buf_ring_destroy(ring);
}

static void test_ms_recv_enobufs(void **state)
{
	(void)state;
	enum { TOTAL = 1000, BUFSZ = 64, COUNT = 4 };
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = kt_make_ring(ctx, 1, COUNT, BUFSZ);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	static unsigned char out[TOTAL];
	kt_fill(out, TOTAL, 0, 33);
	struct rx x;
	rx_init(&x, ctx, ring, BUFSZ, TOTAL, 0);

	/* The callback keeps every buffer: after COUNT of them the ring is
	 * dry and the op ends with -ENOBUFS. */
	assert_int_equal(write(cfd, out, TOTAL), TOTAL);
	assert_true(kio_recv_multishot(ctx, sfd, ring, 0, rx_cb, &x) >= 0);
	kt_run_until(ctx, &x.finals, WAIT_MS);
	assert_int_equal(x.final_res, -ENOBUFS);
	assert_int_equal(x.final_flags & KIO_F_MORE, 0);
	assert_int_equal(x.more, COUNT);
	assert_int_equal(x.n, COUNT * BUFSZ);
	assert_int_equal(x.nheld, COUNT);
	assert_int_equal(x.bad, 0);

	/* What the man page says: release the buffers, start it again.
	 * Nothing was lost in between. */
	while (x.n < TOTAL) {
		for (int i = 0; i < x.nheld; i++)
			assert_int_equal(kio_buf_ring_release(ring, (uint16_t)x.held[i]), 0);
		x.nheld = 0;
		x.finals = 0;
		assert_true(kio_recv_multishot(ctx, sfd, ring, 0, rx_cb, &x) >= 0);
		uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
		while (!x.finals && x.n < TOTAL) {
			assert_true(kt_now_ns() < deadline);
			assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
		}
	}
	assert_int_equal(x.n, TOTAL);
	assert_memory_equal(x.got, out, TOTAL);
	assert_int_equal(x.bad, 0);

	/* Let the last op end: close the writer. */
	assert_int_equal(close(cfd), 0);
	for (int i = 0; i < x.nheld; i++)
		assert_int_equal(kio_buf_ring_release(ring, (uint16_t)x.held[i]), 0);
	kt_run_until(ctx, &x.finals, WAIT_MS);
	free(x.got);
	assert_int_equal(close(sfd), 0);
	kt_drain_destroy(ctx);
	kio_buf_ring_destroy(ring);
}

static void test_ms_recv_cancel_timeout_close(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = kt_make_ring(ctx, 2, 8, 256);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	struct rx x;

	rx_init(&x, ctx, ring, 256, 4096, 1);
	int64_t id = kio_recv_multishot(ctx, sfd, ring, 0, rx_cb, &x);
	assert_int_equal(write(cfd, "abc", 3), 3);
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (x.n < 3) {
		assert_true(kt_now_ns() < deadline);
		assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
	}
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &x.finals, WAIT_MS);
	assert_int_equal(x.final_res, -ECANCELED);
	assert_int_equal(x.more, 1);
	assert_int_equal(x.bad, 0);
	free(x.got);

	rx_init(&x, ctx, ring, 256, 4096, 1);
	id = kio_recv_multishot(ctx, sfd, ring, 0, rx_cb, &x);
	assert_int_equal(kio_op_timeout(ctx, id, 20 * KT_MS), 0);
	kt_run_until(ctx, &x.finals, WAIT_MS);
	assert_int_equal(x.final_res, -ETIMEDOUT);
	free(x.got);

	rx_init(&x, ctx, ring, 256, 4096, 1);
	assert_true(kio_recv_multishot(ctx, sfd, ring, 0, rx_cb, &x) >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(kio_cancel_fd(ctx, sfd), 1);
	kt_run_until(ctx, &x.finals, WAIT_MS);
	assert_int_equal(x.final_res, -ECANCELED);
	free(x.got);

	/* A peer that resets the connection ends it with the error. */
	rx_init(&x, ctx, ring, 256, 4096, 1);
	assert_true(kio_recv_multishot(ctx, sfd, ring, 0, rx_cb, &x) >= 0);
	struct linger lg = {1, 0};
	assert_int_equal(setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	assert_int_equal(close(cfd), 0);
	kt_run_until(ctx, &x.finals, WAIT_MS);
	assert_int_equal(x.final_res, -ECONNRESET);
	assert_int_equal(x.bad, 0);
	free(x.got);

	assert_int_equal(close(sfd), 0);
	kt_drain_destroy(ctx);
	kio_buf_ring_destroy(ring);
}

static void test_ms_recv_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_ctx *other = kt_ctx_new();
	kio_buf_ring *ring = kt_make_ring(ctx, 3, 4, 64);
	kio_buf_ring *foreign = kt_make_ring(other, 3, 4, 64);
	struct kt_rec r;
	int sv[2];
	kt_unix_pair(sv);
	kt_rec_reset(&r);

	assert_int_equal(kio_recv_multishot(ctx, sv[0], NULL, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_recv_multishot(ctx, sv[0], foreign, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_recv_multishot(ctx, sv[0], ring, MSG_WAITALL, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_recv_multishot(ctx, -1, ring, 0, kt_rec_cb, &r), -EBADF);
	assert_int_equal(kio_recv_multishot(ctx, sv[0], ring, 0, NULL, &r), -EINVAL);
	assert_int_equal(kio_recv_multishot(NULL, sv[0], ring, 0, kt_rec_cb, &r), -EINVAL);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);

	/* A closed fd and a file that is not a socket end it at once. */
	assert_int_equal(kt_await_op(ctx, kio_recv_multishot(ctx, KT_CLOSED_FD, ring, 0, kt_rec_cb,
							     kt_rec_reset(&r)), &r), -EBADF);
	int p[2];
	kt_pipe(p);
	assert_int_equal(kt_await_op(ctx, kio_recv_multishot(ctx, p[0], ring, 0, kt_rec_cb, kt_rec_reset(&r)), &r),
			 -ENOTSOCK);
	kt_close_pipe(p);

	close(sv[0]);
	close(sv[1]);
	kt_drain_destroy(ctx);
	kt_drain_destroy(other);
	kio_buf_ring_destroy(ring);
	kio_buf_ring_destroy(foreign);
}

/* Destroy with both multishot ops in flight: one final callback each. */
static void test_ms_destroy_in_flight(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = kt_make_ring(ctx, 4, 8, 256);
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	struct shots s;
	memset(&s, 0, sizeof(s));
	struct rx x;
	rx_init(&x, ctx, ring, 256, 4096, 1);

	assert_true(kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, shots_cb, &s) >= 0);
	assert_true(kio_recv_multishot(ctx, sfd, ring, 0, rx_cb, &x) >= 0);
	int c1 = connect_client(&addr);
	assert_int_equal(write(cfd, "hello", 5), 5);
	run_until_more(ctx, &s, 1);
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (x.n < 5) {
		assert_true(kt_now_ns() < deadline);
		assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
	}
	kio_ctx_destroy(ctx);
	assert_int_equal(s.finals, 1);
	assert_int_equal(s.final_res, -ECANCELED);
	assert_int_equal(s.more, 1);
	assert_int_equal(x.finals, 1);
	assert_int_equal(x.final_res, -ECANCELED);
	assert_memory_equal(x.got, "hello", 5);
	assert_int_equal(s.bad + x.bad, 0);
	/* The ring outlived its ctx: destroying it now only frees memory. */
	kio_buf_ring_destroy(ring);

	free(x.got);
	close_shots(&s);
	assert_int_equal(close(c1), 0);
	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);
	assert_int_equal(close(lfd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_ms_accept_ten_then_cancel),
		KT_TEST(test_ms_accept_timeout_and_close),
		KT_TEST(test_ms_accept_emfile_no_spin),
		KT_TEST(test_ms_recv_40k_16_buffers),
		KT_TEST(test_ms_recv_enobufs),
		KT_TEST(test_ms_recv_cancel_timeout_close),
		KT_TEST(test_ms_recv_bad_args),
		KT_TEST(test_ms_destroy_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
