/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-idle - what kio costs in memory when nothing much happens.
 *
 *   kio-bench-idle [--alloc] [--quick] [--reps R]
 *       Heap allocations per op in steady state, counted by a malloc
 *       interposed in this program (tests/c/kt_malloc_count.h: libkio.so
 *       and libstdc++ resolve malloc here first). For each op: a warm-up,
 *       then rounds of 16 ops started and run to completion while counting.
 *       Result lines: workload "alloc", impl "kio-c", params {"op":NAME},
 *       metric allocs_per_op.
 *
 *   kio-bench-idle --idle shared|perconn [--conns N]
 *       Resident memory per idle loopback TCP connection (default 10,000),
 *       each with a receive pending: "shared" = kio_recv_multishot() on ONE
 *       ring of 1024 x 4 KiB buffers for all connections; "perconn" = a
 *       kio_recv() into a 4 KiB buffer of its own. Every buffer is written
 *       once first, as a server that has used it would have, so both count
 *       their whole buffer memory. The client ends live in a child process,
 *       so the parent's RSS is the server's (socket memory is the kernel's,
 *       not in RSS) and each process needs N + 64 descriptors. Run each mode
 *       in its own process. Result line: workload "idle", impl
 *       "kio-c-shared-ring" or "kio-c-per-conn-buffer", params {"conns":N},
 *       metric bytes_per_conn = (VmRSS after - VmRSS before) / N. Raises
 *       RLIMIT_NOFILE itself, and skips (exit 0, reason on stderr) when it
 *       cannot.
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "kt_malloc_count.h"

#define ROUND 16
#define MSG 64
#define BUF 4096
#define RING_BUFS 1024
#define RING_GROUP 7

/* ---- allocations per op ------------------------------------------------------ */

struct tally {
	uint64_t done, errors;
	kio_buf_ring *ring; /* multishot recv: release each buffer */
};

static void on_done(void *ud, int32_t res, uint32_t flags)
{
	struct tally *t = ud;
	t->done++;
	if (res < 0)
		t->errors++;
	if (t->ring && (flags & KIO_F_BUFFER))
		kio_buf_ring_release(t->ring, (uint16_t)(flags >> 16));
}

struct fixture {
	kio_ctx *ctx;
	int file;  /* a regular file to read */
	int sp[2]; /* a connected socket pair */
	kio_buf_ring *ring;
	unsigned char buf[ROUND][BUF];
	unsigned char msg[MSG];
	struct tally t;
};

/* One round of ROUND ops of kind op; returns how many ops it counted, or -1. */
static int round_of(struct fixture *f, const char *op)
{
	kio_ctx *ctx = f->ctx;
	int64_t id = 0;
	int ops = ROUND;
	for (int i = 0; i < ROUND && id >= 0; i++) {
		if (strcmp(op, "nop") == 0) {
			id = kio_nop(ctx, on_done, &f->t);
		} else if (strcmp(op, "sleep") == 0) {
			id = kio_sleep(ctx, 1000, on_done, &f->t);
		} else if (strcmp(op, "read") == 0) {
			id = kio_read(ctx, f->file, f->buf[i], BUF, 0, on_done, &f->t);
		} else if (strcmp(op, "read+timeout") == 0) {
			id = kio_read(ctx, f->file, f->buf[i], BUF, 0, on_done, &f->t);
			if (id >= 0 && kio_op_timeout(ctx, id, 1000000000ull) < 0)
				return -1;
		} else if (strcmp(op, "send+recv") == 0) {
			/* One message each way counts as two ops. */
			id = kio_recv(ctx, f->sp[0], f->buf[i], MSG, 0, on_done, &f->t);
			if (id >= 0)
				id = kio_send(ctx, f->sp[1], f->msg, MSG, 0, on_done, &f->t);
			ops = 2 * ROUND;
		} else {
			return -1;
		}
	}
	if (id < 0) {
		fprintf(stderr, "kio-bench-idle: %s: %s\n", op, kio_strerror((int)id));
		return -1;
	}
	uint64_t want = f->t.done + (uint64_t)ops;
	while (f->t.done < want)
		if (kio_ctx_run_once(ctx, -1) < 0)
			return -1;
	return ops;
}

/*
 * The multishot recv stays armed: each "op" is one message received. One
 * message at a time, as a stream socket would merge back-to-back writes.
 */
static int round_multishot(struct fixture *f)
{
	for (int i = 0; i < ROUND; i++) {
		uint64_t want = f->t.done + 1;
		if (write(f->sp[1], f->msg, MSG) != MSG)
			return -1;
		while (f->t.done < want)
			if (kio_ctx_run_once(f->ctx, -1) < 0)
				return -1;
	}
	return ROUND;
}

static double allocs_per_op(struct fixture *f, const char *op, int rounds)
{
	bool ms = strcmp(op, "recv_multishot") == 0;
	for (int w = 0; w < 64; w++) /* warm-up: the op table and queues reach size */
		if ((ms ? round_multishot(f) : round_of(f, op)) < 0)
			return -1;
	unsigned long before = atomic_load(&allocs);
	uint64_t ops = 0;
	atomic_store(&counting, 1);
	for (int r = 0; r < rounds; r++) {
		int n = ms ? round_multishot(f) : round_of(f, op);
		if (n < 0) {
			atomic_store(&counting, 0);
			return -1;
		}
		ops += (uint64_t)n;
	}
	atomic_store(&counting, 0);
	return (double)(atomic_load(&allocs) - before) / (double)ops;
}

static int run_alloc(bool quick, int reps, const char *self)
{
	static struct fixture f;
	int err = kio_ctx_create(&f.ctx, NULL, 0);
	if (err < 0) {
		fprintf(stderr, "kio-bench-idle: kio_ctx_create: %s\n", kio_strerror(err));
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	}
	f.file = open(self, O_RDONLY | O_CLOEXEC);
	if (f.file < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sp) < 0) {
		perror("kio-bench-idle: setup");
		return 1;
	}
	static const char *const ops[] = {"nop",          "sleep",     "read",
					  "read+timeout", "send+recv", "recv_multishot"};
	int rounds = quick ? 200 : 2000;
	int status = 0;
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]) && status == 0; k++) {
		const char *op = ops[k];
		if (strcmp(op, "recv_multishot") == 0) {
			err = kio_buf_ring_create(&f.ring, f.ctx, RING_GROUP, 64, BUF);
			int64_t id = err < 0 ? err :
					       kio_recv_multishot(f.ctx, f.sp[0], f.ring, 0,
								  on_done, &f.t);
			if (id < 0) {
				fprintf(stderr, "skipped: alloc: recv_multishot: %s\n",
					kio_strerror((int)id));
				break;
			}
			f.t.ring = f.ring;
		}
		double v[BENCH_MAX_REPS];
		for (int r = 0; r < reps && status == 0; r++) {
			v[r] = allocs_per_op(&f, op, rounds);
			if (v[r] < 0 || f.t.errors) {
				fprintf(stderr, "kio-bench-idle: %s failed\n", op);
				status = 1;
			}
		}
		if (status == 0) {
			char params[48];
			snprintf(params, sizeof(params), "{\"op\":\"%s\"}", op);
			bench_emit("alloc", "kio-c", params, "allocs_per_op", "allocs", false, v,
				   reps, NULL);
		}
	}
	kio_ctx_destroy(f.ctx); /* ends the multishot recv */
	kio_buf_ring_destroy(f.ring);
	close(f.sp[0]);
	close(f.sp[1]);
	close(f.file);
	return status;
}

/* ---- RSS per idle connection -------------------------------------------------- */

static void on_idle(void *ud, int32_t res, uint32_t flags)
{
	/* Nothing is sent: only kio_ctx_destroy() ends these ops. */
	(void)ud;
	(void)res;
	(void)flags;
}

/* Makes room for need descriptors; false with a reason when it cannot. */
static bool raise_nofile(rlim_t need, char *why, size_t len)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(why, len, "getrlimit: %s", strerror(errno));
		return false;
	}
	if (rl.rlim_cur >= need)
		return true;
	struct rlimit want = {need, rl.rlim_max >= need ? rl.rlim_max : need};
	if (setrlimit(RLIMIT_NOFILE, &want) == 0)
		return true;
	snprintf(why, len, "RLIMIT_NOFILE is %llu (hard %llu), %llu needed: %s",
		 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
		 (unsigned long long)need, strerror(errno));
	return false;
}

/*
 * The client ends live in a child process: each process then needs only N
 * descriptors, and the parent's RSS holds nothing of the clients. The child
 * connects n sockets to lfd's address and keeps them open until the parent
 * closes *hold (release_clients()).
 */
static bool connect_clients(int lfd, const struct sockaddr_in *a, unsigned n, pid_t *child,
			    int *hold)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "skipped: idle: pipe: %s\n", strerror(errno));
		return false;
	}
	/* The parent stops accepting instead of hanging when the child gives up. */
	struct timeval tv = {10, 0};
	setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*child = fork();
	if (*child < 0) {
		fprintf(stderr, "skipped: idle: fork: %s\n", strerror(errno));
		return false;
	}
	if (*child == 0) {
		close(lfd);
		close(p[1]);
		for (unsigned i = 0; i < n; i++) {
			int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (c < 0 || connect(c, (const struct sockaddr *)a, sizeof(*a)) < 0) {
				fprintf(stderr, "skipped: idle: connection %u: %s\n", i,
					strerror(errno));
				_exit(1);
			}
		}
		char b;
		while (read(p[0], &b, 1) > 0)
			;
		_exit(0);
	}
	close(p[0]);
	*hold = p[1];
	return true;
}

/* Lets the child close its sockets and exit; true when it had connected them all. */
static bool release_clients(pid_t child, int hold)
{
	int st = 0;
	close(hold);
	if (waitpid(child, &st, 0) < 0)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int run_idle(const char *mode, unsigned n)
{
	bool shared = strcmp(mode, "shared") == 0;
	char why[160];
	if (!raise_nofile((rlim_t)n + 64, why, sizeof(why))) {
		fprintf(stderr, "skipped: idle: %s\n", why);
		return 0;
	}
	kio_ctx *ctx = NULL;
	int err = kio_ctx_create(&ctx, NULL, 0);
	if (err < 0) {
		fprintf(stderr, "skipped: idle: kio_ctx_create: %s\n", kio_strerror(err));
		return 0;
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int *fds = calloc(n, sizeof(int));
	if (lfd < 0 || !fds || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 1024) < 0 || getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		perror("kio-bench-idle: listener");
		return 1;
	}
	/* Connect everything first: the measured part is only kio's and the buffers. */
	pid_t child = -1;
	int hold = -1;
	if (!connect_clients(lfd, &a, n, &child, &hold))
		return 0;
	for (unsigned i = 0; i < n; i++) {
		int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0) {
			fprintf(stderr, "skipped: idle: accept %u: %s\n", i, strerror(errno));
			release_clients(child, hold);
			return 0;
		}
		fds[i] = s;
	}
	/* Settle the loop (first-use allocations) before the baseline. */
	kio_ctx_run_once(ctx, 0);
	long long before = bench_proc_status_bytes("VmRSS");

	kio_buf_ring *ring = NULL;
	unsigned char *bufs = NULL;
	int64_t id = 0;
	if (shared) {
		err = kio_buf_ring_create(&ring, ctx, RING_GROUP, RING_BUFS, BUF);
		if (err < 0) {
			fprintf(stderr, "skipped: idle: kio_buf_ring_create: %s\n",
				kio_strerror(err));
			return 0;
		}
		for (unsigned b = 0; b < RING_BUFS; b++)
			memset(kio_buf_ring_data(ring, (uint16_t)b), 1, BUF);
		for (unsigned i = 0; i < n && id >= 0; i++)
			id = kio_recv_multishot(ctx, fds[i], ring, 0, on_idle, NULL);
	} else {
		bufs = malloc((size_t)n * BUF);
		if (!bufs)
			return 1;
		memset(bufs, 1, (size_t)n * BUF);
		for (unsigned i = 0; i < n && id >= 0; i++)
			id = kio_recv(ctx, fds[i], bufs + (size_t)i * BUF, BUF, 0, on_idle, NULL);
	}
	if (id < 0) {
		fprintf(stderr, "skipped: idle: starting receives: %s\n", kio_strerror((int)id));
		return 0;
	}
	for (int i = 0; i < 4; i++) /* submit everything, let the kernel arm each recv */
		kio_ctx_run_once(ctx, 1000000);
	long long after = bench_proc_status_bytes("VmRSS");
	uint32_t pending = kio_ctx_pending(ctx);

	/*
	 * Closing the client ends ends every receive with 0 (end of stream):
	 * much faster than kio_ctx_destroy() cancelling 10,000 of them.
	 */
	bool clients_ok = release_clients(child, hold);
	err = kio_ctx_run(ctx);
	kio_ctx_destroy(ctx);
	kio_buf_ring_destroy(ring);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	if (!clients_ok || err < 0) {
		fprintf(stderr, "kio-bench-idle: the client process failed\n");
		return 1;
	}
	close(lfd);
	free(fds);
	free(bufs);
	if (pending != n) {
		fprintf(stderr, "kio-bench-idle: %u receives pending, %u expected\n", pending, n);
		return 1;
	}
	double per = (double)(after - before) / (double)n;
	char params[32], note[64];
	snprintf(params, sizeof(params), "{\"conns\":%u}", n);
	if (shared)
		snprintf(note, sizeof(note), "one ring of %u x %u B", RING_BUFS, BUF);
	else
		snprintf(note, sizeof(note), "%u B each", BUF);
	bench_emit("idle", shared ? "kio-c-shared-ring" : "kio-c-per-conn-buffer", params,
		   "bytes_per_conn", "B", false, &per, 1, note);
	return 0;
}

int main(int argc, char **argv)
{
	bool quick = false;
	const char *idle = NULL;
	unsigned conns = 10000;
	int reps = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = true;
		} else if (strcmp(argv[i], "--alloc") == 0) {
			idle = NULL;
		} else if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc) {
			idle = argv[++i];
		} else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc) {
			conns = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = atoi(argv[++i]);
		} else {
			reps = -1;
			break;
		}
	}
	if (reps < 0 || reps > BENCH_MAX_REPS || conns == 0 ||
	    (idle && strcmp(idle, "shared") != 0 && strcmp(idle, "perconn") != 0)) {
		fprintf(stderr, "usage: kio-bench-idle [--alloc] [--quick] [--reps R]\n"
				"       kio-bench-idle --idle shared|perconn [--conns N]\n");
		return 2;
	}
	if (idle)
		return run_idle(idle, conns);
	return run_alloc(quick, reps ? reps : (quick ? 3 : 5), argv[0]);
}
