/* SPDX-License-Identifier: MIT */
/*
 * bench_args.h - the command lines that sibling benchmark programs share:
 * the fileread pair (C and C++) and the provided-buffer echo servers (kio
 * and plain liburing), so each pair accepts exactly the same options.
 * Header-only, C and C++.
 */
#ifndef KIO_BENCH_ARGS_H
#define KIO_BENCH_ARGS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

struct bench_fileread_args {
	const char *path;
	unsigned qd;
	double seconds;
	int reps;
};

/*
 * --file PATH [--qd 1..max_qd] [--seconds S] [--reps R] (defaults: queue
 * depth 1, 2 s, 3 repetitions). False, with a usage line on stderr, on
 * anything else, a missing --file or a value out of range.
 */
static inline bool bench_fileread_parse(int argc, char **argv, unsigned max_qd,
					struct bench_fileread_args *a)
{
	bool ok = true;
	a->path = NULL;
	a->qd = 1;
	a->seconds = 2;
	a->reps = 3;
	for (int i = 1; i < argc && ok; i++) {
		if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
			a->path = argv[++i];
		else if (strcmp(argv[i], "--qd") == 0 && i + 1 < argc)
			a->qd = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			a->seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			a->reps = atoi(argv[++i]);
		else
			ok = false;
	}
	if (ok && a->path && a->qd >= 1 && a->qd <= max_qd && a->seconds > 0 && a->reps >= 1 &&
	    a->reps <= BENCH_MAX_REPS)
		return true;
	fprintf(stderr, "usage: %s --file PATH [--qd 1..%u] [--seconds S] [--reps R]\n", argv[0],
		max_qd);
	return false;
}

/*
 * [--port P] [--bufs N] [--size B]: the port (0, the default: the kernel
 * chooses), N provided buffers (a power of two up to 32768; 1024) of B
 * bytes (1 B to 1 MiB; 4096). False on anything else.
 */
static inline bool bench_echo_parse(int argc, char **argv, long *port, long *bufs, long *size)
{
	*port = 0;
	*bufs = 1024;
	*size = 4096;
	if (argc % 2 == 0)
		return false;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			*port = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--bufs"))
			*bufs = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--size"))
			*size = atol(argv[i + 1]);
	}
	return *port >= 0 && *port <= 65535 && *bufs >= 1 && *bufs <= 32768 &&
	       !(*bufs & (*bufs - 1)) && *size >= 1 && *size <= (1l << 20);
}

#endif
