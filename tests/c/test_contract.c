/* SPDX-License-Identifier: MIT */
/*
 * The op contract (kio/ops.h, DESIGN.md section 4): an error return never
 * calls back; an id calls back exactly once (multishot: one final), through
 * cancel, timeout, stop and destroy; never inside the call that started it.
 *
 * With KIO_FAULTS set to kinds that change results (scripts/test.sh's fault
 * pass) the storm and the never-inline test run on their own, and accept what faults may change
 * within the contract: -ENOMEM from a call (then nothing started), short
 * reads, -ECANCELED from cancels nobody asked for.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>

/* KIO_FAULTS asks for faults that change results: see above. */
static int faults_on;

static void make_file(const char *dir, const char *name, size_t size)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	unsigned char b[4096];
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)(i * 7);
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(b) ? size - done : sizeof(b);
		assert_int_equal(write(fd, b, n), (ssize_t)n);
		done += n;
	}
	close(fd);
}

static int open_in(const char *dir, const char *name, int flags)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, flags | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* ---- never inline -------------------------------------------------------- */

enum {
	I_NOP,
	I_READ,
	I_WRITE,
	I_POLL,
	I_POLL_MS,
	I_READV,
	I_WRITEV,
	I_SPLICE,
	I_SLEEP,
	I_SLEEP_UNTIL_MONO,
	I_SLEEP_UNTIL_REAL,
	I_PERIODIC,
	I_OPENAT,
	I_STATX,
	I_FSYNC,
	I_FDATASYNC,
	I_FALLOCATE,
	I_FTRUNCATE,
	I_MKDIRAT,
	I_UNLINKAT,
	I_RENAMEAT,
	I_CLOSE,
	I_BADFD_READ,
	I_COUNT
};

static struct kt_rec inl[I_COUNT];

static void assert_none_called(int upto)
{
	for (int i = 0; i <= upto; i++)
		if (inl[i].calls != 0)
			fail_msg("op %d called back inside a later call (op %d)", i, upto);
}

#define START(idx, call)                                                                      \
	do {                                                                                  \
		int64_t id_;                                                                  \
		while ((id_ = (call)) == -ENOMEM && faults_on) {                              \
		}                                                                             \
		if (id_ < 0)                                                                  \
			fail_msg("op %d failed to start: %s", (idx), kio_strerror((int)id_)); \
		assert_none_called(idx);                                                      \
		ids[idx] = id_;                                                               \
	} while (0)

static void test_contract_never_inline(void **state)
{
	(void)state;
	char *dir = kt_tmpdir();
	make_file(dir, "data", 4096);
	make_file(dir, "trunc", 4096);
	make_file(dir, "alloc", 0);
	make_file(dir, "unlink_me", 10);
	make_file(dir, "rename_src", 10);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);
	int data_fd = open_in(dir, "data", O_RDWR);
	int trunc_fd = open_in(dir, "trunc", O_RDWR);
	int alloc_fd = open_in(dir, "alloc", O_RDWR);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(devnull >= 0);
	assert_int_equal(fcntl(9999, F_GETFD), -1);

	int rp[2], wp[2], pp[2], sa[2], sb[2], vp[2];
	kt_pipe(rp);
	kt_pipe(wp);
	kt_pipe(pp);
	kt_pipe(sa);
	kt_pipe(sb);
	kt_pipe(vp);
	/* Everything is ready up front, so the kernel could complete at once. */
	assert_int_equal(write(rp[1], "abc", 3), 3);
	assert_int_equal(write(pp[1], "p", 1), 1);
	assert_int_equal(write(sa[1], "spl", 3), 3);

	memset(inl, 0, sizeof(inl));
	int64_t ids[I_COUNT];
	char rbuf[8], vbuf1[100], vbuf2[100];
	struct iovec rv[2] = {{vbuf1, sizeof(vbuf1)}, {vbuf2, sizeof(vbuf2)}};
	struct iovec wv[2] = {{(void *)"ab", 2}, {(void *)"cd", 2}};
	struct statx stx;
	memset(&stx, 0, sizeof(stx));
	struct timespec mono, real;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	uint64_t mono_past = (uint64_t)mono.tv_sec * 1000000000ull - 1000000ull;
	uint64_t real_past = (uint64_t)real.tv_sec * 1000000000ull - 1000000ull;

	kio_ctx *ctx = kt_ctx_new();
	START(I_NOP, kio_nop(ctx, kt_rec_cb, &inl[I_NOP]));
	START(I_READ, kio_read(ctx, rp[0], rbuf, sizeof(rbuf), KIO_OFFSET_CURRENT, kt_rec_cb,
			       &inl[I_READ]));
	START(I_WRITE,
	      kio_write(ctx, wp[1], "xyz", 3, KIO_OFFSET_CURRENT, kt_rec_cb, &inl[I_WRITE]));
	START(I_POLL, kio_poll(ctx, pp[0], POLLIN, kt_rec_cb, &inl[I_POLL]));
	START(I_POLL_MS, kio_poll_multishot(ctx, pp[0], POLLIN, kt_rec_cb, &inl[I_POLL_MS]));
	START(I_READV, kio_readv(ctx, data_fd, rv, 2, 0, kt_rec_cb, &inl[I_READV]));
	START(I_WRITEV,
	      kio_writev(ctx, vp[1], wv, 2, KIO_OFFSET_CURRENT, kt_rec_cb, &inl[I_WRITEV]));
	START(I_SPLICE, kio_splice(ctx, sa[0], -1, sb[1], -1, 3, 0, kt_rec_cb, &inl[I_SPLICE]));
	START(I_SLEEP, kio_sleep(ctx, 0, kt_rec_cb, &inl[I_SLEEP]));
	START(I_SLEEP_UNTIL_MONO, kio_sleep_until(ctx, CLOCK_MONOTONIC, mono_past, kt_rec_cb,
						  &inl[I_SLEEP_UNTIL_MONO]));
	START(I_SLEEP_UNTIL_REAL,
	      kio_sleep_until(ctx, CLOCK_REALTIME, real_past, kt_rec_cb, &inl[I_SLEEP_UNTIL_REAL]));
	START(I_PERIODIC, kio_timer_periodic(ctx, 1 * KT_MS, kt_rec_cb, &inl[I_PERIODIC]));
	START(I_OPENAT,
	      kio_openat(ctx, dirfd, "data", O_RDONLY | O_CLOEXEC, 0, kt_rec_cb, &inl[I_OPENAT]));
	START(I_STATX,
	      kio_statx(ctx, dirfd, "data", 0, STATX_SIZE, &stx, kt_rec_cb, &inl[I_STATX]));
	START(I_FSYNC, kio_fsync(ctx, data_fd, 0, kt_rec_cb, &inl[I_FSYNC]));
	START(I_FDATASYNC,
	      kio_fsync(ctx, data_fd, KIO_FSYNC_DATASYNC, kt_rec_cb, &inl[I_FDATASYNC]));
	START(I_FALLOCATE, kio_fallocate(ctx, alloc_fd, 0, 0, 8192, kt_rec_cb, &inl[I_FALLOCATE]));
	START(I_FTRUNCATE, kio_ftruncate(ctx, trunc_fd, 100, kt_rec_cb, &inl[I_FTRUNCATE]));
	START(I_MKDIRAT, kio_mkdirat(ctx, dirfd, "newdir", 0755, kt_rec_cb, &inl[I_MKDIRAT]));
	START(I_UNLINKAT, kio_unlinkat(ctx, dirfd, "unlink_me", 0, kt_rec_cb, &inl[I_UNLINKAT]));
	START(I_RENAMEAT, kio_renameat(ctx, dirfd, "rename_src", dirfd, "rename_dst", 0, kt_rec_cb,
				       &inl[I_RENAMEAT]));
	START(I_CLOSE, kio_close(ctx, devnull, kt_rec_cb, &inl[I_CLOSE]));
	START(I_BADFD_READ,
	      kio_read(ctx, 9999, rbuf, sizeof(rbuf), 0, kt_rec_cb, &inl[I_BADFD_READ]));
	/* Cancelling or timing an op does not run its callback either. */
	assert_int_equal(kio_op_timeout(ctx, ids[I_NOP], 1), 0);
	assert_int_equal(kio_op_cancel(ctx, ids[I_SLEEP]), 0);
	assert_none_called(I_COUNT - 1);

	for (int i = 0; i < I_COUNT; i++) {
		if (i == I_POLL_MS || i == I_PERIODIC)
			continue;
		kt_run_until(ctx, &inl[i].done, 10000);
	}
	uint64_t deadline = kt_now_ns() + 5000 * KT_MS;
	while ((inl[I_POLL_MS].calls == 0 || inl[I_PERIODIC].calls == 0) && kt_now_ns() < deadline)
		assert_true(kio_ctx_run_once(ctx, 10 * KT_MS) >= 0);
	assert_true(inl[I_POLL_MS].calls >= 1);
	assert_true(inl[I_PERIODIC].calls >= 1);
	/* An injected cancel, or a CQ overflow (the poll), may have ended them. */
	int rc = kio_op_cancel(ctx, ids[I_POLL_MS]);
	assert_true(rc == 0 || (faults_on && rc == -ENOENT));
	rc = kio_op_cancel(ctx, ids[I_PERIODIC]);
	assert_true(rc == 0 || (faults_on && rc == -ENOENT));
	assert_int_equal(kio_ctx_run(ctx), 0);

	for (int i = 0; i < I_COUNT; i++)
		if (inl[i].finals != 1)
			fail_msg("op %d: %d final callbacks", i, inl[i].finals);
	if (faults_on) {
		/* Results are the faults' to change: exactly once was the point. */
		if (inl[I_OPENAT].res >= 0)
			close(inl[I_OPENAT].res);
		goto done;
	}
	assert_true(inl[I_NOP].res == 0 || inl[I_NOP].res == -ETIMEDOUT);
	assert_int_equal(inl[I_READ].res, 3);
	assert_memory_equal(rbuf, "abc", 3);
	assert_int_equal(inl[I_WRITE].res, 3);
	assert_true(inl[I_POLL].res & POLLIN);
	assert_int_equal(inl[I_POLL_MS].res, -ECANCELED);
	assert_int_equal(inl[I_READV].res, 200);
	assert_int_equal((unsigned char)vbuf2[0], (unsigned char)(100 * 7));
	assert_int_equal(inl[I_WRITEV].res, 4);
	assert_int_equal(inl[I_SPLICE].res, 3);
	assert_int_equal(inl[I_SLEEP].res, -ECANCELED);
	assert_int_equal(inl[I_SLEEP_UNTIL_MONO].res, 0);
	assert_int_equal(inl[I_SLEEP_UNTIL_REAL].res, 0);
	assert_int_equal(inl[I_PERIODIC].res, -ECANCELED);
	assert_true(inl[I_OPENAT].res >= 0);
	close(inl[I_OPENAT].res);
	assert_int_equal(inl[I_STATX].res, 0);
	assert_int_equal(stx.stx_size, 4096);
	assert_int_equal(inl[I_FSYNC].res, 0);
	assert_int_equal(inl[I_FDATASYNC].res, 0);
	assert_true(inl[I_FALLOCATE].res == 0 || inl[I_FALLOCATE].res == -EOPNOTSUPP);
	assert_int_equal(inl[I_FTRUNCATE].res, 0);
	struct stat st;
	assert_int_equal(fstat(trunc_fd, &st), 0);
	assert_int_equal(st.st_size, 100);
	assert_int_equal(inl[I_MKDIRAT].res, 0);
	assert_int_equal(inl[I_UNLINKAT].res, 0);
	assert_int_equal(inl[I_RENAMEAT].res, 0);
	assert_int_equal(inl[I_CLOSE].res, 0);
	assert_int_equal(inl[I_BADFD_READ].res, -EBADF);
	assert_int_equal(faccessat(dirfd, "rename_dst", F_OK, 0), 0);
	assert_int_equal(faccessat(dirfd, "unlink_me", F_OK, 0), -1);
	assert_int_equal(faccessat(dirfd, "newdir", F_OK, 0), 0);

done:
	kt_drain_destroy(ctx);
	for (int i = 0; i < I_COUNT; i++)
		assert_int_equal(inl[i].finals, 1);
	kt_close_pipe(rp);
	kt_close_pipe(wp);
	kt_close_pipe(pp);
	kt_close_pipe(sa);
	kt_close_pipe(sb);
	kt_close_pipe(vp);
	close(data_fd);
	close(trunc_fd);
	close(alloc_fd);
	close(dirfd);
	kt_tmpdir_remove(dir);
}

/* ---- storm --------------------------------------------------------------- */

#define STORM_TOTAL 20000
#define STORM_MAX_INFLIGHT 1024
#define STORM_PIPES 8
#define STORM_READ_LEN 256
#define STORM_FILE_SIZE (64 * 1024)

enum {
	S_NOP,
	S_SLEEP,
	S_POLL_IDLE,
	S_FILE_READ,
	S_PIPE_READ,
	S_PERIODIC,
	S_KINDS
};

struct sop {
	int kind;
	int started;
	int64_t id;
	int calls;
	int finals;
	int after_final;
	int ticks;
	int cancel_after;
	int32_t res;
	uint64_t offset;
	unsigned char buf[STORM_READ_LEN];
};

struct storm {
	kio_ctx *ctx;
	struct sop *ops;
	int n_started;
	int n_finished;
	int in_call;
	int current;
	uint64_t rng;
	int idle[STORM_PIPES][2];
	int data[STORM_PIPES][2];
	int file_fd;
	/* violations, all must stay 0 */
	int inline_calls;
	int after_final;
	int bad_flags;
	int bad_res;
	int bad_data;
	int start_errors;
	int cancel_finished_not_enoent;
	int cancel_bad_rc;
	int pending_mismatch;
	int run_errors;
	/* activity, to prove the storm did something */
	int cancels_ok;
	int timeouts_armed;
	int from_callback;
	int timed_out;
	int cancelled;
	int ticks;
};

static struct storm g;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed. */
	g.rng ^= g.rng >> 12;
	g.rng ^= g.rng << 25;
	g.rng ^= g.rng >> 27;
	return g.rng * 2685821657736338717ull;
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)((rnd() >> 32) % n);
}

static void storm_cb(void *ud, int32_t res, uint32_t flags);

static void random_action(void);

static void check_final(struct sop *s, int32_t res)
{
	int cancel_like = res == -ECANCELED || res == -ETIMEDOUT;
	if (res == -ETIMEDOUT)
		g.timed_out++;
	if (res == -ECANCELED)
		g.cancelled++;
	switch (s->kind) {
	case S_NOP:
	case S_SLEEP:
		if (res != 0 && !cancel_like)
			g.bad_res++;
		break;
	case S_POLL_IDLE:
	case S_PERIODIC:
		if (!cancel_like)
			g.bad_res++;
		break;
	case S_FILE_READ:
		if (res == STORM_READ_LEN) {
			for (int i = 0; i < STORM_READ_LEN; i++)
				if (s->buf[i] != (unsigned char)((s->offset + (uint64_t)i) * 7))
					g.bad_data++;
		} else if (faults_on && res > 0 && res < STORM_READ_LEN) {
			for (int i = 0; i < res; i++) /* a short read */
				if (s->buf[i] != (unsigned char)((s->offset + (uint64_t)i) * 7))
					g.bad_data++;
		} else if (!cancel_like) {
			g.bad_res++;
		}
		break;
	case S_PIPE_READ:
		if (!(res >= 1 && res <= (int32_t)sizeof(s->buf)) && !cancel_like)
			g.bad_res++;
		break;
	}
}

static void start_op(int kind)
{
	struct sop *s = &g.ops[g.n_started];
	s->kind = kind;
	int64_t id;
	g.in_call++;
	switch (kind) {
	case S_NOP:
		id = kio_nop(g.ctx, storm_cb, s);
		break;
	case S_SLEEP:
		id = kio_sleep(g.ctx, (uint64_t)rnd_below(5001) * 1000ull, storm_cb, s);
		break;
	case S_POLL_IDLE:
		id = kio_poll(g.ctx, g.idle[rnd_below(STORM_PIPES)][0], POLLIN, storm_cb, s);
		break;
	case S_FILE_READ:
		s->offset = rnd_below(STORM_FILE_SIZE - STORM_READ_LEN);
		id = kio_read(g.ctx, g.file_fd, s->buf, STORM_READ_LEN, s->offset, storm_cb, s);
		break;
	case S_PIPE_READ:
		id = kio_read(g.ctx, g.data[rnd_below(STORM_PIPES)][0], s->buf, 1 + rnd_below(8),
			      KIO_OFFSET_CURRENT, storm_cb, s);
		break;
	default:
		s->cancel_after = 1 + (int)rnd_below(4);
		id = kio_timer_periodic(g.ctx, (1 + rnd_below(3)) * KT_MS, storm_cb, s);
		break;
	}
	g.in_call--;
	if (id < 0) {
		if (!(faults_on && id == -ENOMEM))
			g.start_errors++;
		return;
	}
	s->id = id;
	s->started = 1;
	g.n_started++;
	if (s->calls != 0)
		g.inline_calls++;

	/* Ops that never end by themselves get a deadline half of the time. */
	int never_ends = kind == S_POLL_IDLE || kind == S_PIPE_READ || kind == S_PERIODIC;
	if (rnd_below(never_ends ? 2 : 8) == 0) {
		g.in_call++;
		int rc = kio_op_timeout(g.ctx, id, (1 + rnd_below(20)) * KT_MS);
		g.in_call--;
		if (rc != 0)
			g.cancel_bad_rc++;
		g.timeouts_armed++;
	}
}

static void start_random_op(void)
{
	start_op((int)rnd_below(S_KINDS));
}

static void random_action(void)
{
	if (g.n_started == 0)
		return;
	int lo = g.n_started > 2000 ? g.n_started - 2000 : 0;
	int idx = lo + (int)rnd_below((uint32_t)(g.n_started - lo));
	struct sop *s = &g.ops[idx];
	int was_final = s->finals > 0;
	int rc;
	g.in_call++;
	if (rnd_below(3) == 0) {
		/* 0 disarms: the op then needs a cancel, which the sweep gives it. */
		rc = kio_op_timeout(g.ctx, s->id, rnd_below(10) * KT_MS);
		g.timeouts_armed++;
	} else {
		rc = kio_op_cancel(g.ctx, s->id);
	}
	g.in_call--;
	if (was_final && idx != g.current) {
		if (rc != -ENOENT)
			g.cancel_finished_not_enoent++;
	} else if (rc != 0 && rc != -ENOENT) {
		g.cancel_bad_rc++;
	} else if (rc == 0) {
		g.cancels_ok++;
	}
}

static void storm_cb(void *ud, int32_t res, uint32_t flags)
{
	struct sop *s = ud;
	if (g.in_call)
		g.inline_calls++;
	if (s->finals)
		s->after_final++;
	s->calls++;
	int saved = g.current;
	g.current = (int)(s - g.ops);
	if (flags & KIO_F_MORE) {
		if (s->kind != S_PERIODIC || res != 0)
			g.bad_flags++;
		g.ticks++;
		if (++s->ticks == s->cancel_after) {
			g.in_call++;
			int rc = kio_op_cancel(g.ctx, s->id);
			g.in_call--;
			if (rc != 0 && rc != -ENOENT)
				g.cancel_bad_rc++;
		}
	} else {
		s->finals++;
		s->res = res;
		g.n_finished++;
		check_final(s, res);
	}
	/* Some of the chaos comes from inside callbacks. */
	if (rnd_below(8) == 0) {
		random_action();
		g.from_callback++;
	}
	if (rnd_below(16) == 0 && g.n_started < STORM_TOTAL &&
	    g.n_started - g.n_finished < STORM_MAX_INFLIGHT)
		start_random_op();
	g.current = saved;
}

static void storm_round(int64_t timeout_ns)
{
	int rc = kio_ctx_run_once(g.ctx, timeout_ns);
	if (rc < 0)
		g.run_errors++;
	if (kio_ctx_pending(g.ctx) != (uint32_t)(g.n_started - g.n_finished))
		g.pending_mismatch++;
}

static void test_contract_storm(void **state)
{
	(void)state;
	memset(&g, 0, sizeof(g));
	g.ops = calloc(STORM_TOTAL, sizeof(*g.ops));
	assert_non_null(g.ops);
	g.current = -1;
	uint64_t seed = 0x6b696f2d73746f72ull;
	const char *env = getenv("KIO_TEST_SEED");
	if (env)
		seed = strtoull(env, NULL, 0);
	g.rng = seed ? seed : 1;
	print_message("storm seed 0x%llx (KIO_TEST_SEED)\n", (unsigned long long)seed);

	char *dir = kt_tmpdir();
	make_file(dir, "storm", STORM_FILE_SIZE);
	g.file_fd = open_in(dir, "storm", O_RDONLY);
	for (int i = 0; i < STORM_PIPES; i++) {
		kt_pipe(g.idle[i]);
		kt_pipe(g.data[i]);
	}
	g.ctx = kt_ctx_new();

	uint64_t deadline = kt_now_ns() + 120000 * KT_MS;
	while (g.n_started < STORM_TOTAL && kt_now_ns() < deadline) {
		int batch = 1 + (int)rnd_below(64);
		for (int i = 0; i < batch && g.n_started < STORM_TOTAL &&
				g.n_started - g.n_finished < STORM_MAX_INFLIGHT;
		     i++)
			start_random_op();
		for (int n = (int)rnd_below(8); n > 0; n--)
			random_action();
		if (rnd_below(4) == 0) {
			int p = (int)rnd_below(STORM_PIPES);
			if (write(g.data[p][1], "d", 1) != 1)
				g.bad_res++;
		}
		storm_round(rnd_below(3) == 0 ? (int64_t)KT_MS : 0);
	}
	assert_int_equal(g.n_started, STORM_TOTAL);

	/* Sweep: whatever is left (idle polls without a deadline...) is cancelled. */
	uint64_t next_sweep = 0;
	while (g.n_finished < g.n_started && kt_now_ns() < deadline) {
		if (kt_now_ns() >= next_sweep) {
			for (int i = 0; i < g.n_started; i++) {
				if (g.ops[i].finals)
					continue;
				g.in_call++;
				int rc = kio_op_cancel(g.ctx, g.ops[i].id);
				g.in_call--;
				if (rc != 0 && rc != -ENOENT)
					g.cancel_bad_rc++;
			}
			next_sweep = kt_now_ns() + 50 * KT_MS;
		}
		storm_round((int64_t)(10 * KT_MS));
	}
	if (g.n_finished != g.n_started) {
		static const char *const kind_names[] = {"nop", "sleep", "poll_idle", "file_read",
							 "pipe_read", "periodic"};
		for (int i = 0, shown = 0; i < g.n_started && shown < 10; i++)
			if (!g.ops[i].finals) {
				print_message("unfinished op %d: %s, %d calls, %d ticks\n", i,
					      g.ops[i].kind < 6 ? kind_names[g.ops[i].kind] : "?",
					      g.ops[i].calls, g.ops[i].ticks);
				shown++;
			}
	}
	assert_int_equal(g.n_finished, g.n_started);
	assert_int_equal(kio_ctx_pending(g.ctx), 0);
	assert_int_equal(kio_ctx_run(g.ctx), 0);
	kio_ctx_destroy(g.ctx);

	for (int i = 0; i < g.n_started; i++) {
		if (g.ops[i].finals != 1 || g.ops[i].after_final != 0)
			fail_msg("op %d (kind %d): %d finals, %d calls after the final", i,
				 g.ops[i].kind, g.ops[i].finals, g.ops[i].after_final);
		if (g.ops[i].kind != S_PERIODIC && g.ops[i].calls != 1)
			fail_msg("op %d (kind %d): %d calls", i, g.ops[i].kind, g.ops[i].calls);
	}
	print_message("storm: %d cancels accepted, %d timeouts armed, %d actions from callbacks, "
		      "%d timed out, %d cancelled, %d ticks\n",
		      g.cancels_ok, g.timeouts_armed, g.from_callback, g.timed_out, g.cancelled,
		      g.ticks);
	assert_int_equal(g.inline_calls, 0);
	assert_int_equal(g.after_final, 0);
	assert_int_equal(g.bad_flags, 0);
	assert_int_equal(g.bad_res, 0);
	assert_int_equal(g.bad_data, 0);
	assert_int_equal(g.start_errors, 0);
	assert_int_equal(g.cancel_finished_not_enoent, 0);
	assert_int_equal(g.cancel_bad_rc, 0);
	assert_int_equal(g.pending_mismatch, 0);
	assert_int_equal(g.run_errors, 0);
	/* The storm really exercised the ugly paths. */
	assert_true(g.cancels_ok > 100);
	assert_true(g.timed_out > 100);
	assert_true(g.cancelled > 100);
	assert_true(g.from_callback > 100);
	assert_true(g.ticks > 0);

	for (int i = 0; i < STORM_PIPES; i++) {
		kt_close_pipe(g.idle[i]);
		kt_close_pipe(g.data[i]);
	}
	close(g.file_fd);
	free(g.ops);
	g.ops = NULL;
	kt_tmpdir_remove(dir);
}

/* ---- through stop and destroy ------------------------------------------- */

struct stopper {
	kio_ctx *ctx;
	int calls;
};

static void stopper_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)res;
	(void)flags;
	struct stopper *s = ud;
	s->calls++;
	kio_ctx_stop(s->ctx);
}

static void test_contract_exactly_once_through_stop(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	enum {
		N = 10
	};
	struct kt_rec polls[N], sleeps[N], reads[N], periodic = {0};
	char bufs[N][4];
	memset(polls, 0, sizeof(polls));
	memset(sleeps, 0, sizeof(sleeps));
	memset(reads, 0, sizeof(reads));
	for (int i = 0; i < N; i++) {
		assert_true(kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &polls[i]) >= 0);
		assert_true(kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, &sleeps[i]) >= 0);
		assert_true(kio_read(ctx, p[0], bufs[i], sizeof(bufs[i]), KIO_OFFSET_CURRENT,
				     kt_rec_cb, &reads[i]) >= 0);
	}
	assert_true(kio_timer_periodic(ctx, 1 * KT_MS, kt_rec_cb, &periodic) >= 0);
	struct stopper st = {.ctx = ctx};
	assert_true(kio_sleep(ctx, 5 * KT_MS, stopper_cb, &st) >= 0);

	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_true(kt_now_ns() - t0 < 5000 * KT_MS);
	assert_int_equal(st.calls, 1);
	assert_int_equal(kio_ctx_pending(ctx), 3 * N + 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(polls[i].calls + sleeps[i].calls + reads[i].calls, 0);
	assert_int_equal(periodic.finals, 0);

	kio_ctx_destroy(ctx);
	for (int i = 0; i < N; i++) {
		assert_int_equal(polls[i].calls, 1);
		assert_int_equal(polls[i].res, -ECANCELED);
		assert_int_equal(sleeps[i].calls, 1);
		assert_int_equal(sleeps[i].res, -ECANCELED);
		assert_int_equal(reads[i].calls, 1);
		assert_int_equal(reads[i].res, -ECANCELED);
	}
	assert_int_equal(periodic.finals, 1);
	assert_int_equal(periodic.res, -ECANCELED);
	assert_int_equal(periodic.flags & KIO_F_MORE, 0);
	kt_close_pipe(p);
}

/* ---- errors never call back --------------------------------------------- */

static void test_contract_error_never_calls_back(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int p[2];
	kt_pipe(p);
	struct kt_rec r = {0};
	char buf[16];
	struct iovec iov[1] = {{buf, sizeof(buf)}};
	struct statx stx;
	const uint64_t too_long = (uint64_t)UINT32_MAX + 1;
	const uint64_t bad_off = (uint64_t)INT64_MAX + 1;

#define BAD(expect, call)                                                                   \
	do {                                                                                \
		int64_t rc_ = (call);                                                       \
		if (rc_ != (expect))                                                        \
			fail_msg("%s: got %lld, want %d", #call, (long long)rc_, (expect)); \
	} while (0)

	BAD(-EINVAL, kio_nop(NULL, kt_rec_cb, &r));
	BAD(-EINVAL, kio_nop(ctx, NULL, &r));
	BAD(-EINVAL, kio_sleep(NULL, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_sleep(ctx, 0, NULL, &r));
	BAD(-EINVAL, kio_sleep_until(ctx, CLOCK_PROCESS_CPUTIME_ID, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_sleep_until(ctx, CLOCK_BOOTTIME + 100, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_timer_periodic(ctx, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_read(ctx, p[0], NULL, 10, KIO_OFFSET_CURRENT, kt_rec_cb, &r));
	BAD(-EINVAL, kio_read(ctx, p[0], buf, (size_t)too_long, KIO_OFFSET_CURRENT, kt_rec_cb, &r));
	BAD(-EINVAL, kio_read(ctx, p[0], buf, sizeof(buf), bad_off, kt_rec_cb, &r));
	BAD(-EBADF, kio_read(ctx, -1, buf, sizeof(buf), 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_write(ctx, p[1], NULL, 10, KIO_OFFSET_CURRENT, kt_rec_cb, &r));
	BAD(-EINVAL,
	    kio_write(ctx, p[1], buf, (size_t)too_long, KIO_OFFSET_CURRENT, kt_rec_cb, &r));
	BAD(-EBADF, kio_write(ctx, -5, buf, 1, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_readv(ctx, p[0], NULL, 1, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_readv(ctx, p[0], iov, 0, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_readv(ctx, p[0], iov, -1, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_readv(ctx, p[0], iov, IOV_MAX + 1, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_writev(ctx, p[1], iov, 0, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_fsync(ctx, p[1], 1u << 7, kt_rec_cb, &r));
	BAD(-EBADF, kio_fsync(ctx, -1, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_openat(ctx, AT_FDCWD, NULL, O_RDONLY, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_statx(ctx, AT_FDCWD, NULL, 0, STATX_SIZE, &stx, kt_rec_cb, &r));
	BAD(-EINVAL, kio_statx(ctx, AT_FDCWD, "/", 0, STATX_SIZE, NULL, kt_rec_cb, &r));
	BAD(-EINVAL, kio_unlinkat(ctx, AT_FDCWD, NULL, 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_mkdirat(ctx, AT_FDCWD, NULL, 0755, kt_rec_cb, &r));
	BAD(-EINVAL, kio_renameat(ctx, AT_FDCWD, NULL, AT_FDCWD, "x", 0, kt_rec_cb, &r));
	BAD(-EINVAL, kio_renameat(ctx, AT_FDCWD, "x", AT_FDCWD, NULL, 0, kt_rec_cb, &r));
	BAD(-EBADF, kio_close(ctx, -1, kt_rec_cb, &r));
	BAD(-EBADF, kio_poll(ctx, -1, POLLIN, kt_rec_cb, &r));
	BAD(-EBADF, kio_poll_multishot(ctx, -1, POLLIN, kt_rec_cb, &r));
	BAD(-EBADF, kio_splice(ctx, -1, -1, p[1], -1, 1, 0, kt_rec_cb, &r));
	BAD(-EBADF, kio_ftruncate(ctx, -1, 0, kt_rec_cb, &r));
	BAD(-EBADF, kio_fallocate(ctx, -1, 0, 0, 1, kt_rec_cb, &r));
	BAD(-EINVAL, kio_poll(ctx, p[0], POLLIN, NULL, &r));
#undef BAD

	assert_int_equal(kio_ctx_pending(ctx), 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(kio_ctx_run_once(ctx, (int64_t)(20 * KT_MS)), 0);
	assert_int_equal(r.calls, 0);

	/* A NULL buffer with length 0 is not an error: it starts and calls back once. */
	int64_t id = kio_read(ctx, p[0], NULL, 0, KIO_OFFSET_CURRENT, kt_rec_cb, &r);
	assert_true(id >= 0);
	kt_run_until(ctx, &r.done, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 0);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 1);
	kt_close_pipe(p);
}

int main(void)
{
	/* Only the kinds that change results matter here (the default is all).
	 * overflow does too: on io_uring a multishot op whose completion finds
	 * the CQ full is ended by the kernel (kio_poll(3)). */
	const char *f = getenv("KIO_FAULTS");
	faults_on = f && *f &&
		    (!strstr(f, "kinds=") || strstr(f, "all") || strstr(f, "short") ||
		     strstr(f, "nomem") || strstr(f, "cancel") || strstr(f, "overflow"));
	const struct CMUnitTest tests[] = {
		KT_TEST(test_contract_never_inline),
		KT_TEST(test_contract_storm),
		KT_TEST(test_contract_exactly_once_through_stop),
		KT_TEST(test_contract_error_never_calls_back),
	};
	/* The last two assert exact timing and results that faults change. */
	if (faults_on)
		return _cmocka_run_group_tests("faults", tests, 2, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
