/* SPDX-License-Identifier: MIT */
/*
 * Receives that fill several buffers in one completion (recv bundles) and
 * rings whose buffers are filled in parts (KIO_BUF_RING_INCREMENTAL). Both
 * keep the contract of kio_recv_multishot(): one callback per buffer or
 * part, in stream order, and a ring run dry ends the receive with -ENOBUFS. The same assertions hold where the feature is
 * missing or switched off (KIO_NO_RECV_BUNDLE, KIO_NO_BUF_RING_INC, the
 * epoll backend); meson runs this file both ways.
 */
#include "kt_net.h"

#include <sys/utsname.h>

#define WAIT_MS 5000

/* The stream received so far, checked against kt_pattern_byte(). */
struct stream {
	kio_ctx *ctx;
	kio_buf_ring *ring;
	uint32_t size;  /* bytes per buffer */
	size_t got;     /* bytes received and checked */
	int buffers;    /* callbacks with KIO_F_BUFFER */
	int parts_more; /* of those, with KIO_F_BUF_MORE */
	int finals;
	int32_t final_res;
	int release; /* release each buffer in its callback */
	int last_id;
	int64_t last_off;
	uint32_t last_flags;
};

static void stream_cb(void *ud, int32_t res, uint32_t flags)
{
	struct stream *s = ud;
	if (flags & KIO_F_BUFFER) {
		uint16_t id = (uint16_t)(flags >> 16);
		int64_t off = kio_buf_ring_offset(s->ring, id);
		assert_true(res > 0);
		assert_true(off >= 0);
		assert_true((uint64_t)off + (uint64_t)res <= s->size);
		const unsigned char *p = kio_buf_ring_data(s->ring, id);
		assert_non_null(p);
		assert_int_equal(kt_check(p + off, (size_t)res, s->got, 7), 1);
		s->got += (size_t)res;
		s->buffers++;
		s->last_id = id;
		s->last_off = off;
		s->last_flags = flags;
		if (flags & KIO_F_BUF_MORE) {
			s->parts_more++;
			/* The kernel still fills the rest: not the caller's. */
			assert_int_equal(kio_buf_ring_release(s->ring, id), -EBUSY);
		} else if (s->release) {
			assert_int_equal(kio_buf_ring_release(s->ring, id), 0);
			assert_int_equal(kio_buf_ring_release(s->ring, id), -EALREADY);
		}
	}
	if (!(flags & KIO_F_MORE)) {
		s->finals++;
		s->final_res = res;
	}
}

static void start_recv(struct stream *s, int fd)
{
	assert_true(kio_recv_multishot(s->ctx, fd, s->ring, 0, stream_cb, s) > 0);
}

/* Runs until want bytes arrived, starting the receive again after each end. */
static void run_until_bytes(struct stream *s, int fd, size_t want)
{
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (s->got < want) {
		assert_true(kt_now_ns() < deadline);
		int finals = s->finals;
		assert_true(kio_ctx_run_once(s->ctx, 100 * (int64_t)KT_MS) >= 0);
		if (s->finals != finals) {
			assert_true(s->final_res == -ENOBUFS || s->final_res > 0);
			start_recv(s, fd);
		}
	}
}

/* A ring created KIO_BUF_RING_BUNDLE; skips where buffer rings are missing. */
static kio_buf_ring *bundle_ring(kio_ctx *ctx, uint16_t group, uint32_t count, uint32_t size)
{
	kio_buf_ring *ring = NULL;
	int rc = kio_buf_ring_create_flags(&ring, ctx, group, count, size, KIO_BUF_RING_BUNDLE);
	if (rc == -EOPNOTSUPP) {
		kio_ctx_destroy(ctx);
		skip();
	}
	assert_int_equal(rc, 0);
	return ring;
}

static void write_pattern(int fd, size_t start, size_t n)
{
	unsigned char buf[4096];
	while (n > 0) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);
		kt_fill(buf, k, start, 7);
		assert_int_equal(write(fd, buf, k), (ssize_t)k);
		start += k;
		n -= k;
	}
}

static void end_stream(struct stream *s, int cfd, int sfd)
{
	assert_int_equal(close(cfd), 0);
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (s->finals == 0 || s->final_res != 0) {
		assert_true(kt_now_ns() < deadline);
		int finals = s->finals;
		assert_true(kio_ctx_run_once(s->ctx, 100 * (int64_t)KT_MS) >= 0);
		if (s->finals != finals && s->final_res != 0)
			start_recv(s, sfd);
	}
	assert_int_equal(close(sfd), 0);
}

/* Data waiting before the receive starts: a bundle could take it all in
 * one completion; the caller still sees one callback per buffer, each
 * full but the last, and holds every buffer until it releases it. */
static void test_bundle_one_callback_per_buffer(void **state)
{
	(void)state;
	enum {
		COUNT = 8,
		SIZE = 16,
		BYTES = 100
	};
	kio_ctx *ctx = kt_ctx_new();
	struct stream s = {.ctx = ctx, .size = SIZE};
	s.ring = bundle_ring(ctx, 3, COUNT, SIZE);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	write_pattern(cfd, 0, BYTES);
	start_recv(&s, sfd);
	run_until_bytes(&s, sfd, BYTES);
	assert_int_equal(s.got, BYTES);
	assert_int_equal(s.buffers, (BYTES + SIZE - 1) / SIZE);
	assert_int_equal(s.parts_more, 0);
	/* Every buffer is held: each releases once, then is in the ring. */
	for (uint16_t id = 0; id < COUNT; id++) {
		int rc = kio_buf_ring_release(s.ring, id);
		assert_true(rc == 0 || (rc == -EALREADY && id >= s.buffers));
	}
	for (uint16_t id = 0; id < COUNT; id++)
		assert_int_equal(kio_buf_ring_release(s.ring, id), -EALREADY);
	end_stream(&s, cfd, sfd);
	kio_buf_ring_destroy(s.ring);
	kt_drain_destroy(ctx);
}

/* A small ring cycled many times, each buffer released in its callback:
 * the buffers of a bundle are found in ring order after wrap-around, and
 * a ring run dry ends the receive with -ENOBUFS, never with lost bytes. */
static void test_bundle_ring_wraps(void **state)
{
	(void)state;
	enum {
		COUNT = 4,
		SIZE = 16,
		BYTES = 20000
	};
	kio_ctx *ctx = kt_ctx_new();
	struct stream s = {.ctx = ctx, .size = SIZE, .release = 1};
	s.ring = bundle_ring(ctx, 4, COUNT, SIZE);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	start_recv(&s, sfd);
	for (size_t sent = 0; sent < BYTES; sent += 1000) {
		write_pattern(cfd, sent, 1000);
		run_until_bytes(&s, sfd, sent + 1000);
	}
	assert_int_equal(s.got, BYTES);
	assert_true(s.buffers >= BYTES / SIZE);
	end_stream(&s, cfd, sfd);
	kio_buf_ring_destroy(s.ring);
	kt_drain_destroy(ctx);
}

/* A bundle that empties the ring: the data comes with KIO_F_MORE, and the
 * receive ends with -ENOBUFS and no data, as without bundles. */
static void test_bundle_enobufs(void **state)
{
	(void)state;
	enum {
		COUNT = 4,
		SIZE = 16
	};
	kio_ctx *ctx = kt_ctx_new();
	struct stream s = {.ctx = ctx, .size = SIZE};
	s.ring = bundle_ring(ctx, 9, COUNT, SIZE);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	write_pattern(cfd, 0, 100);
	start_recv(&s, sfd);
	kt_run_until(ctx, (volatile int *)&s.finals, WAIT_MS);
	assert_int_equal(s.final_res, -ENOBUFS);
	assert_false(s.last_flags & KIO_F_BUF_MORE);
	assert_int_equal(s.got, COUNT * SIZE);
	assert_int_equal(s.buffers, COUNT);
	for (uint16_t id = 0; id < COUNT; id++)
		assert_int_equal(kio_buf_ring_release(s.ring, id), 0);
	s.release = 1;
	start_recv(&s, sfd);
	run_until_bytes(&s, sfd, 100);
	assert_int_equal(s.got, 100);
	end_stream(&s, cfd, sfd);
	kio_buf_ring_destroy(s.ring);
	kt_drain_destroy(ctx);
}

/* Cancel asked while a bundle may be waiting in the CQ: every byte that
 * was delivered is whole and in order, and the op ends once. */
static void test_bundle_cancel(void **state)
{
	(void)state;
	enum {
		COUNT = 8,
		SIZE = 16
	};
	kio_ctx *ctx = kt_ctx_new();
	struct stream s = {.ctx = ctx, .size = SIZE, .release = 1};
	s.ring = bundle_ring(ctx, 5, COUNT, SIZE);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	write_pattern(cfd, 0, 100);
	int64_t id = kio_recv_multishot(ctx, sfd, s.ring, 0, stream_cb, &s);
	assert_true(id > 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	int rc = kio_op_cancel(ctx, id);
	assert_true(rc == 0 || rc == -ENOENT || rc == -EALREADY);
	kt_run_until(ctx, (volatile int *)&s.finals, WAIT_MS);
	assert_int_equal(s.finals, 1);
	assert_true(s.final_res == -ECANCELED || s.final_res > 0);
	assert_true(s.got <= 100);
	kio_buf_ring_destroy(s.ring);
	kt_drain_destroy(ctx);
	assert_int_equal(close(cfd), 0);
	assert_int_equal(close(sfd), 0);
}

/* Whether this run should see buffers filled in parts. */
static int expect_parts(kio_ctx *ctx)
{
	const char *off = getenv("KIO_NO_BUF_RING_INC");
	if ((off && *off && strcmp(off, "0") != 0) || kio_ctx_backend(ctx) != KIO_BACKEND_IO_URING)
		return 0;
	struct utsname u;
	int major = 0, minor = 0;
	assert_int_equal(uname(&u), 0);
	if (sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return 0;
	return major > 6 || (major == 6 && minor >= 12);
}

/* An incremental ring: two small receives share one buffer, at offsets 0
 * and 10; the buffer is the caller's only once the part that fills it came. */
static void test_incremental_parts(void **state)
{
	(void)state;
	enum {
		COUNT = 2,
		SIZE = 64
	};
	kio_ctx *ctx = kt_ctx_new();
	struct stream s = {.ctx = ctx, .size = SIZE};
	int rc = kio_buf_ring_create_flags(&s.ring, ctx, 6, COUNT, SIZE, KIO_BUF_RING_INCREMENTAL);
	if (rc == -EOPNOTSUPP) {
		kio_ctx_destroy(ctx);
		skip();
	}
	assert_int_equal(rc, 0);
	int parts = expect_parts(ctx);
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	start_recv(&s, sfd);

	write_pattern(cfd, 0, 10);
	run_until_bytes(&s, sfd, 10);
	int first = s.last_id;
	assert_int_equal(s.last_off, 0);
	if (parts)
		assert_true(s.last_flags & KIO_F_BUF_MORE);
	if (!(s.last_flags & KIO_F_BUF_MORE))
		assert_int_equal(kio_buf_ring_release(s.ring, (uint16_t)first), 0);

	/* The rest of the buffer: the part that fills it hands it over. */
	write_pattern(cfd, 10, SIZE - 10);
	run_until_bytes(&s, sfd, SIZE);
	if (parts) {
		assert_int_equal(s.buffers, 2);
		assert_int_equal(s.last_id, first);
		assert_int_equal(s.last_off, 10);
		assert_false(s.last_flags & KIO_F_BUF_MORE);
	}
	assert_false(s.last_flags & KIO_F_BUF_MORE);
	assert_int_equal(kio_buf_ring_release(s.ring, (uint16_t)s.last_id), 0);
	assert_int_equal(kio_buf_ring_release(s.ring, (uint16_t)s.last_id), -EALREADY);

	/* Many parts through a ring that cycles, released as they complete. */
	s.release = 1;
	for (size_t sent = SIZE; sent < 5000; sent += 100) {
		write_pattern(cfd, sent, 100);
		run_until_bytes(&s, sfd, sent + 100);
	}
	if (parts)
		assert_true(s.parts_more > 0);
	end_stream(&s, cfd, sfd);
	kio_buf_ring_destroy(s.ring);
	kt_drain_destroy(ctx);
}

/* Destroy with a bundle and a part possibly waiting in the CQ: each op
 * ends once, every byte delivered is whole and in order, and the rings
 * left behind are orphans whose data stays readable. */
static void test_destroy_in_flight(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct stream a = {.ctx = ctx, .size = 16};
	struct stream b = {.ctx = ctx, .size = 64};
	a.ring = bundle_ring(ctx, 7, 8, 16);
	assert_int_equal(
		kio_buf_ring_create_flags(&b.ring, ctx, 8, 4, 64, KIO_BUF_RING_INCREMENTAL), 0);
	int ac, as, bc, bs;
	kt_tcp_pair(&ac, &as);
	kt_tcp_pair(&bc, &bs);
	write_pattern(ac, 0, 100);
	write_pattern(bc, 0, 10);
	start_recv(&a, as);
	start_recv(&b, bs);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(a.finals, 1);
	assert_int_equal(b.finals, 1);
	assert_true(a.got <= 100);
	assert_true(b.got <= 10);
	/* Orphans: readable, not releasable. */
	assert_int_equal(kio_buf_ring_offset(b.ring, 0) >= 0, 1);
	assert_int_equal(kio_buf_ring_release(a.ring, 0), -EINVAL);
	assert_int_equal(kio_buf_ring_release(b.ring, 0), -EINVAL);
	kio_buf_ring_destroy(a.ring);
	kio_buf_ring_destroy(b.ring);
	assert_int_equal(close(ac), 0);
	assert_int_equal(close(as), 0);
	assert_int_equal(close(bc), 0);
	assert_int_equal(close(bs), 0);
}

static void test_parts_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_buf_ring *ring = (kio_buf_ring *)&ring;
	assert_int_equal(kio_buf_ring_create_flags(&ring, ctx, 0, 4, 64, 4), -EINVAL);
	assert_null(ring);
	assert_int_equal(kio_buf_ring_create_flags(NULL, ctx, 0, 4, 64, 0), -EINVAL);
	assert_int_equal(kio_buf_ring_create_flags(&ring, ctx, 0, 3, 64, KIO_BUF_RING_INCREMENTAL),
			 -EINVAL);
	assert_int_equal(kio_buf_ring_offset(NULL, 0), -EINVAL);

	ring = kt_make_ring(ctx, 0, 4, 64);
	assert_int_equal(kio_buf_ring_offset(ring, 0), 0);
	assert_int_equal(kio_buf_ring_offset(ring, 4), -EINVAL);
	kio_buf_ring *inc = NULL;
	assert_int_equal(kio_buf_ring_create_flags(&inc, ctx, 0, 4, 64, KIO_BUF_RING_INCREMENTAL),
			 -EEXIST);
	assert_int_equal(kio_buf_ring_create_flags(&inc, ctx, 1, 4, 64, KIO_BUF_RING_INCREMENTAL),
			 0);
	assert_int_equal(kio_buf_ring_offset(inc, 3), 0);
	assert_int_equal(kio_buf_ring_release(inc, 3), -EALREADY);
	kio_buf_ring_destroy(inc);
	kio_buf_ring_destroy(ring);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_bundle_one_callback_per_buffer),
		KT_TEST(test_bundle_ring_wraps),
		KT_TEST(test_bundle_enobufs),
		KT_TEST(test_bundle_cancel),
		KT_TEST(test_incremental_parts),
		KT_TEST(test_destroy_in_flight),
		KT_TEST(test_parts_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
