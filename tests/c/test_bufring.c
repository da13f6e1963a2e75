/* SPDX-License-Identifier: MIT */
/*
 * Provided buffer rings: creation limits, the memory of each buffer,
 * release bookkeeping (a buffer is never put in the ring twice), duplicate
 * groups, rings shared by connections, and the lifetimes around them: a
 * ring destroyed while a receive uses it, or after its ctx.
 */
#include "kt_net.h"

#define WAIT_MS 5000

/* One buffer received through a multishot recv: its id and length. */
struct one {
	int calls, finals;
	int32_t res, final_res;
	uint32_t flags;
	int id;
};

static void one_cb(void *ud, int32_t res, uint32_t flags)
{
	struct one *o = ud;
	o->calls++;
	if (!(flags & KIO_F_MORE)) {
		o->finals++;
		o->final_res = res;
		return;
	}
	o->res = res;
	o->flags = flags;
	o->id = (flags & KIO_F_BUFFER) ? (int)(flags >> 16) : -1;
}

static void run_until_calls(kio_ctx *ctx, const struct one *o, int n)
{
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (o->calls < n) {
		assert_true(kt_now_ns() < deadline);
		assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
	}
}

static void test_bufring_create_limits(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = (kio_buf_ring *)&ring;

	assert_int_equal(kio_buf_ring_create(NULL, ctx, 0, 4, 64), -EINVAL);
	assert_int_equal(kio_buf_ring_create(&ring, NULL, 0, 4, 64), -EINVAL);
	assert_null(ring); /* *out is cleared on failure */
	assert_int_equal(kio_buf_ring_create(&ring, ctx, 0, 0, 64), -EINVAL);
	assert_int_equal(kio_buf_ring_create(&ring, ctx, 0, 3, 64), -EINVAL);
	assert_int_equal(kio_buf_ring_create(&ring, ctx, 0, 65536, 64), -EINVAL);
	assert_int_equal(kio_buf_ring_create(&ring, ctx, 0, 4, 0), -EINVAL);
	assert_int_equal(kio_buf_ring_create(&ring, ctx, 0, 4, 0x80000001u), -EINVAL);
	assert_null(ring);

	/* The smallest and a large ring. */
	kio_buf_ring *small = kt_make_ring(ctx, 0, 1, 1);
	kio_buf_ring *large = kt_make_ring(ctx, 1, 32768, 16);
	assert_non_null(kio_buf_ring_data(small, 0));
	assert_null(kio_buf_ring_data(small, 1));
	assert_non_null(kio_buf_ring_data(large, 32767));
	kio_buf_ring_destroy(small);
	kio_buf_ring_destroy(large);

	kio_buf_ring_destroy(NULL); /* a no-op */
	assert_null(kio_buf_ring_data(NULL, 0));
	assert_int_equal(kio_buf_ring_release(NULL, 0), -EINVAL);
	kt_drain_destroy(ctx);
}

static void test_bufring_data_and_release(void **state)
{
	(void)state;
	enum { COUNT = 8, SIZE = 100 };
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = kt_make_ring(ctx, 5, COUNT, SIZE);

	/* Each buffer is SIZE writable bytes of its own. */
	for (uint16_t i = 0; i < COUNT; i++) {
		unsigned char *p = kio_buf_ring_data(ring, i);
		assert_non_null(p);
		memset(p, i + 1, SIZE);
	}
	for (uint16_t i = 0; i < COUNT; i++) {
		unsigned char *p = kio_buf_ring_data(ring, i);
		for (int k = 0; k < SIZE; k++)
			assert_int_equal(p[k], i + 1);
		if (i)
			assert_true(p >= (unsigned char *)kio_buf_ring_data(ring, i - 1) + SIZE);
	}
	assert_null(kio_buf_ring_data(ring, COUNT));
	assert_null(kio_buf_ring_data(ring, 65535));

	/* Every buffer starts in the ring: none can be released yet. */
	for (uint16_t i = 0; i < COUNT; i++)
		assert_int_equal(kio_buf_ring_release(ring, i), -EALREADY);
	assert_int_equal(kio_buf_ring_release(ring, COUNT), -EINVAL);

	/* A buffer the kernel handed out can be released once. */
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	struct one o;
	memset(&o, 0, sizeof(o));
	int64_t id = kio_recv_multishot(ctx, sfd, ring, 0, one_cb, &o);
	assert_true(id >= 0);
	assert_int_equal(write(cfd, "0123456789", 10), 10);
	run_until_calls(ctx, &o, 1);
	assert_int_equal(o.res, 10);
	assert_true(o.flags & KIO_F_BUFFER);
	assert_true(o.id >= 0 && o.id < COUNT);
	assert_memory_equal(kio_buf_ring_data(ring, (uint16_t)o.id), "0123456789", 10);
	assert_int_equal(kio_buf_ring_release(ring, (uint16_t)o.id), 0);
	assert_int_equal(kio_buf_ring_release(ring, (uint16_t)o.id), -EALREADY);

	/* The released buffer goes around again: 2 * COUNT more pieces, each
	 * released at once, never run the ring dry. */
	for (int k = 0; k < 2 * COUNT; k++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "piece-%02d", k);
		assert_int_equal(write(cfd, msg, (size_t)n), n);
		run_until_calls(ctx, &o, 2 + k);
		assert_int_equal(o.finals, 0);
		assert_int_equal(o.res, n);
		assert_memory_equal(kio_buf_ring_data(ring, (uint16_t)o.id), msg, (size_t)n);
		assert_int_equal(kio_buf_ring_release(ring, (uint16_t)o.id), 0);
	}

	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &o.finals, WAIT_MS);
	assert_int_equal(o.final_res, -ECANCELED);
	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);
	kt_drain_destroy(ctx);
	kio_buf_ring_destroy(ring);
}

static void test_bufring_duplicate_group(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_ctx *other = kt_ctx_new();
	kio_buf_ring *a = kt_make_ring(ctx, 9, 4, 64);
	kio_buf_ring *b = (kio_buf_ring *)&b;

	assert_int_equal(kio_buf_ring_create(&b, ctx, 9, 4, 64), -EEXIST);
	assert_null(b);
	/* Groups are per ctx. */
	kio_buf_ring *c = kt_make_ring(other, 9, 4, 64);
	/* After a destroy the group is free again. */
	kio_buf_ring_destroy(a);
	a = kt_make_ring(ctx, 9, 8, 32);

	kio_buf_ring_destroy(a);
	kio_buf_ring_destroy(c);
	kt_drain_destroy(ctx);
	kt_drain_destroy(other);
}

/* Two rings, two connections: each receive fills its own ring's buffers. */
static void test_bufring_two_rings(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *r1 = kt_make_ring(ctx, 1, 4, 64);
	kio_buf_ring *r2 = kt_make_ring(ctx, 2, 4, 64);
	int c1, s1, c2, s2;
	kt_tcp_pair(&c1, &s1);
	kt_tcp_pair(&c2, &s2);
	struct one o1, o2;
	memset(&o1, 0, sizeof(o1));
	memset(&o2, 0, sizeof(o2));

	int64_t i1 = kio_recv_multishot(ctx, s1, r1, 0, one_cb, &o1);
	int64_t i2 = kio_recv_multishot(ctx, s2, r2, 0, one_cb, &o2);
	assert_true(i1 >= 0 && i2 >= 0);
	assert_int_equal(write(c1, "first", 5), 5);
	assert_int_equal(write(c2, "second", 6), 6);
	run_until_calls(ctx, &o1, 1);
	run_until_calls(ctx, &o2, 1);
	assert_memory_equal(kio_buf_ring_data(r1, (uint16_t)o1.id), "first", 5);
	assert_memory_equal(kio_buf_ring_data(r2, (uint16_t)o2.id), "second", 6);
	/* Each ring tracks its own buffers. */
	assert_int_equal(kio_buf_ring_release(r1, (uint16_t)o1.id), 0);
	assert_int_equal(kio_buf_ring_release(r2, (uint16_t)o2.id), 0);

	assert_int_equal(close(c1), 0);
	assert_int_equal(close(c2), 0);
	kt_run_until(ctx, &o1.finals, WAIT_MS);
	kt_run_until(ctx, &o2.finals, WAIT_MS);
	assert_int_equal(o1.final_res, 0);
	assert_int_equal(o2.final_res, 0);
	assert_int_equal(close(s1), 0);
	assert_int_equal(close(s2), 0);
	kio_buf_ring_destroy(r1);
	kio_buf_ring_destroy(r2);
	kt_drain_destroy(ctx);
}

/* Destroying a ring a receive still uses cancels the receive; the memory
 * stays valid until its final callback returned. */
struct doomed {
	kio_buf_ring *ring;
	int finals;
	int32_t final_res;
	int destroy_in_final;
};

static void doomed_cb(void *ud, int32_t res, uint32_t flags)
{
	struct doomed *d = ud;
	if (flags & KIO_F_MORE)
		return;
	d->finals++;
	d->final_res = res;
	if (d->destroy_in_final)
		kio_buf_ring_destroy(d->ring);
}

static void test_bufring_destroy_while_in_use(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = kt_make_ring(ctx, 3, 4, 64);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	struct doomed d = {ring, 0, 0, 0};
	struct kt_rec r;

	assert_true(kio_recv_multishot(ctx, sfd, ring, 0, doomed_cb, &d) >= 0);
	kt_run_for(ctx, 5);
	kio_buf_ring_destroy(ring);
	/* A destroyed ring takes no new receives... */
	assert_int_equal(kio_recv_multishot(ctx, sfd, ring, 0, kt_rec_cb, kt_rec_reset(&r)), -EINVAL);
	assert_int_equal(kio_buf_ring_release(ring, 0), -EINVAL);
	kt_run_until(ctx, &d.finals, WAIT_MS);
	assert_int_equal(d.final_res, -ECANCELED);
	assert_int_equal(r.calls, 0);

	/* ...and its group can be used again once the receive ended. */
	ring = kt_make_ring(ctx, 3, 4, 64);
	/* Destroying it from the final callback of its last receive works too. */
	d.ring = ring;
	d.finals = 0;
	d.destroy_in_final = 1;
	int64_t id = kio_recv_multishot(ctx, sfd, ring, 0, doomed_cb, &d);
	assert_true(id >= 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &d.finals, WAIT_MS);
	assert_int_equal(d.final_res, -ECANCELED);

	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);
	kt_drain_destroy(ctx);
}

static void test_bufring_outlives_ctx(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = kt_make_ring(ctx, 0, 4, 128);
	kio_buf_ring *held = kt_make_ring(ctx, 1, 4, 128);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	struct one o;
	memset(&o, 0, sizeof(o));

	/* A buffer the user still holds when the ctx goes away. */
	assert_true(kio_recv_multishot(ctx, sfd, held, 0, one_cb, &o) >= 0);
	assert_int_equal(write(cfd, "kept", 4), 4);
	run_until_calls(ctx, &o, 1);
	kio_ctx_destroy(ctx);
	assert_int_equal(o.finals, 1);
	assert_int_equal(o.final_res, -ECANCELED);

	/* Orphans: the data stays readable, release is refused, destroy frees. */
	assert_memory_equal(kio_buf_ring_data(held, (uint16_t)o.id), "kept", 4);
	assert_int_equal(kio_buf_ring_release(held, (uint16_t)o.id), -EINVAL);
	assert_non_null(kio_buf_ring_data(ring, 3));
	memset(kio_buf_ring_data(ring, 3), 0xab, 128);
	kio_buf_ring_destroy(ring);
	kio_buf_ring_destroy(held);

	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_bufring_create_limits),
		KT_TEST(test_bufring_data_and_release),
		KT_TEST(test_bufring_duplicate_group),
		KT_TEST(test_bufring_two_rings),
		KT_TEST(test_bufring_destroy_while_in_use),
		KT_TEST(test_bufring_outlives_ctx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
