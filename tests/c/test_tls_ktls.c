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

#include <arpa/inet.h>
#include <pthread.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define WAIT_MS 10000

static int group_setup(void **state)
{
	if (!kt_kernel_has_ktls()) {
		/* In the kernel matrix (scripts/vm-test.sh) the module is loaded:
		 * there a skip would hide that these tests never ran. */
		const char *req = getenv("KIO_TEST_REQUIRE_KTLS");
		if (req && req[0] == '1') {
			fprintf(stderr, "KIO_TEST_REQUIRE_KTLS=1 but the kernel has no tls module\n");
			exit(1);
		}
		fprintf(stderr, "kernel without the tls module: skipping\n");
		exit(KT_SKIP);
	}
	return kt_tls_group_setup(state);
}

/*
 * What this OpenSSL and this kernel hand over when OpenSSL is used the
 * way its manual says (SSL_OP_ENABLE_KTLS, blocking TCP sockets, the
 * default protocol and ciphers, as kio's sessions negotiate): the
 * directions kio must get too, no fewer. A server thread and a client
 * over loopback; returns KIO_TLS_KTLS_* bits for each side.
 */
struct ref_side {
	SSL_CTX *ctx;
	int fd;
	unsigned bits;
	int ok;
	int peer_is_kio; /* the server talks to a kio client: "hello" in, "world!" out */
};

static unsigned ktls_bits_of(SSL *ssl)
{
	unsigned bits = 0;
	if (BIO_get_ktls_send(SSL_get_wbio(ssl)))
		bits |= KIO_TLS_KTLS_TX;
	if (BIO_get_ktls_recv(SSL_get_rbio(ssl)))
		bits |= KIO_TLS_KTLS_RX;
	return bits;
}

static void *ref_server(void *arg)
{
	struct ref_side *s = arg;
	int fd = accept(s->fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	SSL *ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		s->bits = ktls_bits_of(ssl);
		char b[8];
		int n = SSL_read(ssl, b, sizeof(b));
		if (s->peer_is_kio)
			s->ok = n == 5 && memcmp(b, "hello", 5) == 0 && SSL_write(ssl, "world!", 6) == 6 &&
				SSL_shutdown(ssl) >= 0;
		else
			s->ok = n == 2 && SSL_write(ssl, b, n) == n;
	}
	SSL_free(ssl);
	close(fd);
	return NULL;
}

/* An OpenSSL server of at most TLS version max_version (0: any). */
static SSL_CTX *ref_server_ctx(int max_version, X509 **x, EVP_PKEY **k, BIO **cb, BIO **kb)
{
	const struct kt_pem *cert = &kt_certs()->server;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	*cb = BIO_new_mem_buf(cert->cert, (int)cert->cert_len);
	*kb = BIO_new_mem_buf(cert->key, (int)cert->key_len);
	*x = PEM_read_bio_X509(*cb, NULL, NULL, NULL);
	*k = PEM_read_bio_PrivateKey(*kb, NULL, NULL, NULL);
	assert_int_equal(SSL_CTX_use_certificate(ctx, *x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, *k), 1);
	SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
	if (max_version)
		assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	return ctx;
}

static void openssl_reference(int max_version, unsigned *client_bits, unsigned *server_bits)
{
	struct ref_side srv = {0}, cli = {0};
	X509 *x;
	EVP_PKEY *k;
	BIO *cb, *kb;
	srv.ctx = ref_server_ctx(max_version, &x, &k, &cb, &kb);
	cli.ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(cli.ctx);
	SSL_CTX_set_options(cli.ctx, SSL_OP_ENABLE_KTLS);
	struct sockaddr_in a;
	srv.fd = kt_tcp_listener(&a);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, ref_server, &srv), 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	SSL *ssl = SSL_new(cli.ctx);
	SSL_set_fd(ssl, fd);
	assert_int_equal(SSL_connect(ssl), 1);
	cli.bits = ktls_bits_of(ssl);
	char b[8];
	assert_int_equal(SSL_write(ssl, "hi", 2), 2);
	assert_int_equal(SSL_read(ssl, b, sizeof(b)), 2);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(srv.ok);
	fprintf(stderr, "OpenSSL %s by itself: client %s%s, server %s%s (%s)\n",
		OpenSSL_version(OPENSSL_VERSION), cli.bits & KIO_TLS_KTLS_TX ? "tx " : "",
		cli.bits & KIO_TLS_KTLS_RX ? "rx" : "", srv.bits & KIO_TLS_KTLS_TX ? "tx " : "",
		srv.bits & KIO_TLS_KTLS_RX ? "rx" : "", SSL_get_cipher(ssl));
	SSL_free(ssl);
	close(fd);
	close(srv.fd);
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	SSL_CTX_free(srv.ctx);
	SSL_CTX_free(cli.ctx);
	ERR_clear_error();
	*client_bits = cli.bits;
	*server_bits = srv.bits;
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
	/* kio gets every direction OpenSSL by itself gets here: no fewer. */
	unsigned ref_c = 0, ref_s = 0;
	openssl_reference(0, &ref_c, &ref_s);
	if ((ref_c & ~ck) || (ref_s & ~sk))
		fail_msg("kernel TLS: OpenSSL alone takes client %#x server %#x, kio only %#x %#x",
			 ref_c, ref_s, ck, sk);
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

		/* kio_sendfile() of a file: the kernel encrypts what splice feeds it. */
		enum { FILE_LEN = 100000 };
		static unsigned char data[FILE_LEN], back[FILE_LEN];
		for (size_t i = 0; i < FILE_LEN; i++)
			data[i] = (unsigned char)(i * 131 + 7);
		char *dir = kt_tmpdir();
		char path[4200];
		snprintf(path, sizeof(path), "%s/sendfile", dir);
		int f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(f >= 0);
		assert_int_equal(write(f, data, FILE_LEN), FILE_LEN);
		int64_t id = kio_sendfile(ctx, p.cfd, f, 0, FILE_LEN, kt_rec_cb, kt_rec_reset(&w));
		assert_true(id >= 0);
		size_t got = 0;
		while (got < FILE_LEN) {
			int32_t n = kt_tls_read_wait(ctx, p.server, back + got, FILE_LEN - got);
			assert_true(n > 0);
			got += (size_t)n;
		}
		kt_run_until(ctx, &w.done, WAIT_MS);
		assert_int_equal(w.res, FILE_LEN);
		assert_memory_equal(back, data, FILE_LEN);
		close(f);
		unlink(path);
		kt_tmpdir_remove(dir);
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

/*
 * TLS 1.2 against a plain OpenSSL server: there OpenSSL 3.0 hands both
 * directions to the kernel, so a kio client's records are written by the
 * kernel (TX) and its reads come through recvmsg() with the record type
 * (RX), the server's close_notify included. kio gets what OpenSSL alone
 * gets on this kernel, no less.
 */
static void test_handoff_tls12(void **state)
{
	(void)state;
	unsigned ref_c = 0, ref_s = 0;
	openssl_reference(TLS1_2_VERSION, &ref_c, &ref_s);

	struct ref_side srv = {0};
	X509 *x;
	EVP_PKEY *k;
	BIO *cb, *kb;
	srv.ctx = ref_server_ctx(TLS1_2_VERSION, &x, &k, &cb, &kb);
	srv.peer_is_kio = 1;
	struct sockaddr_in a;
	srv.fd = kt_tcp_listener(&a);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, ref_server, &srv), 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);

	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *c = kt_client_config("localhost");
	kio_tls *tls = NULL;
	assert_int_equal(kio_tls_create(&tls, ctx, c, fd, KIO_TLS_CLIENT), 0);
	kt_tls_handshake_ok(ctx, tls);
	assert_int_equal(kio_tls_version(tls), KIO_TLS_VERSION_1_2);
	unsigned ck = kio_tls_ktls(tls);
	fprintf(stderr, "kernel TLS taken (TLS 1.2, client): %s%s\n", ck & KIO_TLS_KTLS_TX ? "tx " : "",
		ck & KIO_TLS_KTLS_RX ? "rx" : "");
	if (ref_c & ~ck)
		fail_msg("kernel TLS 1.2: OpenSSL alone takes %#x for a client, kio only %#x", ref_c, ck);
	assert_int_equal(kt_tls_write_wait(ctx, tls, "hello", 5), 5);
	char buf[16];
	size_t got = 0;
	while (got < 6) {
		int32_t n = kt_tls_read_wait(ctx, tls, buf + got, sizeof(buf) - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(got, 6);
	assert_memory_equal(buf, "world!", 6);
	/* The server's close_notify: a clean end (0), through the record type under RX. */
	assert_int_equal(kt_tls_read_wait(ctx, tls, buf, sizeof(buf)), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(srv.ok);
	kio_tls_destroy(tls);
	kio_tls_config_destroy(c);
	kt_drain_destroy(ctx);
	close(fd);
	close(srv.fd);
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	SSL_CTX_free(srv.ctx);
	ERR_clear_error();
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
		KT_TEST(test_handoff_tls12),
		KT_TEST(test_truncation),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
