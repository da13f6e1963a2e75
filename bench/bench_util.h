/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h - what every benchmark program shares: a monotonic clock,
 * median/min/max over repeated runs, /proc/self/status readings, and the
 * result line format of bench/README.md (one JSON object per line on
 * stdout). Header-only so C and C++ programs can both include it.
 */
#ifndef KIO_BENCH_UTIL_H
#define KIO_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_MAX_REPS 101

static inline double bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench_summary {
	double median, min, max;
};

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median (mean of the middle two for an even count), min and max of v[0..n). */
static inline struct bench_summary bench_summarize(const double *v, int n)
{
	double sorted[BENCH_MAX_REPS];
	struct bench_summary s = {0, 0, 0};
	if (n <= 0)
		return s;
	if (n > BENCH_MAX_REPS)
		n = BENCH_MAX_REPS;
	memcpy(sorted, v, (size_t)n * sizeof(double));
	qsort(sorted, (size_t)n, sizeof(double), bench_cmp_double);
	s.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	s.min = sorted[0];
	s.max = sorted[n - 1];
	return s;
}

/*
 * Prints one result line (bench/README.md). params is a JSON object text
 * such as "{\"batch\":32}"; note (a plain string) and extra (a JSON object
 * text) may be NULL.
 */
static inline void bench_emit_extra(const char *workload, const char *impl, const char *params,
				    const char *metric, const char *unit, bool higher_is_better,
				    const double *runs, int n, const char *note, const char *extra)
{
	struct bench_summary s = bench_summarize(runs, n);
	printf("{\"workload\":\"%s\",\"impl\":\"%s\",\"params\":%s,\"metric\":\"%s\","
	       "\"unit\":\"%s\",\"higher_is_better\":%s,\"runs\":[",
	       workload, impl, params, metric, unit, higher_is_better ? "true" : "false");
	for (int i = 0; i < n; i++)
		printf("%s%.6g", i ? "," : "", runs[i]);
	printf("],\"median\":%.6g,\"min\":%.6g,\"max\":%.6g", s.median, s.min, s.max);
	if (note)
		printf(",\"note\":\"%s\"", note);
	if (extra)
		printf(",\"extra\":%s", extra);
	printf("}\n");
	fflush(stdout);
}

static inline void bench_emit(const char *workload, const char *impl, const char *params,
			      const char *metric, const char *unit, bool higher_is_better,
			      const double *runs, int n, const char *note)
{
	bench_emit_extra(workload, impl, params, metric, unit, higher_is_better, runs, n, note,
			 NULL);
}

/* A "VmHWM:"-style field of /proc/self/status in bytes, or -1. */
static inline long long bench_proc_status_bytes(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	size_t len = strlen(field);
	long long kib = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			kib = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib < 0 ? -1 : kib * 1024;
}

/*
 * Prints "cpu_ns N", the process's user+sys CPU time (getrusage), the line
 * the echo and HTTP servers end with.
 */
static inline void bench_print_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long long ns = ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ll +
		       ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ll;
	printf("cpu_ns %lld\n", ns);
}

/* xorshift64*: a fixed-seed generator, the same sequence on every run. */
static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

#endif
