/* SPDX-License-Identifier: MIT */
/*
 * Kernel TLS: with the kernel's "tls" module, sessions over TCP are handed
 * to the kernel after the handshake for what OpenSSL can install there;
 * everything works the same whichever directions it took, kio_send() on
 * the socket sends records when KIO_TLS_KTLS_TX is set, and a config with
 * kernel TLS off keeps the session in user space. Skipped (77) when the
 * kernel has no "tls" module (setsockopt(TCP_ULP, "tls") gives ENOENT).
 */
#include "kt_tls.h"

#define WAIT_MS 10000

static int group_setup(void **state)
{
	if (!kt_kernel_has_ktls()) {
		fprintf(stderr, "kernel without the tls module: skipping\n");
		exit(KT_SKIP);
	}
	return kt_tls_group_setup(state);
}

static void send_recv(kio_ctx *ctx, kio_tls *from, kio_tls *to, const char *msg)
{
	size_t n = strlen(msg);
	char buf[256];
	assert_int_equal(kt_tls_write_wait(ctx, from, msg, n), (int32_t)n);
	size_t got = 0;
	while (got < n)
		got += kt_tls_read_some(ctx, to, buf + got, sizeof(buf) - got);
	assert_int_equal(got, n);
	assert_memory_equal(buf, msg, n);
}

static void test_handoff(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *c = kt_client_config("localhost");
	kio_tls_config *s = kt_server_config(&kt_certs()->server);
	struct kt_tls_pair p;
	int32_t cres, sres;
	kt_tls_pair_open(&p, ctx, c, s);
	int cfl = fcntl(p.cfd, F_GETFL);
	kt_tls_handshake_both(ctx, &p, &cres, &sres);
	assert_int_equal(cres, 0);
	assert_int_equal(sres, 0);
	/* The fd's flags are the caller's again. */
	assert_int_equal(fcntl(p.cfd, F_GETFL), cfl);
	unsigned ck = kio_tls_ktls(p.client), sk = kio_tls_ktls(p.server);
	fprintf(stderr, "kernel TLS taken: client %s%s, server %s%s\n",
		ck & KIO_TLS_KTLS_TX ? "tx " : "", ck & KIO_TLS_KTLS_RX ? "rx" : "",
		sk & KIO_TLS_KTLS_TX ? "tx " : "", sk & KIO_TLS_KTLS_RX ? "rx" : "");
	assert_int_equal(ck & ~(KIO_TLS_KTLS_TX | KIO_TLS_KTLS_RX), 0);
	/* Both ways, several times (session tickets arrive in between). */
	for (int i = 0; i < 3; i++) {
		send_recv(ctx, p.client, p.server, "from the client\n");
		send_recv(ctx, p.server, p.client, "from the server\n");
	}
	if (ck & KIO_TLS_KTLS_TX) {
		/* Plain kio_send() on the socket: the kernel makes the record. */
		struct kt_rec w;
		char buf[64];
		assert_int_equal(
			kt_await_op(ctx,
				    kio_send(ctx, p.cfd, "raw", 3, 0, kt_rec_cb, kt_rec_reset(&w)),
				    &w),
			3);
		assert_int_equal(kt_tls_read_wait(ctx, p.server, buf, sizeof(buf)), 3);
		assert_memory_equal(buf, "raw", 3);
	}
	/* close_notify, whichever side encrypts it. */
	kt_tls_close_notify(ctx, p.client, p.server);
	kt_tls_pair_close(&p);

	/* Kernel TLS off: user space. */
	assert_int_equal(kio_tls_config_set_ktls(c, 0), 0);
	assert_int_equal(kio_tls_config_set_ktls(s, 0), 0);
	kt_tls_pair_connect(&p, ctx, c, s);
	assert_int_equal(kio_tls_ktls(p.client), 0);
	assert_int_equal(kio_tls_ktls(p.server), 0);
	send_recv(ctx, p.client, p.server, "user space\n");
	kt_tls_pair_close(&p);
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

/* A peer that closes without close_notify: a truncation on both paths. */
static void test_truncation(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *c = kt_client_config("localhost");
	kio_tls_config *s = kt_server_config(&kt_certs()->server);
	struct kt_tls_pair p;
	kt_tls_pair_connect(&p, ctx, c, s);
	send_recv(ctx, p.client, p.server, "x");
	assert_int_equal(shutdown(p.cfd, SHUT_WR), 0);
	char buf[16];
	assert_int_equal(kt_tls_read_wait(ctx, p.server, buf, sizeof(buf)), -ECONNABORTED);
	kt_tls_pair_close(&p);
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_handoff),
		KT_TEST(test_truncation),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
