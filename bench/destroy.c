/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-destroy - what kio_ctx_destroy() costs with many ops pending.
 *
 * For each count N: a fresh context, N ops that nothing will ever complete
 * started on it and handed to the kernel (or to the epoll backend), then
 * kio_ctx_destroy() timed on its own. Destroy cancels each op, runs its
 * callback (-ECANCELED) and waits until the kernel has let go of every
 * buffer, so the figure is the whole cost of tearing down a busy context.
 *
 *   recv  N x kio_recv() of 64 B, on the reading ends of socket pairs;
 *   poll  N x kio_poll(POLLIN) on the same kind of fds.
 *
 * With N larger than the descriptors allow, the ops share socket pairs
 * (round robin): P = min(N, --pairs, what RLIMIT_NOFILE allows) pairs,
 * each with N / P ops. RLIMIT_NOFILE is raised to its hard limit first.
 *
 *   kio-bench-destroy [--op recv|poll|both] [--counts N[,N...]] [--pairs P]
 *                     [--reps R] [--quick]
 *
 * Defaults: --op both, --counts 1000,4000,16000,64000, --pairs 8192,
 * --reps 3 (--quick: --counts 1000,4000 and 1 repetition). The backend is
 * KIO_BACKEND's (io_uring or epoll). Result lines (bench/README.md):
 * workload "destroy", impl "kio-c" or "kio-c-epoll" (the backend
 * kio_ctx_backend() reports), params {"op":OP,"ops":N,"pairs":P}, metrics
 * destroy_s (the call itself) and ns_per_op (destroy_s / N: flat when
 * destroy is linear). Every callback is checked: exactly N, all
 * -ECANCELED, or the program fails. Exit 77: the context cannot be created.
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_COUNTS 16
#define MSG 64

struct tally {
	uint64_t done;
	uint64_t other; /* callbacks with anything but -ECANCELED */
};

static void on_done(void *ud, int32_t res, uint32_t flags)
{
	struct tally *t = ud;
	(void)flags;
	t->done++;
	if (res != -ECANCELED)
		t->other++;
}

/* Raises RLIMIT_NOFILE to its hard limit; returns the limit now in force. */
static rlim_t raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

/*
 * One run: n ops of kind op spread over pairs socket pairs (fds[2 * i] is
 * the end the ops wait on). Returns the seconds kio_ctx_destroy() took, or
 * -1 (said on stderr), or -77 when no context can be made.
 */
static double run_once(const char *op, unsigned n, const int *fds, unsigned pairs,
		       unsigned char *bufs)
{
	kio_ctx *ctx = NULL;
	int err = kio_ctx_create(&ctx, NULL, 0);
	if (err < 0) {
		fprintf(stderr, "kio-bench-destroy: kio_ctx_create: %s\n", kio_strerror(err));
		return -77;
	}
	struct tally t = {0, 0};
	bool recv = strcmp(op, "recv") == 0;
	for (unsigned i = 0; i < n; i++) {
		int fd = fds[2 * (i % pairs)];
		int64_t id = recv ? kio_recv(ctx, fd, bufs + (size_t)i * MSG, MSG, 0, on_done, &t)
				  : kio_poll(ctx, fd, POLLIN, on_done, &t);
		if (id < 0) {
			fprintf(stderr, "kio-bench-destroy: %s %u: %s\n", op, i,
				kio_strerror((int)id));
			kio_ctx_destroy(ctx);
			return -1;
		}
	}
	/* Hand the last SQEs over and let every op reach its wait. */
	for (int i = 0; i < 4; i++)
		kio_ctx_run_once(ctx, 0);
	if (t.done != 0 || kio_ctx_pending(ctx) != n) {
		fprintf(stderr, "kio-bench-destroy: %s: %u pending, %llu done before destroy\n",
			op, kio_ctx_pending(ctx), (unsigned long long)t.done);
		kio_ctx_destroy(ctx);
		return -1;
	}
	double t0 = bench_now_s();
	kio_ctx_destroy(ctx);
	double s = bench_now_s() - t0;
	if (t.done != n || t.other != 0) {
		fprintf(stderr,
			"kio-bench-destroy: %s: %llu callbacks for %u ops, %llu not -ECANCELED\n",
			op, (unsigned long long)t.done, n, (unsigned long long)t.other);
		return -1;
	}
	return s;
}

/* The impl name of the backend contexts get here (KIO_BACKEND). */
static const char *impl_name(void)
{
	kio_ctx *ctx = NULL;
	if (kio_ctx_create(&ctx, NULL, 0) < 0)
		return NULL;
	int b = kio_ctx_backend(ctx);
	kio_ctx_destroy(ctx);
	return b == KIO_BACKEND_EPOLL ? "kio-c-epoll" : "kio-c";
}

static int parse_counts(const char *s, unsigned *counts)
{
	int k = 0;
	while (*s) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v == 0 || v > 4000000 || k == MAX_COUNTS)
			return -1;
		counts[k++] = (unsigned)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return k;
}

int main(int argc, char **argv)
{
	const char *ops_arg = "both";
	unsigned counts[MAX_COUNTS] = {1000, 4000, 16000, 64000};
	int ncounts = 4;
	unsigned max_pairs = 8192;
	int reps = 0;
	bool quick = false, bad = false, counts_given = false;
	for (int i = 1; i < argc && !bad; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = true;
		} else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc) {
			ops_arg = argv[++i];
		} else if (strcmp(argv[i], "--counts") == 0 && i + 1 < argc) {
			ncounts = parse_counts(argv[++i], counts);
			bad = ncounts <= 0;
			counts_given = true;
		} else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
			max_pairs = (unsigned)strtoul(argv[++i], NULL, 10);
			bad = max_pairs == 0;
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			reps = atoi(argv[++i]);
			bad = reps <= 0 || reps > BENCH_MAX_REPS;
		} else {
			bad = true;
		}
	}
	if (bad || (strcmp(ops_arg, "recv") != 0 && strcmp(ops_arg, "poll") != 0 &&
		    strcmp(ops_arg, "both") != 0)) {
		fprintf(stderr, "usage: kio-bench-destroy [--op recv|poll|both] [--counts N[,N...]] "
				"[--pairs P] [--reps R] [--quick]\n");
		return 2;
	}
	if (quick && !counts_given)
		ncounts = 2; /* 1000 and 4000 */
	if (!reps)
		reps = quick ? 1 : 3;

	const char *impl = impl_name();
	if (!impl) {
		fprintf(stderr, "kio-bench-destroy: no context can be created here\n");
		return 77;
	}

	/* Socket pairs: as many as the largest count needs and the fd limit allows. */
	unsigned need = 0;
	for (int k = 0; k < ncounts; k++)
		need = counts[k] > need ? counts[k] : need;
	rlim_t nofile = raise_nofile();
	unsigned fit = nofile > 128 ? (unsigned)((nofile - 64) / 2) : 1;
	unsigned pairs_made = need < max_pairs ? need : max_pairs;
	if (pairs_made > fit)
		pairs_made = fit;
	int *fds = malloc((size_t)pairs_made * 2 * sizeof(int));
	unsigned char *bufs = malloc((size_t)need * MSG);
	if (!fds || !bufs) {
		fprintf(stderr, "kio-bench-destroy: out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < pairs_made; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, &fds[2 * i]) < 0) {
			fprintf(stderr, "kio-bench-destroy: socketpair %u: %s\n", i,
				strerror(errno));
			return 1;
		}
	}

	int status = 0;
	static const char *const all_ops[] = {"recv", "poll"};
	for (int o = 0; o < 2 && status == 0; o++) {
		const char *op = all_ops[o];
		if (strcmp(ops_arg, "both") != 0 && strcmp(ops_arg, op) != 0)
			continue;
		for (int k = 0; k < ncounts && status == 0; k++) {
			unsigned n = counts[k];
			unsigned pairs = n < pairs_made ? n : pairs_made;
			double s[BENCH_MAX_REPS], per[BENCH_MAX_REPS];
			for (int r = 0; r < reps && status == 0; r++) {
				s[r] = run_once(op, n, fds, pairs, bufs);
				if (s[r] < 0)
					status = s[r] == -77 ? 77 : 1;
				else
					per[r] = s[r] * 1e9 / n;
			}
			if (status)
				break;
			char params[80], note[64];
			snprintf(params, sizeof(params), "{\"op\":\"%s\",\"ops\":%u,\"pairs\":%u}", op,
				 n, pairs);
			snprintf(note, sizeof(note), "%u ops per socket pair", (n + pairs - 1) / pairs);
			bench_emit("destroy", impl, params, "destroy_s", "s", false, s, reps, note);
			bench_emit("destroy", impl, params, "ns_per_op", "ns", false, per, reps, note);
		}
	}
	for (unsigned i = 0; i < 2 * pairs_made; i++)
		close(fds[i]);
	free(fds);
	free(bufs);
	return status;
}
