/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-fileread - 4 KiB random reads of a file that sits in the page
 * cache, with QD reads in flight, through kio's C API. bench/workloads/
 * fileread.sh runs fio --ioengine=io_uring with the same parameters on the
 * same file, and kio-bench-fileread-cxx does the same through co_await.
 *
 * QD reads start at once; each completion starts the next read at a random
 * 4 KiB-aligned offset (xorshift, fixed seed) until a kio_sleep() of the
 * run's length fires. IOPS = reads completed / elapsed time.
 *
 *   kio-bench-fileread --file PATH [--qd N] [--seconds S] [--reps R] [--pread]
 *                      [--direct] [--nowait] [--fixed] [--regfile] [--no-defer-taskrun]
 *
 * --direct opens the file with O_DIRECT (reads go to the device, not the
 * page cache; the buffers are 4 KiB aligned): the storage figure. The
 * result line then has params {"qd":N,"direct":1}.
 *
 * --nowait creates the context with KIO_CTX_READ_NOWAIT: a read the page
 * cache can answer is made inside kio_read() (preadv2 with RWF_NOWAIT) and
 * only its completion goes through the loop. --fixed registers each
 * reader's buffer (kio_register_buffers) and the file (kio_register_files),
 * and reads with kio_read_fixed(): fio's fixedbufs + registerfiles.
 * --regfile registers the file alone (kio_read() of a registered fd).
 * Each adds "-nowait" / "-fixed" / "-regfile" to the impl name. --no-defer-taskrun
 * creates the context with KIO_CTX_NO_DEFER_TASKRUN (to see what deferred
 * completion delivery costs or gains on a workload).
 *
 * Every run reads the same offsets in the same order (the generator starts
 * again from its seed). --pread (QD 1 only) also measures the plain loop a
 * program would write without kio: pread(2) of 4 KiB at those offsets, one
 * after the other, in this process, back to back with each kio run
 * (alternating which goes first, as kio-bench-nop does with liburing).
 *
 * The file must already be cached (read it once first). Prints one result
 * line (bench/README.md): workload "fileread", impl "kio-c" ("kio-c-epoll"
 * when kio runs on its epoll backend: KIO_BACKEND=epoll), params {"qd":N},
 * metric iops. With --pread, a second line for impl "pread", and the paired
 * kio/pread ratio in the kio line's extra.paired_ratio.
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_args.h"
#include "bench_util.h"

#define BS 4096u
#define MAX_QD 256
#define SEED 0x6b696f7265616473ull

struct reader;

struct run {
	kio_ctx *ctx;
	int fd;
	uint64_t blocks;
	uint64_t rng;
	uint64_t done, errors;
	bool stop;
};

/* Page-aligned buffers: O_DIRECT needs the block alignment, cached reads do not mind. */
struct reader {
	unsigned char buf[BS] __attribute__((aligned(BS)));
	struct run *run;
	uint32_t index; /* its buffer's index with --fixed */
};

static bool g_fixed;

static void on_read(void *ud, int32_t res, uint32_t flags);

/* Clock reads of the pread loop: one per this many reads. */
#define PREAD_CHECK 64

static int start_read(struct reader *r)
{
	struct run *run = r->run;
	uint64_t off = (bench_rand(&run->rng) % run->blocks) * BS;
	int64_t id = g_fixed ? kio_read_fixed(run->ctx, run->fd, r->buf, BS, off, r->index, on_read, r)
			     : kio_read(run->ctx, run->fd, r->buf, BS, off, on_read, r);
	return id < 0 ? (int)id : 0;
}

static void on_read(void *ud, int32_t res, uint32_t flags)
{
	struct reader *r = ud;
	struct run *run = r->run;
	(void)flags;
	run->done++;
	if (res != (int32_t)BS)
		run->errors++;
	if (!run->stop && start_read(r) < 0)
		run->errors++;
}

static void on_deadline(void *ud, int32_t res, uint32_t flags)
{
	(void)res;
	(void)flags;
	((struct run *)ud)->stop = true;
}

/* IOPS of one run, or < 0 on error. */
static double run_once(struct run *run, struct reader *readers, unsigned qd, double seconds)
{
	run->done = run->errors = 0;
	run->stop = false;
	run->rng = SEED;
	double t0 = bench_now_s();
	int64_t id = kio_sleep(run->ctx, (uint64_t)(seconds * 1e9), on_deadline, run);
	if (id < 0)
		return -1;
	for (unsigned i = 0; i < qd; i++)
		if (start_read(&readers[i]) < 0)
			return -1;
	int err = kio_ctx_run(run->ctx);
	double t = bench_now_s() - t0;
	if (err < 0 || run->errors) {
		fprintf(stderr, "kio-bench-fileread: run %d, %llu errors\n", err,
			(unsigned long long)run->errors);
		return -1;
	}
	return (double)run->done / t;
}

/*
 * One run of the plain loop: pread(2) of BS bytes at the offsets a kio run
 * reads, one at a time, until `seconds` passed. IOPS, or < 0 on error.
 */
static double run_pread(int fd, uint64_t blocks, unsigned char *buf, double seconds)
{
	uint64_t rng = SEED, done = 0;
	double t0 = bench_now_s(), t = t0;
	while (t - t0 < seconds) {
		for (unsigned i = 0; i < PREAD_CHECK; i++) {
			uint64_t off = (bench_rand(&rng) % blocks) * BS;
			if (pread(fd, buf, BS, (off_t)off) != (ssize_t)BS) {
				fprintf(stderr, "kio-bench-fileread: pread: %s\n", strerror(errno));
				return -1;
			}
		}
		done += PREAD_CHECK;
		t = bench_now_s();
	}
	return (double)done / (t - t0);
}

int main(int argc, char **argv)
{
	struct bench_fileread_args args;
	/* These options are this program's own: the shared parser sees the rest. */
	bool with_pread = false, direct = false, help = false, nowait = false, no_defer = false;
	bool regfile = false;
	int nargs = 0;
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--pread") == 0)
			with_pread = true;
		else if (i > 0 && strcmp(argv[i], "--direct") == 0)
			direct = true;
		else if (i > 0 && strcmp(argv[i], "--nowait") == 0)
			nowait = true;
		else if (i > 0 && strcmp(argv[i], "--fixed") == 0)
			g_fixed = regfile = true;
		else if (i > 0 && strcmp(argv[i], "--regfile") == 0)
			regfile = true;
		else if (i > 0 && strcmp(argv[i], "--no-defer-taskrun") == 0)
			no_defer = true;
		else if (i > 0 && strcmp(argv[i], "--help") == 0)
			help = true;
		else
			argv[nargs++] = argv[i];
	}
	/* --help: the shared usage (the parser prints it when --file is missing), then ours. */
	if (!bench_fileread_parse(help ? 1 : nargs, argv, MAX_QD, &args) || help) {
		fprintf(stderr, "options of this program: [--pread] (QD 1: also a pread(2) loop, "
				"back to back) [--direct] (O_DIRECT) [--nowait] (KIO_CTX_READ_NOWAIT) "
				"[--fixed] (registered buffers and file, kio_read_fixed) [--regfile] "
				"(registered file) [--no-defer-taskrun]\n");
		return 2;
	}
	if (with_pread && args.qd != 1) {
		fprintf(stderr, "kio-bench-fileread: --pread compares at --qd 1 only\n");
		return 2;
	}
	int fd = open(args.path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)BS) {
		fprintf(stderr, "kio-bench-fileread: %s: %s\n", args.path,
			fd < 0 ? strerror(errno) : "too small");
		return 1;
	}
	struct run run = {.fd = fd, .blocks = (uint64_t)st.st_size / BS, .rng = SEED};
	kio_ctx_opts opts;
	kio_ctx_opts_init(&opts, sizeof(opts));
	if (nowait)
		opts.flags |= KIO_CTX_READ_NOWAIT;
	if (no_defer)
		opts.flags |= KIO_CTX_NO_DEFER_TASKRUN;
	int err = kio_ctx_create(&run.ctx, &opts, sizeof(opts));
	if (err < 0) {
		fprintf(stderr, "kio-bench-fileread: kio_ctx_create: %s\n", kio_strerror(err));
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	}
	struct reader *readers = aligned_alloc(BS, args.qd * sizeof(*readers));
	if (!readers)
		return 1;
	struct iovec iov[MAX_QD];
	for (unsigned i = 0; i < args.qd; i++) {
		readers[i].run = &run;
		readers[i].index = i;
		iov[i] = (struct iovec){readers[i].buf, BS};
	}
	if (g_fixed && (err = kio_register_buffers(run.ctx, iov, args.qd)) < 0) {
		fprintf(stderr, "kio-bench-fileread: kio_register_buffers: %s\n", kio_strerror(err));
		return 1;
	}
	if (regfile && (err = kio_register_files(run.ctx, &fd, 1)) < 0) {
		fprintf(stderr, "kio-bench-fileread: kio_register_files: %s\n", kio_strerror(err));
		return 1;
	}

	char impl[48];
	snprintf(impl, sizeof(impl), "%s%s%s",
		 kio_ctx_backend(run.ctx) == KIO_BACKEND_EPOLL ? "kio-c-epoll" : "kio-c",
		 nowait ? "-nowait" : "", g_fixed ? "-fixed" : regfile ? "-regfile" : "");
	int status = 0;
	double iops[BENCH_MAX_REPS], pread_iops[BENCH_MAX_REPS], ratio[BENCH_MAX_REPS];
	/* A short warm-up run: faults the buffers in, settles the ring. */
	if (run_once(&run, readers, args.qd, args.seconds / 10) < 0 ||
	    (with_pread && run_pread(fd, run.blocks, readers[0].buf, args.seconds / 10) < 0))
		status = 1;
	for (int r = 0; r < args.reps && status == 0; r++) {
		/* Alternate who goes first, so drift hits both alike. */
		if (with_pread && r % 2 == 0)
			pread_iops[r] = run_pread(fd, run.blocks, readers[0].buf, args.seconds);
		iops[r] = run_once(&run, readers, args.qd, args.seconds);
		if (with_pread && r % 2 == 1)
			pread_iops[r] = run_pread(fd, run.blocks, readers[0].buf, args.seconds);
		if (iops[r] < 0 || (with_pread && pread_iops[r] < 0))
			status = 1;
		else if (with_pread)
			ratio[r] = iops[r] / pread_iops[r];
	}
	kio_ctx_destroy(run.ctx);
	free(readers);
	close(fd);
	if (status == 0) {
		char params[40];
		snprintf(params, sizeof(params),
			 direct ? "{\"qd\":%u,\"direct\":1}" : "{\"qd\":%u}", args.qd);
		if (with_pread) {
			struct bench_summary q = bench_summarize(ratio, args.reps);
			char note[96], extra[160];
			snprintf(note, sizeof(note), "paired %s/pread %.3f [%.3f-%.3f]", impl,
				 q.median, q.min, q.max);
			/* The report prefers this paired ratio to the ratio of the medians. */
			snprintf(extra, sizeof(extra),
				 "{\"paired_ratio\":{\"peer\":\"pread\",\"median\":%.4f,"
				 "\"min\":%.4f,\"max\":%.4f}}",
				 q.median, q.min, q.max);
			bench_emit_extra("fileread", impl, params, "iops", "IOPS", true, iops,
					 args.reps, note, extra);
			bench_emit("fileread", "pread", params, "iops", "IOPS", true, pread_iops,
				   args.reps, "pread(2) in a loop, one thread");
		} else {
			bench_emit("fileread", impl, params, "iops", "IOPS", true, iops, args.reps,
				   NULL);
		}
	}
	return status;
}
