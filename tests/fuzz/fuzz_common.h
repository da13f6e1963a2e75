/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share: failing loudly (abort, so libFuzzer keeps
 * the input), a trace of the last steps printed with the failure, counting
 * the process's fds, a reader of the fuzzer's bytes, and a context created
 * on the backend the input asks for, whatever KIO_BACKEND says.
 */
#ifndef KIO_FUZZ_COMMON_H
#define KIO_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kio/kio.h>

/* The last FZ_TRACE_LINES steps, printed when an invariant fails. With
 * KIO_FUZZ_VERBOSE=1 every step is also printed as it happens. */
#define FZ_TRACE_LINES 96
static char fz_trace_buf[FZ_TRACE_LINES][160];
static unsigned fz_trace_next;
static int fz_verbose = -1;

static inline void fz_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void fz_trace(const char *fmt, ...)
{
	va_list ap;
	char *line = fz_trace_buf[fz_trace_next++ % FZ_TRACE_LINES];
	va_start(ap, fmt);
	vsnprintf(line, sizeof(fz_trace_buf[0]), fmt, ap);
	va_end(ap);
	if (fz_verbose < 0) {
		const char *v = getenv("KIO_FUZZ_VERBOSE");
		fz_verbose = v && v[0] == '1';
	}
	if (fz_verbose)
		fprintf(stderr, "  | %s\n", line);
}

static inline void fz_trace_reset(void)
{
	fz_trace_next = 0;
	memset(fz_trace_buf, 0, sizeof(fz_trace_buf));
}

static inline void fz_trace_dump(void)
{
	unsigned n = fz_trace_next < FZ_TRACE_LINES ? fz_trace_next : FZ_TRACE_LINES;
	fprintf(stderr, "---- last %u steps of this input ----\n", n);
	for (unsigned i = fz_trace_next - n; i != fz_trace_next; i++)
		fprintf(stderr, "  %s\n", fz_trace_buf[i % FZ_TRACE_LINES]);
	fprintf(stderr, "----\n");
}

/* An invariant failed: say which, show the steps that led there, abort. */
static inline void fz_fail(const char *target, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));
static inline void fz_fail(const char *target, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fz_trace_dump();
	fprintf(stderr, "%s: INVARIANT VIOLATED (%s:%d): ", target, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

/*
 * Checks of library bugs already reported (tests/fuzz/README.md) can be
 * turned off with KIO_FUZZ_SKIP=tag,tag... so a long run goes on looking
 * for new ones. CI never sets it: the regression inputs keep failing until
 * the library is fixed.
 */
static inline int fz_skip(const char *tag)
{
	const char *v = getenv("KIO_FUZZ_SKIP");
	size_t n = strlen(tag);
	while (v && *v) {
		const char *end = strchr(v, ',');
		size_t len = end ? (size_t)(end - v) : strlen(v);
		if (len == n && memcmp(v, tag, n) == 0)
			return 1;
		v = end ? end + 1 : NULL;
	}
	return 0;
}

static inline uint64_t fz_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Open fds of this process (the directory's own fd included, both times). */
static inline int fz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The fds of this process, for the message of a leak. */
static inline void fz_list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[300], target[256];
		ssize_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

/* The fuzzer's bytes, read front to back; zeros once they run out. */
struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline int fz_more(const struct fz_in *in)
{
	return in->n > 0;
}

static inline uint8_t fz_u8(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
	uint16_t v = fz_u8(in);
	return (uint16_t)(v | (uint16_t)fz_u8(in) << 8);
}

static inline uint64_t fz_u64(struct fz_in *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)fz_u8(in) << (8 * i);
	return v;
}

/* Up to max bytes of the input (fewer when it runs out); *len gets the count. */
static inline const uint8_t *fz_bytes(struct fz_in *in, size_t max, size_t *len)
{
	const uint8_t *p = in->p;
	size_t n = max < in->n ? max : in->n;
	in->p += n;
	in->n -= n;
	*len = n;
	return p;
}

/* io_uring refused by this system (seccomp, sysctl): every ctx uses epoll. */
static int fz_uring_refused;

/*
 * A context on the backend asked for: the flags choose it, so KIO_BACKEND
 * in the environment has no say. Where the system refuses io_uring, epoll
 * serves those inputs too. extra: KIO_CTX_NO_DEFER_TASKRUN and queue
 * sizes (sq 0: default). Returns the backend used (KIO_BACKEND_*), or the
 * error of kio_ctx_create().
 */
static inline int fz_ctx_create(kio_ctx **out, int epoll, uint32_t extra_flags, uint32_t sq,
				uint32_t cq)
{
	kio_ctx_opts o;
	int rc;
	kio_ctx_opts_init(&o, sizeof(o));
	o.sq_entries = sq;
	o.cq_entries = cq;
	if (!epoll && !fz_uring_refused) {
		o.flags = KIO_CTX_NO_FALLBACK | extra_flags;
		rc = kio_ctx_create(out, &o, sizeof(o));
		if (rc == 0)
			return KIO_BACKEND_IO_URING;
		if (rc != -EPERM && rc != -ENOSYS && rc != -EACCES)
			return rc;
		fz_uring_refused = 1;
		fprintf(stderr, "fuzz: io_uring refused here (%s): epoll serves every input\n",
			kio_strerror(rc));
	}
	o.flags = KIO_CTX_BACKEND_EPOLL;
	rc = kio_ctx_create(out, &o, sizeof(o));
	return rc == 0 ? KIO_BACKEND_EPOLL : rc;
}

#endif /* KIO_FUZZ_COMMON_H */
