/* SPDX-License-Identifier: MIT */
/*
 * Networking ops allocate nothing per op in steady state (DESIGN.md
 * section 4, rule 7): send/recv, send_zc, multishot receives through a
 * buffer ring, and kio_sendfile() with its pooled pipes and job records.
 *
 * malloc and friends are interposed by this executable (kt_malloc_count.h)
 * and counted while the switch is on. Built only without sanitizers.
 */
#include "kt_net.h"
#include "kt_malloc_count.h"

#define WAIT_MS 5000

struct res {
	int done;
	int32_t res;
};

static void res_cb(void *ud, int32_t res, uint32_t flags)
{
	struct res *r = ud;
	if (!(flags & KIO_F_MORE)) {
		r->done = 1;
		r->res = res;
	}
}

static int32_t await(kio_ctx *ctx, int64_t id, struct res *r)
{
	assert_true(id >= 0);
	kt_run_until(ctx, &r->done, WAIT_MS);
	return r->res;
}

/* Receives exactly n bytes on fd with kio_recv(). */
static void recv_n(kio_ctx *ctx, int fd, unsigned char *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		struct res r = {0, 0};
		int32_t res = await(ctx, kio_recv(ctx, fd, buf + got, n - got, 0, res_cb, &r), &r);
		assert_true(res > 0);
		got += (size_t)res;
	}
}

/* One round of every op kind: echoes, a zero-copy send, a file transfer,
 * and pieces through a buffer ring. */
struct rig {
	kio_ctx *ctx;
	kio_buf_ring *ring;
	int cfd, sfd, file;
	int zc;
	unsigned char buf[65536];
	size_t ring_got;
};

static void ring_cb(void *ud, int32_t res, uint32_t flags)
{
	struct rig *g = ud;
	if (res > 0 && (flags & KIO_F_BUFFER)) {
		g->ring_got += (size_t)res;
		kio_buf_ring_release(g->ring, (uint16_t)(flags >> 16));
	}
}

/* Zero-copy TCP sends complete once the peer acknowledged them, which on
 * loopback can wait for a delayed ACK: only every 25th round has one. */
static void round_trip(struct rig *g, int i)
{
	struct res r = {0, 0};
	assert_int_equal(await(g->ctx, kio_send(g->ctx, g->cfd, "ping", 4, 0, res_cb, &r), &r), 4);
	recv_n(g->ctx, g->sfd, g->buf, 4);

	if (g->zc && i % 25 == 0) {
		r.done = 0;
		assert_int_equal(await(g->ctx, kio_send_zc(g->ctx, g->cfd, g->buf, 1000, 0, res_cb, &r), &r), 1000);
		recv_n(g->ctx, g->sfd, g->buf, 1000);
	}

	r.done = 0;
	assert_true(kio_sendfile(g->ctx, g->cfd, g->file, 0, 20000, res_cb, &r) >= 0);
	recv_n(g->ctx, g->sfd, g->buf, 20000);
	kt_run_until(g->ctx, &r.done, WAIT_MS);
	assert_int_equal(r.res, 20000);

	/* The multishot receive on sfd's peer direction: cfd receives. */
	size_t want = g->ring_got + 3000;
	r.done = 0;
	assert_int_equal(await(g->ctx, kio_send(g->ctx, g->sfd, g->buf, 3000, 0, res_cb, &r), &r), 3000);
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (g->ring_got < want) {
		assert_true(kt_now_ns() < deadline);
		assert_true(kio_ctx_run_once(g->ctx, 100 * (int64_t)KT_MS) >= 0);
	}
}

static void test_net_alloc_steady_state(void **state)
{
	(void)state;
	static struct rig g;
	memset(&g, 0, sizeof(g));
	g.ctx = kt_ctx_new();
	kt_tcp_pair(&g.cfd, &g.sfd);
	/* Small writes each way: without NODELAY, Nagle waits for delayed ACKs. */
	int one = 1;
	assert_int_equal(setsockopt(g.cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	assert_int_equal(setsockopt(g.sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	g.zc = kio_ctx_probe(g.ctx, 47 /* IORING_OP_SEND_ZC */);
	int rc = kio_buf_ring_create(&g.ring, g.ctx, 0, 16, 1024);
	if (rc == -EOPNOTSUPP) {
		kio_ctx_destroy(g.ctx);
		close(g.cfd);
		close(g.sfd);
		skip();
	}
	assert_int_equal(rc, 0);
	/* The counter is wired: creating a ring surely allocates. */
	kio_buf_ring *probe = NULL;
	allocs = 0;
	counting = 1;
	assert_int_equal(kio_buf_ring_create(&probe, g.ctx, 1, 4, 64), 0);
	counting = 0;
	assert_true(allocs > 0);
	kio_buf_ring_destroy(probe);
	char path[] = "/tmp/kio-net-alloc-XXXXXX";
	g.file = mkostemp(path, O_CLOEXEC);
	assert_true(g.file >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pwrite(g.file, g.buf, 20000, 0), 20000);

	int64_t ms = kio_recv_multishot(g.ctx, g.cfd, g.ring, 0, ring_cb, &g);
	assert_true(ms >= 0);
	for (int i = 0; i < 50; i++)
		round_trip(&g, i);

	allocs = 0;
	counting = 1;
	for (int i = 0; i < 500; i++)
		round_trip(&g, i);
	counting = 0;
	assert_int_equal(allocs, 0);

	assert_int_equal(kio_op_cancel(g.ctx, ms), 0);
	assert_int_equal(kio_ctx_run(g.ctx), 0);
	kio_ctx_destroy(g.ctx);
	kio_buf_ring_destroy(g.ring);
	close(g.file);
	close(g.cfd);
	close(g.sfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_net_alloc_steady_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
