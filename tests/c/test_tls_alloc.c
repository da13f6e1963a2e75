/* SPDX-License-Identifier: MIT */
/*
 * TLS reads and writes allocate nothing per op in kio's code in steady
 * state: the session's BIO pair buffers and op records are made once.
 * malloc and friends are interposed (kt_malloc_count.h) and counted over
 * many echo rounds after a warm-up. OpenSSL's own allocations go through
 * CRYPTO_set_mem_functions() to a separate counter: OpenSSL 3.0 allocates
 * a small block per record it seals or opens, which kio cannot avoid;
 * that count is printed, not asserted. Built only without sanitizers.
 */
#include "kt_tls.h"
#include "kt_malloc_count.h"

#include <openssl/crypto.h>

static atomic_ulong ossl_allocs;

static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&ossl_allocs, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&ossl_allocs, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	__libc_free(p);
}

#define WAIT_MS 10000

struct rig {
	kio_ctx *ctx;
	struct kt_tls_pair p;
	unsigned char out[20000], mid[20000], back[20000];
};

/* Reads exactly n bytes from a session, one op after another. */
static void read_n(kio_ctx *ctx, kio_tls *t, unsigned char *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		struct kt_rec r;
		kt_rec_reset(&r);
		int64_t id = kio_tls_read(t, buf + got, n - got, kt_rec_cb, &r);
		assert_true(id >= 0);
		kt_run_until(ctx, &r.done, WAIT_MS);
		assert_true(r.res > 0);
		got += (size_t)r.res;
	}
}

/* The client sends a message of some size, the server echoes it back. */
static void round_trip(struct rig *g, int i)
{
	size_t n = 1 + (size_t)(i * 977) % sizeof(g->out);
	struct kt_rec w, sw;
	kt_rec_reset(&w);
	kt_rec_reset(&sw);
	assert_true(kio_tls_write(g->p.client, g->out, n, kt_rec_cb, &w) >= 0);
	read_n(g->ctx, g->p.server, g->mid, n);
	assert_true(kio_tls_write(g->p.server, g->mid, n, kt_rec_cb, &sw) >= 0);
	read_n(g->ctx, g->p.client, g->back, n);
	kt_run_until2(g->ctx, &w, &sw, WAIT_MS);
	assert_int_equal(w.res, (int32_t)n);
	assert_int_equal(sw.res, (int32_t)n);
	if (memcmp(g->back, g->out, n) != 0)
		fail_msg("round %d: echo differs", i);
}

static void test_steady_state(void **state)
{
	(void)state;
	static struct rig g;
	g.ctx = kt_ctx_new();
	kio_tls_config *ccfg = kt_client_config("localhost");
	kio_tls_config *scfg = kt_server_config(&kt_certs()->server);
	/* The counters see kio's and OpenSSL's allocations at all. */
	kio_tls_config *probe = NULL;
	allocs = 0;
	ossl_allocs = 0;
	counting = 1;
	assert_int_equal(kio_tls_config_create(&probe), 0);
	counting = 0;
	assert_true(allocs > 0);
	assert_true(ossl_allocs > 0);
	kio_tls_config_destroy(probe);

	kt_tls_pair_open(&g.p, g.ctx, ccfg, scfg);
	int32_t c, s;
	kt_tls_handshake_both(g.ctx, &g.p, &c, &s);
	assert_int_equal(c, 0);
	assert_int_equal(s, 0);
	kt_fill(g.out, sizeof(g.out), 0, 11);
	for (int i = 0; i < 50; i++)
		round_trip(&g, i);

	allocs = 0;
	ossl_allocs = 0;
	counting = 1;
	for (int i = 0; i < 500; i++)
		round_trip(&g, i);
	counting = 0;
	fprintf(stderr, "500 TLS echo rounds: %lu allocations by kio, %lu inside OpenSSL\n",
		(unsigned long)allocs, (unsigned long)ossl_allocs);
	assert_int_equal(allocs, 0);

	kt_tls_pair_close(&g.p);
	kio_tls_config_destroy(ccfg);
	kio_tls_config_destroy(scfg);
	kt_drain_destroy(g.ctx);
}

int main(void)
{
	/* Before OpenSSL allocates anything. */
	if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
		fprintf(stderr, "CRYPTO_set_mem_functions refused\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		KT_TEST(test_steady_state),
	};
	return cmocka_run_group_tests(tests, kt_tls_group_setup, NULL);
}
