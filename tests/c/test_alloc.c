/* SPDX-License-Identifier: MIT */
/*
 * Steady state allocates nothing per op (DESIGN.md section 4, rule 7).
 *
 * malloc and friends are interposed by this executable (kt_malloc_count.h)
 * and counted while the switch is on, whichever thread allocates. Built
 * only without sanitizers.
 */
#include "kio_test.h"
#include "kt_malloc_count.h"

#define BATCH 100
#define WARMUP 1000
#define MEASURED 100000

static unsigned long done_cbs;

static void count_cb(void *ud, int32_t res, uint32_t flags)
{
	(void)ud;
	(void)flags;
	if (res == 0)
		done_cbs++;
}

static void test_alloc_interposer_sees_library(void **state)
{
	(void)state;
	/* Proves the counter is wired: creating a ctx surely allocates. */
	allocs = 0;
	counting = 1;
	kio_ctx *ctx = NULL;
	int rc = kio_ctx_create(&ctx, NULL, 0);
	counting = 0;
	if (rc == -EPERM || rc == -ENOSYS)
		exit(KT_SKIP);
	assert_int_equal(rc, 0);
	assert_true(allocs > 0);
	kio_ctx_destroy(ctx);
}

enum {
	OP_NOP,
	OP_SLEEP0
};

/* Starts n ops of one kind in batches of BATCH, running each batch to completion. */
static int run_batches(kio_ctx *ctx, int kind, int n, int *start_errors)
{
	for (int done = 0; done < n; done += BATCH) {
		for (int i = 0; i < BATCH; i++) {
			int64_t id = kind == OP_NOP ? kio_nop(ctx, count_cb, NULL) :
						      kio_sleep(ctx, 0, count_cb, NULL);
			if (id < 0)
				(*start_errors)++;
		}
		int rc = kio_ctx_run(ctx);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void measure(int kind)
{
	kio_ctx *ctx = kt_ctx_new();
	int start_errors = 0;
	done_cbs = 0;
	assert_int_equal(run_batches(ctx, kind, WARMUP, &start_errors), 0);
	assert_int_equal(done_cbs, WARMUP);

	done_cbs = 0;
	allocs = 0;
	counting = 1;
	uint64_t t0 = kt_now_ns();
	int rc = run_batches(ctx, kind, MEASURED, &start_errors);
	uint64_t dt = kt_now_ns() - t0;
	counting = 0;
	unsigned long seen = allocs;

	assert_int_equal(rc, 0);
	assert_int_equal(start_errors, 0);
	assert_int_equal(done_cbs, MEASURED);
	print_message("%d ops in %.1f ms, %lu allocations\n", MEASURED, (double)dt / 1e6, seen);
	assert_int_equal(seen, 0);
	kt_drain_destroy(ctx);
}

static void test_alloc_nop_steady_state(void **state)
{
	(void)state;
	measure(OP_NOP);
}

static void test_alloc_sleep0_steady_state(void **state)
{
	(void)state;
	measure(OP_SLEEP0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_alloc_interposer_sees_library),
		KT_TEST(test_alloc_nop_steady_state),
		KT_TEST(test_alloc_sleep0_steady_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
