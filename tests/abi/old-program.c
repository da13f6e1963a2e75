/* SPDX-License-Identifier: MIT */
/*
 * A program written and compiled against the kio 0.1.0 headers
 * (tests/abi/v0.1/include) and run against the library of this build: what a
 * binary built for 0.1 meets when libkio.so.0 is upgraded under it.
 * check-old-program.sh builds it (C99, -Werror), checks that it binds to the
 * KIO_0.1 version node only, and runs it.
 *
 * It uses a representative part of the 0.1 API with the 0.1 struct sizes:
 * the context with a 20-byte kio_ctx_opts, probe, nop, a write and a read on
 * a pipe, a one-shot and a periodic timer, cancel, timeout, pending and a
 * 64-byte kio_stats (with a guard behind it: a newer library must not write
 * past the size the program gave).
 *
 *   old-program EXPECTED_VERSION
 *
 * Exits 0 after printing "old-program: OK", 77 when io_uring was required
 * (KIO_BACKEND=io_uring) but the system refuses it, 1 on any failure.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kio/kio.h>

/* The 0.1 layouts this program was built with (CHANGELOG.md, 0.1.0 ABI). */
typedef char opts_is_0_1_size[sizeof(kio_ctx_opts) == 20 ? 1 : -1];
typedef char stats_is_0_1_size[sizeof(kio_stats) == 64 ? 1 : -1];

#define MS 1000000ull
#define IORING_OP_NOP_ 0 /* IORING_OP_NOP: kio_ctx_probe takes io_uring opcodes */

static int failures;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fprintf(stderr, "\n");                                  \
			failures++;                                             \
		}                                                               \
	} while (0)

struct result {
	int calls;
	int32_t res;
	uint32_t flags;
};

static void on_done(void *user_data, int32_t res, uint32_t flags)
{
	struct result *r = user_data;

	r->calls++;
	r->res = res;
	r->flags = flags;
}

struct ticker {
	kio_ctx *ctx;
	int64_t id;
	int ticks;
	int finals;
	int32_t final_res;
};

static void on_tick(void *user_data, int32_t res, uint32_t flags)
{
	struct ticker *t = user_data;

	if (flags & KIO_F_MORE) {
		if (res == 0 && ++t->ticks == 3)
			CHECK(kio_op_cancel(t->ctx, t->id) == 0, "cancel of the periodic timer");
		return;
	}
	t->finals++;
	t->final_res = res;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run(kio_ctx *ctx, const char *what)
{
	int err = kio_ctx_run(ctx);

	CHECK(err == 0, "kio_ctx_run after %s: %s", what, kio_strerror(err));
	CHECK(kio_ctx_pending(ctx) == 0, "%u ops still pending after %s",
	      (unsigned)kio_ctx_pending(ctx), what);
	return err;
}

int main(int argc, char **argv)
{
	const uint32_t built = (KIO_VERSION_MAJOR << 16) | (KIO_VERSION_MINOR << 8) |
			       KIO_VERSION_PATCH;
	const char *backend = getenv("KIO_BACKEND");
	struct result nop = { 0, -1, 0 }, wr = { 0, -1, 0 }, rd = { 0, -1, 0 };
	struct result sleep1 = { 0, -1, 0 }, cancelled = { 0, -1, 0 }, timed_out = { 0, -1, 0 };
	struct ticker tick = { NULL, -1, 0, 0, 0 };
	struct {
		kio_stats st;
		unsigned char guard[64];
	} stats;
	kio_ctx_opts opts;
	kio_ctx *ctx = NULL;
	char buf[32], empty[8];
	int fds[2], err, i;
	int64_t id;
	uint64_t t0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s EXPECTED_VERSION\n", argv[0]);
		return 2;
	}
	printf("built against kio %d.%d.%d headers; running on libkio %s; KIO_BACKEND=%s\n",
	       KIO_VERSION_MAJOR, KIO_VERSION_MINOR, KIO_VERSION_PATCH, kio_version_string(),
	       backend ? backend : "(unset)");
	CHECK(strcmp(kio_version_string(), argv[1]) == 0, "library %s, expected %s",
	      kio_version_string(), argv[1]);
	CHECK(kio_version() >> 16 == KIO_VERSION_MAJOR && kio_version() >= built,
	      "kio_version() 0x%06x older than the 0x%06x headers", (unsigned)kio_version(),
	      (unsigned)built);
	CHECK(kio_strerror(-ECANCELED) != NULL, "kio_strerror");

	/* The context, with the 0.1 options struct and its size. */
	kio_ctx_opts_init(&opts, sizeof(opts));
	opts.sq_entries = 64;
	err = kio_ctx_create(&ctx, &opts, sizeof(opts));
	if (err == -EPERM || err == -ENOSYS || err == -EACCES) {
		printf("io_uring refused (%s) and required by KIO_BACKEND: skipping\n",
		       kio_strerror(err));
		return 77;
	}
	if (err < 0) {
		fprintf(stderr, "kio_ctx_create: %s\n", kio_strerror(err));
		return 1;
	}
	CHECK(kio_ctx_fd(ctx) >= 0, "kio_ctx_fd");
	CHECK(kio_ctx_probe(ctx, IORING_OP_NOP_) == 1, "probe of IORING_OP_NOP gave %d",
	      kio_ctx_probe(ctx, IORING_OP_NOP_));
	CHECK(kio_ctx_probe(ctx, -1) == -EINVAL, "probe of -1");
	printf("ok: context (opts %zu bytes), probe\n", sizeof(opts));

	/* nop: called back once, from the loop, never inside the call. */
	id = kio_nop(ctx, on_done, &nop);
	CHECK(id >= 0, "kio_nop: %s", kio_strerror((int)id));
	CHECK(nop.calls == 0, "callback ran inside kio_nop");
	run(ctx, "nop");
	CHECK(nop.calls == 1 && nop.res == 0 && nop.flags == 0, "nop: calls %d res %d flags 0x%x",
	      nop.calls, (int)nop.res, (unsigned)nop.flags);
	printf("ok: nop\n");

	/* A write and a read on a pipe. */
	if (pipe(fds) != 0) {
		perror("pipe");
		kio_ctx_destroy(ctx);
		return 1;
	}
	memset(buf, 0, sizeof(buf));
	id = kio_write(ctx, fds[1], "hello, kio 0.1", 14, KIO_OFFSET_CURRENT, on_done, &wr);
	CHECK(id >= 0, "kio_write: %s", kio_strerror((int)id));
	id = kio_read(ctx, fds[0], buf, sizeof(buf), KIO_OFFSET_CURRENT, on_done, &rd);
	CHECK(id >= 0, "kio_read: %s", kio_strerror((int)id));
	run(ctx, "pipe write and read");
	CHECK(wr.calls == 1 && wr.res == 14, "write: calls %d res %d", wr.calls, (int)wr.res);
	CHECK(rd.calls == 1 && rd.res == 14 && memcmp(buf, "hello, kio 0.1", 14) == 0,
	      "read: calls %d res %d '%s'", rd.calls, (int)rd.res, buf);
	printf("ok: pipe write %d bytes, read '%s'\n", (int)wr.res, buf);

	/* A one-shot timer and a periodic one, stopped after three ticks. */
	t0 = now_ns();
	id = kio_sleep(ctx, 2 * MS, on_done, &sleep1);
	CHECK(id >= 0, "kio_sleep: %s", kio_strerror((int)id));
	tick.ctx = ctx;
	tick.id = kio_timer_periodic(ctx, 1 * MS, on_tick, &tick);
	CHECK(tick.id >= 0, "kio_timer_periodic: %s", kio_strerror((int)tick.id));
	run(ctx, "timers");
	CHECK(sleep1.calls == 1 && sleep1.res == 0, "sleep: calls %d res %d", sleep1.calls,
	      (int)sleep1.res);
	CHECK(now_ns() - t0 >= 2 * MS, "sleep of 2 ms returned after %llu ns",
	      (unsigned long long)(now_ns() - t0));
	CHECK(tick.ticks == 3 && tick.finals == 1 && tick.final_res == -ECANCELED,
	      "periodic: %d ticks, %d final calls, final res %d", tick.ticks, tick.finals,
	      (int)tick.final_res);
	printf("ok: sleep, periodic timer (%d ticks, then %s)\n", tick.ticks,
	       kio_strerror(tick.final_res));

	/* Cancel a long sleep; time out a read that has nothing to read. */
	id = kio_sleep(ctx, 10000 * MS, on_done, &cancelled);
	CHECK(id >= 0, "kio_sleep: %s", kio_strerror((int)id));
	CHECK(kio_op_cancel(ctx, id) == 0, "kio_op_cancel");
	id = kio_read(ctx, fds[0], empty, sizeof(empty), KIO_OFFSET_CURRENT, on_done, &timed_out);
	CHECK(id >= 0, "kio_read: %s", kio_strerror((int)id));
	CHECK(kio_op_timeout(ctx, id, 5 * MS) == 0, "kio_op_timeout");
	CHECK(kio_ctx_pending(ctx) == 2, "pending %u, expected 2", (unsigned)kio_ctx_pending(ctx));
	run(ctx, "cancel and timeout");
	CHECK(cancelled.calls == 1 && cancelled.res == -ECANCELED, "cancel: calls %d res %d",
	      cancelled.calls, (int)cancelled.res);
	CHECK(timed_out.calls == 1 && timed_out.res == -ETIMEDOUT, "timeout: calls %d res %d",
	      timed_out.calls, (int)timed_out.res);
	CHECK(kio_op_cancel(ctx, id) == -ENOENT, "cancel of a finished op");
	printf("ok: cancel (%s), timeout (%s)\n", kio_strerror(cancelled.res),
	       kio_strerror(timed_out.res));

	/* Counters, with the 64-byte struct of 0.1 and a guard behind it. */
	memset(&stats, 0xa5, sizeof(stats));
	err = kio_ctx_stats(ctx, &stats.st, sizeof(stats.st));
	CHECK(err == 0, "kio_ctx_stats: %s", kio_strerror(err));
	for (i = 0; i < (int)sizeof(stats.guard); i++)
		if (stats.guard[i] != 0xa5)
			break;
	CHECK(i == (int)sizeof(stats.guard), "kio_ctx_stats wrote past the 64 bytes it was given");
	/* nop, write, read, sleep, periodic, sleep, read */
	CHECK(stats.st.ops_submitted >= 7, "ops_submitted %llu",
	      (unsigned long long)stats.st.ops_submitted);
	CHECK(stats.st.ops_completed == stats.st.ops_submitted, "ops_completed %llu of %llu",
	      (unsigned long long)stats.st.ops_completed,
	      (unsigned long long)stats.st.ops_submitted);
	CHECK(stats.st.ops_timeouts >= 1, "ops_timeouts %llu",
	      (unsigned long long)stats.st.ops_timeouts);
	CHECK(stats.st.ops_cancelled >= 2, "ops_cancelled %llu",
	      (unsigned long long)stats.st.ops_cancelled);
	CHECK(stats.st.ops_max_inflight >= 2 && stats.st.loop_iterations >= 1,
	      "ops_max_inflight %llu loop_iterations %llu",
	      (unsigned long long)stats.st.ops_max_inflight,
	      (unsigned long long)stats.st.loop_iterations);
	printf("ok: stats (submitted %llu, completed %llu, timeouts %llu, cancelled %llu)\n",
	       (unsigned long long)stats.st.ops_submitted,
	       (unsigned long long)stats.st.ops_completed,
	       (unsigned long long)stats.st.ops_timeouts,
	       (unsigned long long)stats.st.ops_cancelled);

	kio_ctx_destroy(ctx);
	close(fds[0]);
	close(fds[1]);

	if (failures) {
		fprintf(stderr, "old-program: %d check(s) failed\n", failures);
		return 1;
	}
	printf("old-program: OK\n");
	return 0;
}
