/* SPDX-License-Identifier: MIT */
/*
 * What a TLS client accepts: the test CA's server certificate for the
 * right name (DNS or IP literal), and not a self-signed, a wrong-name or
 * an expired one (-EKEYREJECTED with a reason). Turning verification off
 * is explicit. Servers: SNI picks the certificate and is reported; ALPN
 * agrees on the server's preferred protocol or fails; a required client
 * certificate is checked. Configs load from files as well as memory.
 */
#include "kt_tls.h"

#define WAIT_MS 10000

static void handshake(kio_tls_config *ccfg, kio_tls_config *scfg, int32_t *cres, int32_t *sres,
		      struct kt_tls_pair *keep, kio_ctx *ctx)
{
	struct kt_tls_pair p;
	kt_tls_pair_open(&p, ctx, ccfg, scfg);
	kt_tls_handshake_both(ctx, &p, cres, sres);
	if (keep)
		*keep = p;
	else
		kt_tls_pair_close(&p);
}

/* The client refuses pem's certificate for name: -EKEYREJECTED and why. */
static void expect_rejected(const struct kt_pem *pem, const char *name, const char *why)
{
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *c = kt_client_config(name);
	kio_tls_config *s = kt_server_config(pem);
	struct kt_tls_pair p;
	int32_t cres, sres;
	handshake(c, s, &cres, &sres, &p, ctx);
	assert_int_equal(cres, -EKEYREJECTED);
	assert_true(sres < 0); /* the client's alert reached the server */
	const char *err = kio_tls_last_error(p.client);
	assert_true(strlen(err) > 0);
	if (why && !strstr(err, why))
		fail_msg("reason \"%s\" does not mention \"%s\"", err, why);
	assert_true(strlen(kio_tls_last_error(p.server)) > 0);
	/* Nothing but destroy is left. */
	unsigned char b[4];
	struct kt_rec r;
	assert_int_equal(kio_tls_read(p.client, b, sizeof(b), kt_rec_cb, kt_rec_reset(&r)), -EPIPE);
	kt_tls_pair_close(&p);
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

static void test_rejects_self_signed(void **state)
{
	(void)state;
	expect_rejected(&kt_certs()->self, "localhost", "self-signed");
}

static void test_rejects_wrong_name(void **state)
{
	(void)state;
	expect_rejected(&kt_certs()->server, "example.org", "mismatch");
	expect_rejected(&kt_certs()->server, "127.0.0.2", "mismatch");
}

static void test_rejects_expired(void **state)
{
	(void)state;
	expect_rejected(&kt_certs()->expired, "localhost", "expired");
}

static void test_rejects_by_default_without_ca(void **state)
{
	(void)state;
	/* The system's CAs do not know the test CA. */
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *c = NULL;
	assert_int_equal(kio_tls_config_create(&c), 0);
	assert_int_equal(kio_tls_config_set_server_name(c, "localhost"), 0);
	kio_tls_config *s = kt_server_config(&kt_certs()->server);
	int32_t cres, sres;
	handshake(c, s, &cres, &sres, NULL, ctx);
	assert_int_equal(cres, -EKEYREJECTED);
	assert_true(sres < 0);
	/* Explicitly off: the self-signed certificate passes. */
	assert_int_equal(kio_tls_config_set_verify(c, KIO_TLS_VERIFY_NONE), 0);
	handshake(c, s, &cres, &sres, NULL, ctx);
	assert_int_equal(cres, 0);
	assert_int_equal(sres, 0);
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

static void test_system_cas_are_read_at_the_first_verifying_handshake(void **state)
{
	(void)state;
	/* OpenSSL reads the system's CA bundle from SSL_CERT_FILE when set.
	 * Set only after kio_tls_config_create(), it still counts: the
	 * bundle is read by the first handshake that verifies, so the test
	 * CA, standing in for the system's, makes the server trusted. */
	const char *old = getenv("SSL_CERT_FILE");
	char *saved = old ? strdup(old) : NULL;
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *c = NULL;
	assert_int_equal(kio_tls_config_create(&c), 0);
	assert_int_equal(kio_tls_config_set_server_name(c, "localhost"), 0);
	assert_int_equal(setenv("SSL_CERT_FILE", kt_certs()->ca.cert_path, 1), 0);
	kio_tls_config *s = kt_server_config(&kt_certs()->server);
	int32_t cres, sres;
	handshake(c, s, &cres, &sres, NULL, ctx);
	assert_int_equal(cres, 0);
	assert_int_equal(sres, 0);
	/* Read once per config: changing the variable now changes nothing. */
	assert_int_equal(setenv("SSL_CERT_FILE", "/nonexistent/ca.pem", 1), 0);
	handshake(c, s, &cres, &sres, NULL, ctx);
	assert_int_equal(cres, 0);
	/* Back to the system's store (both NULL): read again, lazily. */
	assert_int_equal(kio_tls_config_set_ca_file(c, NULL, NULL), 0);
	handshake(c, s, &cres, &sres, NULL, ctx);
	assert_int_equal(cres, -EKEYREJECTED);
	assert_true(sres < 0);
	if (saved) {
		setenv("SSL_CERT_FILE", saved, 1);
		free(saved);
	} else {
		unsetenv("SSL_CERT_FILE");
	}
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

static void test_ip_literal_and_session_name(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *c = kt_client_config(NULL);
	kio_tls_config *s = kt_server_config(&kt_certs()->server);
	struct kt_tls_pair p;
	int32_t cres, sres;
	/* The session's name: an IP literal, checked against the IP SAN (no SNI). */
	kt_tls_pair_open(&p, ctx, c, s);
	assert_int_equal(kio_tls_set_server_name(p.client, "127.0.0.1"), 0);
	assert_int_equal(kio_tls_set_server_name(p.server, "x"), -EINVAL); /* clients only */
	kt_tls_handshake_both(ctx, &p, &cres, &sres);
	assert_int_equal(cres, 0);
	assert_int_equal(sres, 0);
	assert_null(kio_tls_server_name(p.server));
	assert_int_equal(kio_tls_set_server_name(p.client, "localhost"), -EISCONN);
	kt_tls_pair_close(&p);
	/* The session's name overrides the config's. */
	assert_int_equal(kio_tls_config_set_server_name(c, "example.org"), 0);
	kt_tls_pair_open(&p, ctx, c, s);
	assert_int_equal(kio_tls_set_server_name(p.client, "localhost"), 0);
	kt_tls_handshake_both(ctx, &p, &cres, &sres);
	assert_int_equal(cres, 0);
	assert_string_equal(kio_tls_server_name(p.server), "localhost");
	kt_tls_pair_close(&p);
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

static void test_sni(void **state)
{
	(void)state;
	const struct kt_certs *certs = kt_certs();
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *s = NULL;
	assert_int_equal(kio_tls_config_create(&s), 0);
	assert_int_equal(kio_tls_config_set_cert_file(s, certs->server.cert_path,
						      certs->server.key_path),
			 0);
	assert_int_equal(kio_tls_config_add_sni_cert_file(s, KT_SNI_NAME, certs->sni.cert_path,
							  certs->sni.key_path),
			 0);
	/* Asking for the SNI name gets its certificate: the client verifies it for that name. */
	kio_tls_config *c = kt_client_config(KT_SNI_NAME);
	struct kt_tls_pair p;
	int32_t cres, sres;
	handshake(c, s, &cres, &sres, &p, ctx);
	assert_int_equal(cres, 0);
	assert_int_equal(sres, 0);
	assert_string_equal(kio_tls_server_name(p.server), KT_SNI_NAME);
	kt_tls_pair_close(&p);
	kio_tls_config_destroy(c);
	/* Any other name gets the default certificate (valid for localhost only). */
	c = kt_client_config("localhost");
	handshake(c, s, &cres, &sres, &p, ctx);
	assert_int_equal(cres, 0);
	assert_string_equal(kio_tls_server_name(p.server), "localhost");
	kt_tls_pair_close(&p);
	kio_tls_config_destroy(c);
	/* A server without the SNI certificate presents the default one:
	 * wrong for sni.test. */
	kio_tls_config *plain = kt_server_config(&certs->server);
	c = kt_client_config(KT_SNI_NAME);
	handshake(c, plain, &cres, &sres, NULL, ctx);
	assert_int_equal(cres, -EKEYREJECTED);
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(plain);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

static void test_alpn(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *c = kt_client_config("localhost");
	kio_tls_config *s = kt_server_config(&kt_certs()->server);
	const char *client_protos[] = {"http/1.1", "h2"};
	const char *server_protos[] = {"h2", "http/1.1"};
	assert_int_equal(kio_tls_config_set_alpn(c, client_protos, 2), 0);
	assert_int_equal(kio_tls_config_set_alpn(s, server_protos, 2), 0);
	struct kt_tls_pair p;
	int32_t cres, sres;
	handshake(c, s, &cres, &sres, &p, ctx);
	assert_int_equal(cres, 0);
	assert_int_equal(sres, 0);
	/* The server's preference wins. */
	assert_string_equal(kio_tls_alpn(p.client), "h2");
	assert_string_equal(kio_tls_alpn(p.server), "h2");
	kt_tls_pair_close(&p);
	/* No protocol in common: both sides fail. */
	const char *other[] = {"spdy/3"};
	assert_int_equal(kio_tls_config_set_alpn(c, other, 1), 0);
	handshake(c, s, &cres, &sres, &p, ctx);
	assert_int_equal(cres, -EPROTO);
	assert_int_equal(sres, -EPROTO);
	assert_true(strlen(kio_tls_last_error(p.client)) > 0);
	kt_tls_pair_close(&p);
	/* A client offering none: no ALPN, the handshake works. */
	assert_int_equal(kio_tls_config_set_alpn(c, NULL, 0), 0);
	handshake(c, s, &cres, &sres, &p, ctx);
	assert_int_equal(cres, 0);
	assert_null(kio_tls_alpn(p.client));
	assert_null(kio_tls_alpn(p.server));
	kt_tls_pair_close(&p);
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

static void test_client_certificate(void **state)
{
	(void)state;
	const struct kt_certs *certs = kt_certs();
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *s = kt_server_config(&certs->server);
	assert_int_equal(kio_tls_config_set_ca_file(s, certs->ca.cert_path, NULL), 0);
	assert_int_equal(kio_tls_config_set_verify(s, KIO_TLS_VERIFY_REQUIRE_PEER), 0);
	/* A client presenting a certificate of the CA. */
	kio_tls_config *c = NULL;
	assert_int_equal(kio_tls_config_create(&c), 0);
	assert_int_equal(kio_tls_config_set_ca_file(c, certs->ca.cert_path, NULL), 0);
	assert_int_equal(kio_tls_config_set_server_name(c, "localhost"), 0);
	assert_int_equal(kio_tls_config_set_cert_file(c, certs->server.cert_path,
						      certs->server.key_path),
			 0);
	int32_t cres, sres;
	handshake(c, s, &cres, &sres, NULL, ctx);
	assert_int_equal(cres, 0);
	assert_int_equal(sres, 0);
	kio_tls_config_destroy(c);
	/* Without one: the server refuses. */
	c = kt_client_config("localhost");
	struct kt_tls_pair p;
	handshake(c, s, &cres, &sres, &p, ctx);
	assert_true(sres < 0);
	assert_true(strlen(kio_tls_last_error(p.server)) > 0);
	if (cres == 0) {
		/* TLS 1.3: the client learns it from its first read. */
		unsigned char b[8];
		struct kt_rec r;
		assert_true(kt_await_op(ctx,
					kio_tls_read(p.client, b, sizeof(b), kt_rec_cb,
						     kt_rec_reset(&r)),
					&r) < 0);
	}
	kt_tls_pair_close(&p);
	kio_tls_config_destroy(c);
	/* A self-signed client certificate: rejected by the server. */
	c = kt_client_config("localhost");
	assert_int_equal(kio_tls_config_set_cert_mem(c, certs->self.cert, certs->self.cert_len,
						     certs->self.key, certs->self.key_len),
			 0);
	handshake(c, s, &cres, &sres, NULL, ctx);
	assert_int_equal(sres, -EKEYREJECTED);
	kio_tls_config_destroy(c);
	kio_tls_config_destroy(s);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_rejects_self_signed),
		KT_TEST(test_rejects_wrong_name),
		KT_TEST(test_rejects_expired),
		KT_TEST(test_rejects_by_default_without_ca),
		KT_TEST(test_system_cas_are_read_at_the_first_verifying_handshake),
		KT_TEST(test_ip_literal_and_session_name),
		KT_TEST(test_sni),
		KT_TEST(test_alpn),
		KT_TEST(test_client_certificate),
	};
	return cmocka_run_group_tests(tests, kt_tls_group_setup, NULL);
}
