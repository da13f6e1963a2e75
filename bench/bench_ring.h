/* SPDX-License-Identifier: MIT */
/*
 * bench_ring.h - a plain liburing ring set up the way kio sets up its own
 * (the best mode the kernel accepts), so the liburing side of a benchmark
 * runs with the same kernel paths as kio.
 */
#ifndef KIO_BENCH_RING_H
#define KIO_BENCH_RING_H

#include <errno.h>
#include <liburing.h>
#include <string.h>

/* Returns 0 with *mode naming the flags used, or a negated errno. */
static inline int bench_ring_setup(struct io_uring *ring, unsigned sq_entries, unsigned cq_entries,
				   const char **mode)
{
	static const struct {
		unsigned flags;
		const char *name;
	} modes[] = {
		{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		 "SINGLE_ISSUER|DEFER_TASKRUN"},
		{IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		 "COOP_TASKRUN|TASKRUN_FLAG"},
		{0, "plain"},
	};
	int ret = -EINVAL;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = modes[i].flags | IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
		ret = io_uring_queue_init_params(sq_entries, ring, &p);
		if (ret == 0) {
			*mode = modes[i].name;
			return 0;
		}
		if (ret != -EINVAL)
			break;
	}
	return ret;
}

#endif
