/* SPDX-License-Identifier: MIT */
/*
 * kio-copy - copy a file, or print it like cat, with kio's file operations.
 *
 *   kio-copy [-q|--quiet] SRC [DST]
 *   kio-copy -h|--help
 *
 * Without DST, or with DST "-", the bytes go to standard output; SRC "-"
 * reads standard input. A summary line (bytes, time, throughput, ops) goes
 * to standard error unless -q. Exits 0 on success (and after --help), 1 on
 * any error, 2 on a bad option or a wrong number of arguments.
 *
 * The shape to copy from: a fixed window of buffers, each with one read in
 * flight at its own offset, so the kernel always has work queued while we
 * write what already arrived. Everything happens in callbacks; main() only
 * starts the first reads and runs the loop until nothing is pending.
 *
 * A pipe, socket or terminal as SRC has no offsets and would hand its data
 * to parallel reads in any order: there the window shrinks to one buffer.
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	WINDOW = 4,         /* reads in flight at once */
	CHUNK = 128 * 1024, /* bytes per read */
};

enum slot_state {
	SLOT_IDLE,
	SLOT_READING,
	SLOT_FILLED,
	SLOT_WRITING
};

struct copy;

/* One buffer of the window and the byte range [off, off + CHUNK) it owns. */
struct slot {
	struct copy *copy;
	enum slot_state state;
	uint64_t off;
	uint32_t filled;  /* bytes read so far */
	uint32_t written; /* bytes of those written so far */
	char *buf;
};

struct copy {
	kio_ctx *ctx;
	int in_fd;
	int out_fd;
	const char *src;
	const char *dst; /* for messages */
	int window;      /* slots in use: WINDOW, or 1 for a stream SRC */
	bool stream_src; /* SRC has no offsets: read at the current position */
	/*
	 * Standard output may be a pipe or a terminal, where pwrite() fails
	 * and order is the only position there is: write one chunk at a time,
	 * in file order, at the current position.
	 */
	bool ordered;
	bool write_busy;    /* ordered mode: a write is in flight */
	uint64_t write_pos; /* ordered mode: offset of the next chunk to write */
	uint64_t next_read; /* offset the next idle slot will read */
	uint64_t eof;       /* size of SRC once a read returned 0 */
	uint64_t copied;
	int err; /* first error; stops new ops */
	const char *err_what;
	const char *err_path;
	struct slot slots[WINDOW];
};

static void pump(struct copy *c);

static void fail(struct copy *c, int err, const char *what, const char *path)
{
	/* Keep the first error: later ones are usually its consequences. */
	if (c->err == 0) {
		c->err = err;
		c->err_what = what;
		c->err_path = path;
	}
}

static void on_read(void *user_data, int32_t res, uint32_t flags);
static void on_write(void *user_data, int32_t res, uint32_t flags);

static void start_read(struct slot *s)
{
	struct copy *c = s->copy;
	uint64_t off = c->stream_src ? KIO_OFFSET_CURRENT : s->off + s->filled;
	int64_t id =
		kio_read(c->ctx, c->in_fd, s->buf + s->filled, CHUNK - s->filled, off, on_read, s);
	if (id < 0) {
		fail(c, (int)id, "read", c->src);
		s->state = SLOT_IDLE;
		return;
	}
	s->state = SLOT_READING;
}

static void start_write(struct slot *s)
{
	struct copy *c = s->copy;
	uint64_t off = c->ordered ? KIO_OFFSET_CURRENT : s->off + s->written;
	int64_t id = kio_write(c->ctx, c->out_fd, s->buf + s->written, s->filled - s->written, off,
			       on_write, s);
	if (id < 0) {
		fail(c, (int)id, "write", c->dst);
		s->state = SLOT_IDLE;
		return;
	}
	s->state = SLOT_WRITING;
	if (c->ordered)
		c->write_busy = true;
}

static void on_read(void *user_data, int32_t res, uint32_t flags)
{
	struct slot *s = user_data;
	struct copy *c = s->copy;
	(void)flags;

	if (res < 0) {
		fail(c, res, "read", c->src);
		s->state = SLOT_IDLE;
		pump(c);
		return;
	}
	if (res == 0) {
		/* End of file: nothing past this point needs a read. */
		if (s->off + s->filled < c->eof)
			c->eof = s->off + s->filled;
	}
	s->filled += (uint32_t)res;
	if (c->stream_src) {
		/*
		 * A pipe returns what is there now: pass it on at once (an
		 * interactive cat must not wait for 128 KiB), and let the
		 * next read start where this one ended.
		 */
		c->next_read = s->off + s->filled;
	} else if (res > 0 && s->filled < CHUNK && c->err == 0) {
		/*
		 * In a file a short read is not the end (only 0 is); ask
		 * again for the rest so the chunk is complete before it is
		 * written, and the next slot's offset stays right.
		 */
		start_read(s);
		return;
	}
	s->state = SLOT_FILLED;
	pump(c);
}

static void on_write(void *user_data, int32_t res, uint32_t flags)
{
	struct slot *s = user_data;
	struct copy *c = s->copy;
	(void)flags;

	if (c->ordered)
		c->write_busy = false;
	if (res <= 0) {
		/* A write that takes nothing would loop forever: call it EIO. */
		fail(c, res < 0 ? res : -EIO, "write", c->dst);
		s->state = SLOT_IDLE;
		pump(c);
		return;
	}
	s->written += (uint32_t)res;
	if (s->written < s->filled && c->err == 0) {
		/* Short write (pipe full, disk quota edge...): send the rest. */
		start_write(s);
		return;
	}
	c->copied += s->filled;
	if (c->ordered)
		c->write_pos += s->filled;
	s->state = SLOT_IDLE;
	pump(c);
}

/*
 * Moves every slot one step: filled buffers get written, idle ones read the
 * next chunk. Called after each completion; once an error is recorded it
 * starts nothing, so the loop drains and kio_ctx_run() returns.
 */
static void pump(struct copy *c)
{
	if (c->err != 0)
		return;
	for (int i = 0; i < c->window; i++) {
		struct slot *s = &c->slots[i];
		if (s->state != SLOT_FILLED)
			continue;
		if (s->filled == 0) {
			s->state = SLOT_IDLE; /* read past the end: nothing to write */
		} else if (!c->ordered) {
			start_write(s);
		} else if (!c->write_busy && s->off == c->write_pos) {
			/* Ordered: only the chunk that comes next, one at a time. */
			start_write(s);
		}
	}
	for (int i = 0; i < c->window && c->err == 0; i++) {
		struct slot *s = &c->slots[i];
		if (s->state != SLOT_IDLE || c->next_read >= c->eof)
			continue;
		s->off = c->next_read;
		s->filled = 0;
		s->written = 0;
		c->next_read += CHUNK; /* a stream SRC corrects this in on_read() */
		start_read(s);
	}
}

/*
 * Opening, syncing and closing happen one at a time, so a single helper
 * does "start the op, run the loop until nothing is pending, give back
 * its result". kio_ctx_run() returns exactly when the op has called back.
 */
struct result {
	int32_t res;
};

static void on_result(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	((struct result *)user_data)->res = res;
}

static int wait_for(kio_ctx *ctx, int64_t id, struct result *r)
{
	if (id < 0)
		return (int)id; /* the callback will never run */
	int err = kio_ctx_run(ctx);
	return err < 0 ? err : r->res;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* --help: on stdout, exit 0; a usage error: on stderr, exit 2. */
static int usage(FILE *to, int status)
{
	fprintf(to, "usage: kio-copy [-q|--quiet] SRC [DST]\n"
		    "       kio-copy -h|--help\n"
		    "  copies SRC to DST (created or truncated, mode 0644);\n"
		    "  without DST or with DST \"-\", writes to standard output;\n"
		    "  SRC \"-\" reads standard input\n"
		    "  -q, --quiet  no summary line on standard error\n"
		    "  -h, --help   this text\n");
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool quiet = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		if (opt == 'q')
			quiet = true;
		else if (opt == 'h')
			return usage(stdout, 0);
		else
			return usage(stderr, 2);
	}
	if (argc - optind < 1 || argc - optind > 2)
		return usage(stderr, 2);
	const char *src = argv[optind];
	const char *dst = argc - optind == 2 ? argv[optind + 1] : "-";
	bool to_stdout = strcmp(dst, "-") == 0;
	bool from_stdin = strcmp(src, "-") == 0;

	kio_ctx *ctx = NULL;
	int err = kio_ctx_create(&ctx, NULL, 0);
	if (err < 0) {
		fprintf(stderr, "kio-copy: cannot create a kio context: %s\n", kio_strerror(err));
		return 1;
	}

	struct copy c = {
		.ctx = ctx,
		.in_fd = from_stdin ? STDIN_FILENO : -1,
		.out_fd = to_stdout ? STDOUT_FILENO : -1,
		.src = from_stdin ? "standard input" : src,
		.dst = to_stdout ? "standard output" : dst,
		.window = WINDOW,
		.ordered = to_stdout,
		.eof = UINT64_MAX,
	};
	/* One allocation for the whole window; the kernel owns each part while its op runs. */
	char *bufs = malloc((size_t)WINDOW * CHUNK);
	if (bufs == NULL) {
		fprintf(stderr, "kio-copy: out of memory\n");
		kio_ctx_destroy(ctx);
		return 1;
	}
	for (int i = 0; i < WINDOW; i++)
		c.slots[i] = (struct slot){.copy = &c, .buf = bufs + (size_t)i * CHUNK};

	double t0 = now_ms();
	struct result r = {0};

	if (!from_stdin) {
		err = wait_for(
			ctx, kio_openat(ctx, AT_FDCWD, src, O_RDONLY | O_CLOEXEC, 0, on_result, &r),
			&r);
		if (err < 0)
			fail(&c, err, "open", src);
		else
			c.in_fd = err;
	}

	/* What kind of file SRC is decides whether parallel reads at offsets make sense. */
	struct statx stx;
	if (c.err == 0) {
		err = wait_for(ctx,
			       kio_statx(ctx, c.in_fd, "", AT_EMPTY_PATH, STATX_TYPE, &stx,
					 on_result, &r),
			       &r);
		if (err < 0) {
			fail(&c, err, "stat", c.src);
		} else if (!S_ISREG(stx.stx_mode) && !S_ISBLK(stx.stx_mode)) {
			c.stream_src = true;
			c.window = 1;
		}
	}

	if (c.err == 0 && !to_stdout) {
		err = wait_for(ctx,
			       kio_openat(ctx, AT_FDCWD, dst,
					  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, on_result,
					  &r),
			       &r);
		if (err < 0)
			fail(&c, err, "open", dst);
		else
			c.out_fd = err;
	}

	if (c.err == 0) {
		pump(&c);
		/* Every completion calls pump(); this returns once the copy is done or failed. */
		err = kio_ctx_run(ctx);
		if (err < 0)
			fail(&c, err, "run loop", src);
	}

	/* Data on disk before we say "done": a copy tool is trusted with that. */
	if (c.err == 0 && !to_stdout) {
		err = wait_for(ctx, kio_fsync(ctx, c.out_fd, 0, on_result, &r), &r);
		/* EINVAL: DST is a device or pipe (/dev/null) that has nothing to sync. */
		if (err < 0 && err != -EINVAL)
			fail(&c, err, "fsync", dst);
	}
	if (c.out_fd >= 0 && !to_stdout) {
		/* close() can report a delayed write error (NFS): it counts. */
		err = wait_for(ctx, kio_close(ctx, c.out_fd, on_result, &r), &r);
		if (err < 0)
			fail(&c, err, "close", dst);
	}
	if (c.in_fd >= 0 && !from_stdin) {
		err = wait_for(ctx, kio_close(ctx, c.in_fd, on_result, &r), &r);
		if (err < 0)
			fail(&c, err, "close", src);
	}
	double ms = now_ms() - t0;

	kio_stats st = {0};
	kio_ctx_stats(ctx, &st, sizeof(st));
	kio_ctx_destroy(ctx);
	free(bufs);

	if (c.err != 0) {
		fprintf(stderr, "kio-copy: %s %s: %s\n", c.err_what, c.err_path,
			kio_strerror(c.err));
		return 1;
	}
	if (!quiet) {
		double secs = ms / 1e3;
		fprintf(stderr, "kio-copy: %llu bytes in %.2f ms (%.1f MB/s), %llu ops\n",
			(unsigned long long)c.copied, ms, secs > 0 ? c.copied / 1e6 / secs : 0.0,
			(unsigned long long)st.ops_completed);
	}
	return 0;
}
