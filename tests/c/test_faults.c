/* SPDX-License-Identifier: MIT */
/*
 * Fault injection (KIO_FAULTS, kio(7) "Fault injection"): the spec is read
 * at kio_ctx_create(), so each test sets it just before and clears it just
 * after. What is proved: the same seed injects the same sequence; short
 * reads and writes lose nothing for a caller that loops; -ENOMEM at a call
 * starts nothing; and under every kind at a high rate each accepted op
 * still gets exactly one final callback, through run and through destroy.
 */
#include "kio_test.h"
#include "kt_net.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

static kio_ctx *faulty_ctx(const char *spec)
{
	assert_int_equal(setenv("KIO_FAULTS", spec, 1), 0);
	kio_ctx *ctx = kt_ctx_new();
	assert_int_equal(unsetenv("KIO_FAULTS"), 0);
	return ctx;
}

/* One record per op started: how its callbacks went. */
#define MAX_OPS 8192

struct rec {
	int finals;
	int mores;
	int32_t res;
	int kind;
};

static struct rec recs[MAX_OPS];
static int nrecs;

static void rec_cb(void *ud, int32_t res, uint32_t flags)
{
	struct rec *r = ud;
	if (flags & KIO_F_MORE) {
		r->mores++;
		return;
	}
	r->finals++;
	r->res = res;
}

static struct rec *new_rec(int kind)
{
	assert_true(nrecs < MAX_OPS);
	struct rec *r = &recs[nrecs++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	return r;
}

/* The op call failed: it must not count, and must never call back. */
static void drop_rec(struct rec *r)
{
	assert_ptr_equal(r, &recs[nrecs - 1]);
	nrecs--;
}

static void assert_each_once(void)
{
	for (int i = 0; i < nrecs; i++)
		if (recs[i].finals != 1)
			fail_msg("op %d (kind %d): %d final callbacks", i, recs[i].kind, recs[i].finals);
}

static char *temp_file(int *fd)
{
	char *dir = kt_tmpdir();
	char *path = malloc(strlen(dir) + 8);
	assert_non_null(path);
	sprintf(path, "%s/f", dir);
	free(dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(*fd >= 0);
	return path;
}

static void temp_file_remove(char *path, int fd)
{
	assert_int_equal(close(fd), 0);
	assert_int_equal(unlink(path), 0);
	*strrchr(path, '/') = '\0';
	assert_int_equal(rmdir(path), 0);
	free(path);
}

/* Reads of a file one at a time; the results (or call errors) as a trace. */
static void read_trace(int fd, int32_t *trace, int n)
{
	kio_ctx *ctx = faulty_ctx("seed=7,rate=0.3,kinds=short,nomem");
	static char buf[4096];
	for (int i = 0; i < n; i++) {
		struct kt_rec r;
		int64_t id = kio_read(ctx, fd, buf, sizeof(buf), (uint64_t)i * 64, kt_rec_cb,
				      kt_rec_reset(&r));
		trace[i] = id < 0 ? (int32_t)id : kt_await_op(ctx, id, &r);
	}
	kt_drain_destroy(ctx);
}

/* Same seed, same calls: the same injections, in a fresh process each time
 * (contexts are numbered per process, and the number is part of the seed). */
static void test_faults_deterministic(void **state)
{
	(void)state;
	enum { N = 200 };
	int fd;
	char *path = temp_file(&fd);
	static char data[N * 64 + 4096];
	memset(data, 'x', sizeof(data));
	assert_int_equal(pwrite(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));

	int32_t traces[2][N];
	for (int run = 0; run < 2; run++) {
		int p[2];
		kt_pipe(p);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			int32_t t[N];
			read_trace(fd, t, N);
			_exit(write(p[1], t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 1);
		}
		assert_int_equal(close(p[1]), 0);
		p[1] = -1;
		kt_read_exact(p[0], traces[run], sizeof(traces[run]));
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		kt_close_pipe(p);
	}
	assert_memory_equal(traces[0], traces[1], sizeof(traces[0]));
	int nomem = 0, shorts = 0, full = 0;
	for (int i = 0; i < N; i++) {
		if (traces[0][i] == -ENOMEM)
			nomem++;
		else if (traces[0][i] == 4096)
			full++;
		else if (traces[0][i] > 0 && traces[0][i] < 4096)
			shorts++;
		else
			fail_msg("read %d: %d", i, traces[0][i]);
	}
	assert_true(nomem > 0 && shorts > 0 && full > 0);
	temp_file_remove(path, fd);
}

/* Stream transfer both ways under short reads and writes: each side loops
 * until its count is done, and every byte arrives in order. */
struct stream {
	kio_ctx *ctx;
	int fd;
	unsigned char *buf;
	size_t len, done;
	int sending;
	int shorts;
	size_t asked;
};

static void stream_step(struct stream *s);

static void stream_cb(void *ud, int32_t res, uint32_t flags)
{
	struct stream *s = ud;
	(void)flags;
	assert_true(res > 0);
	if ((size_t)res < s->asked)
		s->shorts++;
	s->done += (size_t)res;
	if (s->done < s->len)
		stream_step(s);
}

static void stream_step(struct stream *s)
{
	s->asked = s->len - s->done;
	int64_t id = s->sending ? kio_send(s->ctx, s->fd, s->buf + s->done, s->asked, 0, stream_cb, s) :
				  kio_recv(s->ctx, s->fd, s->buf + s->done, s->asked, 0, stream_cb, s);
	assert_true(id >= 0);
}

static void test_faults_short_stream(void **state)
{
	(void)state;
	enum { LEN = 1 << 20 };
	kio_ctx *ctx = faulty_ctx("seed=3,rate=0.5,kinds=short");
	int sv[2];
	kt_unix_pair(sv);
	unsigned char *out = malloc(LEN), *in = calloc(1, LEN);
	assert_non_null(out);
	assert_non_null(in);
	kt_fill(out, LEN, 0, 5);
	struct stream tx = {ctx, sv[0], out, LEN, 0, 1, 0, 0};
	struct stream rx = {ctx, sv[1], in, LEN, 0, 0, 0, 0};
	stream_step(&tx);
	stream_step(&rx);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(tx.done, LEN);
	assert_int_equal(rx.done, LEN);
	assert_true(kt_check(in, LEN, 0, 5));
	assert_true(tx.shorts > 0);
	assert_true(rx.shorts > 0);
	kt_drain_destroy(ctx);
	free(out);
	free(in);
	kt_close_pipe(sv);
}

/* A file written and read back through loops that resume after a short
 * transfer, and an fd kio must never shorten (an eventfd wants 8 bytes). */
static void test_faults_short_file(void **state)
{
	(void)state;
	enum { LEN = 256 * 1024 };
	kio_ctx *ctx = faulty_ctx("seed=11,rate=0.5,kinds=short");
	int fd;
	char *path = temp_file(&fd);
	unsigned char *out = malloc(LEN), *in = calloc(1, LEN);
	assert_non_null(out);
	assert_non_null(in);
	kt_fill(out, LEN, 0, 9);
	int shorts = 0;
#define CHUNK(done) (LEN - (done) < 16384 ? LEN - (done) : 16384)
	for (size_t done = 0; done < LEN;) {
		struct kt_rec r;
		int32_t res = kt_await_op(ctx, kio_write(ctx, fd, out + done, CHUNK(done), done, kt_rec_cb,
							 kt_rec_reset(&r)),
					  &r);
		assert_true(res > 0);
		shorts += (size_t)res < CHUNK(done);
		done += (size_t)res;
	}
	for (size_t done = 0; done < LEN;) {
		struct kt_rec r;
		int32_t res = kt_await_op(
			ctx, kio_read(ctx, fd, in + done, CHUNK(done), done, kt_rec_cb, kt_rec_reset(&r)), &r);
		assert_true(res > 0);
		shorts += (size_t)res < CHUNK(done);
		done += (size_t)res;
	}
	assert_memory_equal(in, out, LEN);
	assert_true(shorts > 0);

	int efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	for (int i = 0; i < 50; i++) {
		uint64_t v = 1;
		struct kt_rec r;
		assert_int_equal(kt_await_op(ctx, kio_write(ctx, efd, &v, 8, KIO_OFFSET_CURRENT, kt_rec_cb,
							   kt_rec_reset(&r)),
					     &r),
				 8);
		assert_int_equal(kt_await_op(ctx, kio_read(ctx, efd, &v, 8, KIO_OFFSET_CURRENT, kt_rec_cb,
							  kt_rec_reset(&r)),
					     &r),
				 8);
	}
	assert_int_equal(close(efd), 0);
	kt_drain_destroy(ctx);
	free(out);
	free(in);
	temp_file_remove(path, fd);
}

static int job_fn(void *ud)
{
	(void)ud;
	return 7;
}

/* -ENOMEM at the call: nothing started (pending unchanged), no callback. */
static void test_faults_nomem_at_call(void **state)
{
	(void)state;
	kio_ctx *ctx = faulty_ctx("seed=5,rate=0.4,kinds=nomem");
	kio_pool *pool;
	assert_int_equal(kio_pool_create(&pool, 1), 0);
	int p[2];
	kt_pipe(p);
	static char buf[16];
	int refused = 0;
	nrecs = 0;
	for (int i = 0; i < 400; i++) {
		int kind = i % 5;
		struct rec *r = new_rec(kind);
		uint32_t before = kio_ctx_pending(ctx);
		int64_t id;
		switch (kind) {
		case 0: id = kio_nop(ctx, rec_cb, r); break;
		case 1: id = kio_sleep(ctx, 1000, rec_cb, r); break;
		case 2: id = kio_read(ctx, p[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, rec_cb, r); break;
		case 3: id = kio_pool_submit(ctx, pool, job_fn, rec_cb, r); break;
		default: id = kio_poll(ctx, p[0], POLLIN, rec_cb, r); break;
		}
		if (id < 0) {
			assert_int_equal(id, -ENOMEM);
			assert_int_equal(kio_ctx_pending(ctx), before);
			drop_rec(r);
			refused++;
		} else {
			assert_int_equal(kio_ctx_pending(ctx), before + 1);
		}
	}
	assert_true(refused > 0);
	for (int i = 0; i < nrecs; i++)
		assert_int_equal(recs[i].finals, 0); /* never inline */
	/* Feed the reads and polls, then let everything end. */
	static char data[400 * 16];
	assert_int_equal(write(p[1], data, sizeof(data)), (ssize_t)sizeof(data));
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_each_once();
	kio_ctx_destroy(ctx);
	kio_pool_destroy(pool);
	kt_close_pipe(p);
	assert_each_once();
}

/* A mix of ops under every kind at a high rate, with refills from the
 * callbacks, run until all ended. */
struct mix {
	kio_ctx *ctx;
	kio_pool *pool;
	int sv[2];
	int pp[2];
	int file;
	int started, target;
	char buf[4][512];
	char rbuf[16384]; /* a receive takes more than a send gives: no backlog */
};

static struct mix M;

static void mix_cb(void *ud, int32_t res, uint32_t flags);
static int64_t timer_ids[MAX_OPS];

static int64_t start_one(int kind, struct rec *r)
{
	switch (kind) {
	case 0: return kio_nop(M.ctx, mix_cb, r);
	case 1: return kio_sleep(M.ctx, 100000, mix_cb, r);
	case 2: return kio_send(M.ctx, M.sv[0], M.buf[0], sizeof(M.buf[0]), 0, mix_cb, r);
	case 3: return kio_recv(M.ctx, M.sv[1], M.rbuf, sizeof(M.rbuf), 0, mix_cb, r);
	case 4: return kio_write(M.ctx, M.file, M.buf[2], sizeof(M.buf[2]), 0, mix_cb, r);
	case 5: return kio_read(M.ctx, M.file, M.buf[3], sizeof(M.buf[3]), 0, mix_cb, r);
	case 6: return kio_poll(M.ctx, M.pp[1], POLLOUT, mix_cb, r);
	case 7: return kio_pool_submit(M.ctx, M.pool, job_fn, mix_cb, r);
	case 8: return kio_timer_periodic(M.ctx, 50000, mix_cb, r);
	case 9: return kio_send_zc(M.ctx, M.sv[0], M.buf[0], sizeof(M.buf[0]), 0, mix_cb, r);
	case 10: return kio_sendfile(M.ctx, M.sv[0], M.file, 0, 512, mix_cb, r);
	default: return kio_poll_multishot(M.ctx, M.pp[1], POLLOUT, mix_cb, r);
	}
}

/* Starts the next op of the mix (calls refused with -ENOMEM are retried
 * with the next kind); a multishot op (a periodic timer, a multishot poll)
 * comes with a sleep that cancels it. */
static void mix_start(void)
{
	while (M.started < M.target) {
		int kind = M.started % 12;
		struct rec *r = new_rec(kind);
		M.started++;
		int64_t id = start_one(kind, r);
		if (id < 0) {
			assert_int_equal(id, -ENOMEM);
			drop_rec(r);
			continue;
		}
		if (kind == 8 || kind == 11) {
			struct rec *c = new_rec(100);
			int64_t sid;
			do
				sid = kio_sleep(M.ctx, 300000, mix_cb, c);
			while (sid == -ENOMEM);
			assert_true(sid >= 0);
			timer_ids[c - recs] = id;
		}
		return; /* one at a time: each final callback starts the next */
	}
}

static void mix_cb(void *ud, int32_t res, uint32_t flags)
{
	struct rec *r = ud;
	if (flags & KIO_F_MORE) {
		r->mores++;
		return;
	}
	r->finals++;
	r->res = res;
	if (r->kind == 100) {
		int rc = kio_op_cancel(M.ctx, timer_ids[r - recs]);
		assert_true(rc == 0 || rc == -ENOENT);
	}
	mix_start();
}

static void test_faults_exactly_once_all_kinds(void **state)
{
	(void)state;
	memset(&M, 0, sizeof(M));
	M.ctx = faulty_ctx("seed=42,rate=0.3,kinds=all");
	assert_int_equal(kio_pool_create(&M.pool, 2), 0);
	kt_tcp_pair(&M.sv[0], &M.sv[1]);
	kt_pipe(M.pp);
	char *path = temp_file(&M.file);
	nrecs = 0;
	/* Many ops in flight, each refilled from callbacks: start 64 chains. */
	M.target = 3000;
	for (int i = 0; i < 64; i++)
		mix_start();
	/* Every kio_send feeds a kio_recv; a byte more each round makes sure
	 * the last receives are fed too. */
	uint64_t deadline = kt_now_ns() + 20000ull * KT_MS;
	while (kio_ctx_pending(M.ctx) > 0) {
		assert_true(kt_now_ns() < deadline);
		(void)!send(M.sv[0], "x", 1, MSG_DONTWAIT);
		assert_true(kio_ctx_run_once(M.ctx, 2 * (int64_t)KT_MS) >= 0);
		if (M.started < M.target)
			mix_start();
	}
	assert_int_equal(kio_ctx_run(M.ctx), 0);
	assert_each_once();
	for (int i = 0; i < nrecs; i++) {
		int32_t res = recs[i].res;
		if (recs[i].kind == 100)
			continue;
		if (res < 0 && res != -ECANCELED && !(recs[i].kind == 9 && res == -EOPNOTSUPP))
			fail_msg("op %d (kind %d): %s", i, recs[i].kind, kio_strerror(res));
	}
	kio_ctx_destroy(M.ctx);
	kio_pool_destroy(M.pool);
	kt_close_pipe(M.sv);
	kt_close_pipe(M.pp);
	temp_file_remove(path, M.file);
	assert_each_once();
}

/* Destroy with ops in flight, under every kind: each accepted op is called
 * back exactly once, by destroy if not before. */
static void test_faults_destroy_in_flight(void **state)
{
	(void)state;
	for (int round = 0; round < 4; round++) {
		kio_ctx *ctx = faulty_ctx(round & 1 ? "seed=9,rate=0.3,kinds=all" :
						      "seed=10,rate=0.5,kinds=delay,cancel,eintr,overflow");
		int sv[2], p[2];
		kt_unix_pair(sv);
		kt_pipe(p);
		static char buf[64][64];
		nrecs = 0;
		for (int i = 0; i < 300; i++) {
			struct rec *r = new_rec(i % 6);
			int64_t id;
			switch (i % 6) {
			case 0: id = kio_nop(ctx, rec_cb, r); break;
			case 1: id = kio_sleep(ctx, 10000 * KT_MS, rec_cb, r); break;
			case 2: id = kio_recv(ctx, sv[1], buf[i % 64], 64, 0, rec_cb, r); break;
			case 3: id = kio_poll(ctx, p[0], POLLIN, rec_cb, r); break;
			case 4: id = kio_timer_periodic(ctx, KT_MS, rec_cb, r); break;
			default: id = kio_sleep(ctx, 1000, rec_cb, r); break;
			}
			if (id < 0) {
				assert_int_equal(id, -ENOMEM);
				drop_rec(r);
			}
			if (i % 50 == 0)
				assert_true(kio_ctx_run_once(ctx, 0) >= 0);
		}
		for (int i = 0; i < 5; i++)
			assert_true(kio_ctx_run_once(ctx, (int64_t)KT_MS) >= 0);
		kio_ctx_destroy(ctx);
		assert_each_once();
		kt_close_pipe(sv);
		kt_close_pipe(p);
	}
}

/* Kinds that keep every result (no short, nomem or cancel): nops and
 * timers end exactly as without faults. */
static void test_faults_results_kept(void **state)
{
	(void)state;
	kio_ctx *ctx = faulty_ctx("seed=1,rate=0.5,kinds=eagain,eintr,delay,overflow");
	nrecs = 0;
	for (int batch = 0; batch < 20; batch++) {
		for (int i = 0; i < 100; i++) {
			struct rec *r = new_rec(i & 1);
			int64_t id = i & 1 ? kio_sleep(ctx, 1000, rec_cb, r) : kio_nop(ctx, rec_cb, r);
			assert_true(id >= 0);
		}
		assert_int_equal(kio_ctx_run(ctx), 0);
	}
	assert_each_once();
	for (int i = 0; i < nrecs; i++)
		assert_int_equal(recs[i].res, 0);
	kt_drain_destroy(ctx);
}

/* Ops started before the hand-over to the thread that runs the ctx: the
 * eagain kind must not flush the SQ from the starting thread (with io_uring,
 * that would make it the ring's only submitter, and the runner would get
 * -EEXIST). */
static void *run_handed_over(void *arg)
{
	kio_ctx *ctx = arg;
	int rc = kio_ctx_run(ctx);
	kio_ctx_destroy(ctx);
	return (void *)(intptr_t)rc;
}

static void test_faults_handed_over(void **state)
{
	(void)state;
	kio_ctx *ctx = faulty_ctx("seed=1,rate=1,kinds=eagain,eintr,delay");
	nrecs = 0;
	for (int i = 0; i < 32; i++)
		assert_true(kio_nop(ctx, rec_cb, new_rec(0)) >= 0);
	pthread_t t;
	void *rc;
	assert_int_equal(pthread_create(&t, NULL, run_handed_over, ctx), 0);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_int_equal((int)(intptr_t)rc, 0);
	assert_each_once();
	for (int i = 0; i < nrecs; i++)
		assert_int_equal(recs[i].res, 0);
}

/* A spec kio cannot read fails kio_ctx_create() with -EINVAL; an empty one
 * means no faults. */
static void test_faults_bad_spec(void **state)
{
	(void)state;
	static const char *const bad[] = {"bogus", "rate=2", "rate=0.1x", "seed=-1",
					  "kinds=short,nope", "kinds=", "seed=1,", "rate=."};
	kio_log_set_level(KIO_LOG_FATAL); /* the ERROR each one logs is expected */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kio_ctx *ctx = (kio_ctx *)1;
		assert_int_equal(setenv("KIO_FAULTS", bad[i], 1), 0);
		int rc = kio_ctx_create(&ctx, NULL, 0);
		if (rc != -EINVAL)
			fail_msg("KIO_FAULTS=\"%s\": %d", bad[i], rc);
		assert_null(ctx);
	}
	kio_log_set_level(KIO_LOG_WARN);
	static const char *const good[] = {"", "seed=1", "kinds=all", "rate=1,kinds=eintr+delay",
					   "kinds=short,nomem,seed=4,rate=.5"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		kio_ctx *ctx = faulty_ctx(good[i]);
		struct kt_rec r;
		int64_t id;
		while ((id = kio_nop(ctx, kt_rec_cb, kt_rec_reset(&r))) == -ENOMEM) {
		}
		int32_t res = kt_await_op(ctx, id, &r);
		assert_true(res == 0 || res == -ECANCELED);
		kt_drain_destroy(ctx);
	}
	assert_int_equal(unsetenv("KIO_FAULTS"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_faults_deterministic),
		KT_TEST(test_faults_short_stream),
		KT_TEST(test_faults_short_file),
		KT_TEST(test_faults_nomem_at_call),
		KT_TEST(test_faults_exactly_once_all_kinds),
		KT_TEST(test_faults_destroy_in_flight),
		KT_TEST(test_faults_results_kept),
		KT_TEST(test_faults_handed_over),
		KT_TEST(test_faults_bad_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
