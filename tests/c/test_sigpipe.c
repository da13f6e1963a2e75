/* SPDX-License-Identifier: MIT */
/*
 * Writing into a pipe whose reader is gone gives -EPIPE through the
 * callback and never raises SIGPIPE, while the process keeps SIGPIPE at its
 * default action (which would kill it). No SIGPIPE may be left pending and
 * the signal mask must be as it was once the loop returns.
 */
#include "kio_test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/uio.h>

#define WAIT_MS 5000

static void assert_sigpipe_default(void)
{
	struct sigaction sa;
	assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
	assert_true(sa.sa_handler == SIG_DFL);
	assert_false(sa.sa_flags & SA_SIGINFO);
}

static void assert_sigpipe_clean(void)
{
	sigset_t pending, mask;
	assert_int_equal(sigpending(&pending), 0);
	assert_int_equal(sigismember(&pending, SIGPIPE), 0);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &mask), 0);
	assert_int_equal(sigismember(&mask, SIGPIPE), 0);
	assert_sigpipe_default();
}

/* A pipe whose read end is already closed; returns the write end. */
static int dead_pipe(void)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(close(p[0]), 0);
	return p[1];
}

/* Starts nothing itself: checks id, runs the loop dry, returns the callback's res. */
static int32_t run_to_end(kio_ctx *ctx, int64_t id, struct kt_rec *r)
{
	if (id < 0)
		fail_msg("op did not start: %lld (%s)", (long long)id, kio_strerror((int)id));
	assert_int_equal(r->calls, 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->finals, 1);
	assert_sigpipe_clean();
	return r->res;
}

static void test_sigpipe_write(void **state)
{
	(void)state;
	assert_sigpipe_clean();
	kio_ctx *ctx = kt_ctx_new();
	assert_sigpipe_default();
	struct kt_rec r;
	int w = dead_pipe();

	assert_int_equal(run_to_end(ctx, kio_write(ctx, w, "x", 1, KIO_OFFSET_CURRENT, kt_rec_cb,
						   kt_rec_reset(&r)), &r), -EPIPE);
	/* Again, with a larger buffer and an explicit offset of 0. */
	static char big[65536];
	assert_int_equal(run_to_end(ctx, kio_write(ctx, w, big, sizeof(big), 0, kt_rec_cb, kt_rec_reset(&r)),
				    &r), -EPIPE);

	assert_int_equal(close(w), 0);
	kt_drain_destroy(ctx);
	assert_sigpipe_clean();
}

static void test_sigpipe_writev(void **state)
{
	(void)state;
	assert_sigpipe_clean();
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	char a[] = "abc", b[] = "defgh", c[] = "ij";
	struct iovec iov[3] = { { a, 3 }, { b, 5 }, { c, 2 } };
	int w = dead_pipe();

	assert_int_equal(run_to_end(ctx, kio_writev(ctx, w, iov, 3, KIO_OFFSET_CURRENT, kt_rec_cb,
						    kt_rec_reset(&r)), &r), -EPIPE);

	assert_int_equal(close(w), 0);
	kt_drain_destroy(ctx);
	assert_sigpipe_clean();
}

static void test_sigpipe_splice_from_file(void **state)
{
	(void)state;
	assert_sigpipe_clean();
	char *dir = kt_tmpdir();
	char path[512];
	static char data[8192];
	memset(data, 'z', sizeof(data));
	snprintf(path, sizeof(path), "%s/src", dir);
	int in = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(in >= 0);
	assert_int_equal(write(in, data, sizeof(data)), (ssize_t)sizeof(data));

	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int w = dead_pipe();

	assert_int_equal(run_to_end(ctx, kio_splice(ctx, in, 0, w, -1, sizeof(data), 0, kt_rec_cb,
						    kt_rec_reset(&r)), &r), -EPIPE);

	assert_int_equal(close(w), 0);
	assert_int_equal(close(in), 0);
	kt_drain_destroy(ctx);
	kt_tmpdir_remove(dir);
	assert_sigpipe_clean();
}

static void test_sigpipe_splice_from_pipe(void **state)
{
	(void)state;
	assert_sigpipe_clean();
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	int src[2];
	assert_int_equal(pipe2(src, O_CLOEXEC), 0);
	assert_int_equal(write(src[1], "payload", 7), 7);
	int w = dead_pipe();

	assert_int_equal(run_to_end(ctx, kio_splice(ctx, src[0], -1, w, -1, 7, 0, kt_rec_cb,
						    kt_rec_reset(&r)), &r), -EPIPE);

	assert_int_equal(close(src[0]), 0);
	assert_int_equal(close(src[1]), 0);
	assert_int_equal(close(w), 0);
	kt_drain_destroy(ctx);
	assert_sigpipe_clean();
}

/*
 * The write waits on a full pipe, then the reader goes away: the kernel
 * retries the write later (not in the submitting call) and still no
 * SIGPIPE may come out of it.
 */
static void test_sigpipe_reader_closes_while_blocked(void **state)
{
	(void)state;
	assert_sigpipe_clean();
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r;
	static char chunk[4096];
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);

	/* Fill the pipe, then make the write end blocking again. */
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	while (write(p[1], chunk, sizeof(chunk)) > 0)
		;
	while (write(p[1], chunk, 1) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);

	int64_t id = kio_write(ctx, p[1], chunk, sizeof(chunk), KIO_OFFSET_CURRENT, kt_rec_cb,
			       kt_rec_reset(&r));
	assert_true(id >= 0);
	for (int i = 0; i < 5; i++)
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r.calls, 0);

	assert_int_equal(close(p[0]), 0);
	assert_int_equal(run_to_end(ctx, id, &r), -EPIPE);

	assert_int_equal(close(p[1]), 0);
	kt_drain_destroy(ctx);
	assert_sigpipe_clean();
}

/* A pipe that is full, its write end blocking again; p[0] reads, p[1] writes. */
static void full_pipe(int p[2])
{
	static char chunk[4096];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	while (write(p[1], chunk, sizeof(chunk)) > 0)
		;
	while (write(p[1], chunk, 1) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);
}

/* Two contexts on one thread: the first one's writes end while the
 * second still has one blocked. SIGPIPE must stay held until the second's
 * has ended too: the SIGPIPE of its write reaches the thread on whichever
 * system call comes next, the first context's included. (Each context
 * once kept its own hold, and the first one's release let the signal
 * kill the process.) */
static void test_sigpipe_two_contexts_one_thread(void **state)
{
	(void)state;
	assert_sigpipe_clean();
	kio_ctx *a = kt_ctx_new();
	kio_ctx *b = kt_ctx_new();
	struct kt_rec ra, rb;
	static char chunk[4096];
	int p[2];
	full_pipe(p);
	/* a's write comes first (it blocks SIGPIPE for the thread), b's second. */
	int w = dead_pipe();
	assert_true(kio_write(a, w, "x", 1, KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&ra)) >= 0);
	int64_t id_b = kio_write(b, p[1], chunk, sizeof(chunk), KIO_OFFSET_CURRENT, kt_rec_cb,
				 kt_rec_reset(&rb));
	assert_true(id_b >= 0);
	for (int i = 0; i < 5; i++)
		assert_true(kio_ctx_run_once(b, 0) >= 0);
	assert_int_equal(rb.calls, 0);

	/* a's write ends (-EPIPE) and a lets go of its hold. */
	assert_int_equal(kio_ctx_run(a), 0);
	assert_int_equal(ra.calls, 1);
	assert_int_equal(ra.res, -EPIPE);
	/* b's write still blocks: SIGPIPE is still held for it. */
	sigset_t mask;
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &mask), 0);
	assert_int_equal(sigismember(&mask, SIGPIPE), 1);

	/* Its reader goes; the kernel fails the write with -EPIPE and a
	 * SIGPIPE, which a's next round may be the one to take. */
	assert_int_equal(close(p[0]), 0);
	kt_rec_reset(&ra);
	assert_true(kio_nop(a, kt_rec_cb, &ra) >= 0);
	assert_int_equal(kio_ctx_run(a), 0);
	assert_int_equal(ra.calls, 1);
	assert_int_equal(run_to_end(b, id_b, &rb), -EPIPE);

	assert_int_equal(close(p[1]), 0);
	assert_int_equal(close(w), 0);
	kt_drain_destroy(a);
	kt_drain_destroy(b);
	assert_sigpipe_clean();
}

static void test_sigpipe_many_writes(void **state)
{
	(void)state;
	enum { N = 32 };
	assert_sigpipe_clean();
	kio_ctx *ctx = kt_ctx_new();
	struct kt_rec r[N];
	int w = dead_pipe();

	for (int i = 0; i < N; i++)
		assert_true(kio_write(ctx, w, "x", 1, KIO_OFFSET_CURRENT, kt_rec_cb, kt_rec_reset(&r[i])) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, -EPIPE);
	}
	assert_sigpipe_clean();

	assert_int_equal(close(w), 0);
	kt_drain_destroy(ctx);
	assert_sigpipe_clean();
}

int main(void)
{
	/* The point of these tests is the default action: make sure it is in force. */
	sigset_t set;
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	const struct CMUnitTest tests[] = {
		KT_TEST(test_sigpipe_write),
		KT_TEST(test_sigpipe_writev),
		KT_TEST(test_sigpipe_splice_from_file),
		KT_TEST(test_sigpipe_splice_from_pipe),
		KT_TEST(test_sigpipe_reader_closes_while_blocked),
		KT_TEST(test_sigpipe_many_writes),
		KT_TEST(test_sigpipe_two_contexts_one_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
