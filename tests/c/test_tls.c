/* SPDX-License-Identifier: MIT */
/*
 * TLS sessions between a kio client and a kio server on one ctx, over
 * loopback TCP: handshake and byte-exact echo, close_notify against
 * truncation, a read and a write in flight together, one op of a kind at
 * a time, cancel and timeout, destroy with ops in flight (session and
 * ctx, both orders), bad arguments, 100 sessions at once, and errors other
 * code left in the thread's OpenSSL error queue.
 */
#include "kt_tls.h"

#include <pthread.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define WAIT_MS 10000

/* Reads until len bytes arrived (re-issuing reads from the callback). */
struct reader {
	kio_tls *tls;
	unsigned char *buf;
	size_t len, got;
	int32_t err;
	int reads;
	int done;
};

static void reader_cb(void *ud, int32_t res, uint32_t flags)
{
	struct reader *r = ud;
	assert_int_equal(flags & KIO_F_MORE, 0);
	r->reads++;
	if (res <= 0) {
		r->err = res;
		r->done = 1;
		return;
	}
	r->got += (size_t)res;
	if (r->got == r->len) {
		r->done = 1;
		return;
	}
	int64_t id = kio_tls_read(r->tls, r->buf + r->got, r->len - r->got, reader_cb, r);
	assert_true(id >= 0);
}

static void reader_start(struct reader *r, kio_tls *tls, unsigned char *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->tls = tls;
	r->buf = buf;
	r->len = len;
	assert_true(kio_tls_read(tls, buf, len, reader_cb, r) >= 0);
}

static kio_tls_config *ccfg, *scfg;

static int configs_setup(void **state)
{
	kt_tls_group_setup(state);
	ccfg = kt_client_config("localhost");
	scfg = kt_server_config(&kt_certs()->server);
	return 0;
}

static int configs_teardown(void **state)
{
	(void)state;
	kio_tls_config_destroy(ccfg);
	kio_tls_config_destroy(scfg);
	return 0;
}

static void open_pair(kio_ctx *ctx, struct kt_tls_pair *p)
{
	kt_tls_pair_connect(p, ctx, ccfg, scfg);
}

/* Sends len pattern bytes one way and checks they arrive intact. */
static void one_way(kio_ctx *ctx, kio_tls *from, kio_tls *to, size_t len, unsigned seed)
{
	unsigned char *out = malloc(len), *in = malloc(len);
	assert_non_null(out);
	assert_non_null(in);
	kt_fill(out, len, 0, seed);
	struct kt_rec w;
	struct reader r;
	reader_start(&r, to, in, len);
	assert_true(kio_tls_write(from, out, len, kt_rec_cb, kt_rec_reset(&w)) >= 0);
	kt_run_until2(ctx, &w, (struct kt_rec *)&(struct kt_rec){.done = 1}, WAIT_MS);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.res, (int32_t)len);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.got, len);
	assert_true(kt_check(in, len, 0, seed));
	free(out);
	free(in);
}

static void test_echo(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_tls_pair p;
	open_pair(ctx, &p);
	assert_int_equal(kio_tls_version(p.client), KIO_TLS_VERSION_1_3);
	assert_int_equal(kio_tls_version(p.server), KIO_TLS_VERSION_1_3);
	assert_null(kio_tls_alpn(p.client));
	assert_string_equal(kio_tls_server_name(p.server), "localhost");
	/* Where the kernel has TLS, it may have taken a direction (test_tls_ktls
	 * checks which); everything below works the same either way. */
	assert_int_equal(kio_tls_ktls(p.client) & ~(unsigned)(KIO_TLS_KTLS_TX | KIO_TLS_KTLS_RX), 0);
	assert_string_equal(kio_tls_last_error(p.client), "");
	/* The fds are left as they were (blocking), whatever path the handshake took. */
	assert_int_equal(fcntl(p.cfd, F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(fcntl(p.sfd, F_GETFL) & O_NONBLOCK, 0);
	one_way(ctx, p.client, p.server, 1, 1);
	one_way(ctx, p.client, p.server, 300000, 2); /* many records, several sends */
	one_way(ctx, p.server, p.client, 70000, 3);
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

static void test_min_version_13(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	/* A client requiring TLS 1.3 (a TLS 1.2 peer is in test_tls_interop). */
	kio_tls_config *c13 = kt_client_config("localhost");
	assert_int_equal(kio_tls_config_set_min_version(c13, KIO_TLS_VERSION_1_3), 0);
	struct kt_tls_pair p;
	int32_t c, s;
	kt_tls_pair_open(&p, ctx, c13, scfg);
	kio_tls_config_destroy(c13); /* the session keeps its reference */
	kt_tls_handshake_both(ctx, &p, &c, &s);
	assert_int_equal(c, 0);
	assert_int_equal(s, 0);
	one_way(ctx, p.server, p.client, 1000, 4);
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

static void test_close_notify(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_tls_pair p;
	open_pair(ctx, &p);
	struct kt_rec rd;
	unsigned char buf[64];
	kt_tls_close_notify(ctx, p.client, p.server);
	/* The end stays the end. */
	assert_int_equal(kt_tls_read_wait(ctx, p.server, buf, sizeof(buf)), 0);
	/* After its close_notify the client writes no more. */
	assert_int_equal(kio_tls_write(p.client, buf, 1, kt_rec_cb, &rd), -EPIPE);
	/* The server may still answer, then close too. */
	one_way(ctx, p.server, p.client, 100, 5);
	kt_tls_close_notify(ctx, p.server, p.client);
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

/* An OpenSSL peer on its own thread (blocking): it asks for a key update
 * before each message, so the kio side has to send its own KeyUpdate from
 * within a read, then answers with the key it now has. */
struct ku_peer {
	int fd;
	int rounds;
	size_t size;
	int ok;
};

static void *ku_peer_main(void *arg)
{
	struct ku_peer *k = arg;
	SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
	SSL *s = sc ? SSL_new(sc) : NULL;
	unsigned char *msg = malloc(k->size), *back = malloc(k->size);
	if (!s || !msg || !back || SSL_set_fd(s, k->fd) != 1 || SSL_connect(s) != 1)
		goto out;
	for (int r = 0; r < k->rounds; r++) {
		for (size_t i = 0; i < k->size; i++)
			msg[i] = (unsigned char)(i * 31 + (size_t)r);
		if (SSL_key_update(s, SSL_KEY_UPDATE_REQUESTED) != 1 ||
		    SSL_write(s, msg, (int)k->size) != (int)k->size)
			goto out;
		size_t got = 0;
		while (got < k->size) {
			int n = SSL_read(s, back + got, (int)(k->size - got));
			if (n <= 0)
				goto out;
			got += (size_t)n;
		}
		if (memcmp(msg, back, k->size) != 0)
			goto out;
	}
	k->ok = 1;
	SSL_shutdown(s);
out:
	free(msg);
	free(back);
	SSL_free(s);
	SSL_CTX_free(sc);
	return NULL;
}

static void test_key_update_from_the_peer(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	struct ku_peer k = {.fd = cfd, .rounds = 4, .size = 50000, .ok = 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, ku_peer_main, &k), 0);
	/* In user space: a TLS 1.3 session whose sending the kernel took cannot
	 * follow the peer's KeyUpdate (kio_tls_handshake(3), BUGS). */
	kio_tls_config *cfg = kt_server_config(&kt_certs()->server);
	assert_int_equal(kio_tls_config_set_ktls(cfg, 0), 0);
	kio_tls *t = NULL;
	assert_int_equal(kio_tls_create(&t, ctx, cfg, sfd, KIO_TLS_SERVER), 0);
	kt_tls_handshake_ok(ctx, t);
	assert_int_equal(kio_tls_ktls(t), 0);
	unsigned char *buf = malloc(k.size);
	assert_non_null(buf);
	for (int r = 0; r < k.rounds; r++) {
		size_t got = 0;
		while (got < k.size)
			got += kt_tls_read_some(ctx, t, buf + got, k.size - got);
		assert_int_equal(kt_tls_write_wait(ctx, t, buf, k.size), (int32_t)k.size);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(k.ok);
	free(buf);
	kio_tls_destroy(t);
	kio_tls_config_destroy(cfg);
	close(sfd);
	close(cfd);
	kt_drain_destroy(ctx);
}

static void test_truncation(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_tls_pair p;
	open_pair(ctx, &p);
	one_way(ctx, p.client, p.server, 10, 6);
	/* The client's TCP FIN, without close_notify. */
	assert_int_equal(shutdown(p.cfd, SHUT_WR), 0);
	unsigned char buf[64];
	assert_int_equal(kt_tls_read_wait(ctx, p.server, buf, sizeof(buf)), -ECONNABORTED);
	assert_true(strlen(kio_tls_last_error(p.server)) > 0);
	/* Again: still a truncation, never a clean end. */
	assert_int_equal(kt_tls_read_wait(ctx, p.server, buf, sizeof(buf)), -ECONNABORTED);
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

static void test_read_and_write_together(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_tls_pair p;
	open_pair(ctx, &p);
	enum {
		N = 200000
	};
	unsigned char *out = malloc(N), *in = malloc(N), *back = malloc(N);
	assert_non_null(out);
	assert_non_null(in);
	assert_non_null(back);
	kt_fill(out, N, 0, 7);
	/* The client reads the echo while it is still writing. */
	struct reader echo, srv;
	reader_start(&echo, p.client, back, N);
	struct kt_rec w, sw;
	assert_true(kio_tls_write(p.client, out, N, kt_rec_cb, kt_rec_reset(&w)) >= 0);
	/* The server echoes what it received once it has it all. */
	reader_start(&srv, p.server, in, N);
	kt_run_until(ctx, &srv.done, WAIT_MS);
	assert_int_equal(srv.got, N);
	assert_true(kio_tls_write(p.server, in, N, kt_rec_cb, kt_rec_reset(&sw)) >= 0);
	kt_run_until(ctx, &echo.done, WAIT_MS);
	kt_run_until2(ctx, &w, &sw, WAIT_MS);
	assert_int_equal(w.res, N);
	assert_int_equal(sw.res, N);
	assert_int_equal(echo.err, 0);
	assert_true(kt_check(back, N, 0, 7));
	free(out);
	free(in);
	free(back);
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

static void test_busy(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_tls_pair p;
	open_pair(ctx, &p);
	unsigned char buf[64] = {0};
	struct kt_rec r1, w1, x;
	int64_t rid = kio_tls_read(p.client, buf, sizeof(buf), kt_rec_cb, kt_rec_reset(&r1));
	assert_true(rid >= 0);
	assert_int_equal(kio_tls_read(p.client, buf, sizeof(buf), kt_rec_cb, kt_rec_reset(&x)),
			 -EBUSY);
	assert_true(kio_tls_write(p.client, buf, sizeof(buf), kt_rec_cb, kt_rec_reset(&w1)) >= 0);
	assert_int_equal(kio_tls_write(p.client, buf, 1, kt_rec_cb, &x), -EBUSY);
	assert_int_equal(kio_tls_shutdown(p.client, kt_rec_cb, &x), -EBUSY);
	assert_int_equal(kio_tls_handshake(p.client, kt_rec_cb, &x), -EISCONN);
	kt_run_until(ctx, &w1.done, WAIT_MS);
	assert_int_equal(w1.res, sizeof(buf));
	assert_int_equal(x.calls, 0);
	assert_int_equal(kio_op_cancel(ctx, rid), 0);
	kt_run_until(ctx, &r1.done, WAIT_MS);
	assert_int_equal(r1.res, -ECANCELED);
	assert_int_equal(r1.calls, 1);
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

static void test_cancel_read_keeps_data(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_tls_pair p;
	open_pair(ctx, &p);
	unsigned char buf[256];
	struct kt_rec r;
	/* A read waiting for nothing, cancelled. */
	int64_t id = kio_tls_read(p.client, buf, sizeof(buf), kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 20);
	assert_int_equal(r.calls, 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ECANCELED);
	one_way(ctx, p.server, p.client, 100, 8);
	/* Cancels racing data: every byte still arrives once, in order. */
	enum {
		N = 20000,
		CHUNK = 1000
	};
	unsigned char *out = malloc(N), *in = malloc(N);
	assert_non_null(out);
	assert_non_null(in);
	kt_fill(out, N, 0, 9);
	size_t got = 0, sent = 0;
	int cancelled = 0;
	for (int round = 0; got < N; round++) {
		assert_true(round < 4 * (N / CHUNK)); /* bounded: every other read goes on */
		if (sent < N) {
			assert_int_equal(kt_tls_write_wait(ctx, p.server, out + sent, CHUNK), CHUNK);
			sent += CHUNK;
		}
		id = kio_tls_read(p.client, in + got, N - got, kt_rec_cb, kt_rec_reset(&r));
		assert_true(id >= 0);
		if (round % 2 == 0)
			assert_int_equal(kio_op_cancel(ctx, id), 0);
		int32_t res = kt_await_op(ctx, id, &r);
		if (res == -ECANCELED) {
			cancelled++;
			continue;
		}
		assert_true(res > 0);
		got += (size_t)res;
	}
	assert_true(kt_check(in, N, 0, 9));
	assert_true(cancelled > 0);
	free(out);
	free(in);
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

static void test_handshake_timeout(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd); /* the server end never answers */
	kio_tls *c = NULL;
	assert_int_equal(kio_tls_create(&c, ctx, ccfg, cfd, KIO_TLS_CLIENT), 0);
	struct kt_rec r;
	uint64_t t0 = kt_now_ns();
	int64_t id = kio_tls_handshake(c, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 200 * KT_MS), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ETIMEDOUT);
	uint64_t ms = (kt_now_ns() - t0) / KT_MS;
	assert_true(ms >= 190 && ms < 3000);
	/* The ClientHello went out; the session can only be destroyed now. */
	unsigned char b[8];
	assert_true(recv(sfd, b, sizeof(b), MSG_DONTWAIT) > 0);
	assert_int_equal(kio_tls_handshake(c, kt_rec_cb, &r), -EPIPE);
	assert_int_equal(kio_tls_read(c, b, sizeof(b), kt_rec_cb, &r), -EPIPE);
	kio_tls_destroy(c);
	close(cfd);
	close(sfd);
	kt_drain_destroy(ctx);
}

/* A peer that does not speak TLS at all - random bytes, an HTTP reply - is
 * a protocol error (-EPROTO), with OpenSSL's reason kept; -EPROTONOSUPPORT
 * stays for a TLS peer with no version in common (test_tls_interop.c). */
static void not_tls_peer(kio_ctx *ctx, const void *reply, size_t len, const char *what)
{
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	kio_tls *c = NULL;
	assert_int_equal(kio_tls_create(&c, ctx, ccfg, cfd, KIO_TLS_CLIENT), 0);
	struct kt_rec r;
	int64_t id = kio_tls_handshake(c, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(send(sfd, reply, len, MSG_NOSIGNAL), (ssize_t)len);
	int32_t res = kt_await_op(ctx, id, &r);
	if (res != -EPROTO)
		fail_msg("%s: handshake gave %d (%s), not -EPROTO; reason: %s", what, res,
			 kio_strerror(res), kio_tls_last_error(c));
	assert_true(strlen(kio_tls_last_error(c)) > 0);
	kio_tls_destroy(c);
	close(cfd);
	close(sfd);
}

static void test_peer_not_tls(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	not_tls_peer(ctx, http, sizeof(http) - 1, "an HTTP reply");
	unsigned char noise[512];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < sizeof(noise); i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			noise[i] = (unsigned char)x;
		}
		/* A first byte that is a TLS content type would make it a
		 * (malformed) record; keep it random bytes of any other kind. */
		if (noise[0] >= 20 && noise[0] <= 24)
			noise[0] = 0x47;
		not_tls_peer(ctx, noise, sizeof(noise), "random bytes");
	}
	kt_drain_destroy(ctx);
}

static void test_bad_args(void **state)
{
	(void)state;
	const struct kt_certs *certs = kt_certs();
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = NULL;
	assert_int_equal(kio_tls_config_create(NULL), -EINVAL);
	assert_int_equal(kio_tls_config_create(&cfg), 0);
	kio_tls_config_destroy(NULL);
	assert_string_equal(kio_tls_config_last_error(NULL), "");
	assert_string_equal(kio_tls_config_last_error(cfg), "");
	/* Versions: 1.2 and 1.3 only. */
	assert_int_equal(kio_tls_config_set_min_version(cfg, 0x0302), -EINVAL);
	assert_int_equal(kio_tls_config_set_min_version(cfg, 0x0301), -EINVAL);
	assert_int_equal(kio_tls_config_set_min_version(cfg, 0), -EINVAL);
	assert_int_equal(kio_tls_config_set_min_version(NULL, KIO_TLS_VERSION_1_2), -EINVAL);
	assert_int_equal(kio_tls_config_set_min_version(cfg, KIO_TLS_VERSION_1_2), 0);
	assert_int_equal(kio_tls_config_set_verify(cfg, 3), -EINVAL);
	assert_int_equal(kio_tls_config_set_verify(cfg, -1), -EINVAL);
	assert_int_equal(kio_tls_config_set_ktls(cfg, 2), -EINVAL);
	assert_int_equal(kio_tls_config_set_server_name(cfg, NULL), -EINVAL);
	assert_int_equal(kio_tls_config_set_server_name(cfg, ""), -EINVAL);
	const char *bad_alpn[] = {"h2", ""};
	assert_int_equal(kio_tls_config_set_alpn(cfg, bad_alpn, 2), -EINVAL);
	assert_int_equal(kio_tls_config_set_alpn(cfg, NULL, 1), -EINVAL);
	assert_int_equal(kio_tls_config_set_alpn(cfg, NULL, 0), 0);
	/* Certificates and CAs. */
	assert_int_equal(kio_tls_config_set_cert_mem(cfg, "junk", 4, "junk", 4), -EINVAL);
	assert_true(strlen(kio_tls_config_last_error(cfg)) > 0);
	assert_int_equal(kio_tls_config_set_cert_mem(cfg, certs->server.cert,
						     certs->server.cert_len, certs->self.key,
						     certs->self.key_len),
			 -EINVAL); /* a key that does not match */
	assert_int_equal(kio_tls_config_set_cert_mem(cfg, NULL, 1, certs->self.key, 1), -EINVAL);
	assert_int_equal(kio_tls_config_set_cert_file(cfg, "/nonexistent/kio.crt",
						      certs->server.key_path),
			 -ENOENT);
	assert_int_equal(kio_tls_config_set_cert_file(cfg, certs->server.cert_path,
						      certs->server.key_path),
			 0);
	assert_int_equal(kio_tls_config_set_ca_file(cfg, "/nonexistent/ca.pem", NULL), -ENOENT);
	assert_int_equal(kio_tls_config_set_ca_mem(cfg, "junk", 4), -EINVAL);
	assert_int_equal(kio_tls_config_set_ca_file(cfg, certs->ca.cert_path, NULL), 0);
	assert_int_equal(kio_tls_config_set_ca_file(cfg, NULL, NULL), 0); /* the system's again */
	assert_int_equal(kio_tls_config_add_sni_cert_file(cfg, NULL, certs->sni.cert_path,
							  certs->sni.key_path),
			 -EINVAL);
	assert_int_equal(kio_tls_config_add_sni_cert_file(cfg, KT_SNI_NAME, "/nonexistent",
							  certs->sni.key_path),
			 -ENOENT);
	/* Sessions. */
	kio_tls *t = NULL;
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	assert_int_equal(kio_tls_create(NULL, ctx, cfg, cfd, KIO_TLS_CLIENT), -EINVAL);
	assert_int_equal(kio_tls_create(&t, NULL, cfg, cfd, KIO_TLS_CLIENT), -EINVAL);
	assert_int_equal(kio_tls_create(&t, ctx, NULL, cfd, KIO_TLS_CLIENT), -EINVAL);
	assert_int_equal(kio_tls_create(&t, ctx, cfg, cfd, 0), -EINVAL);
	assert_int_equal(kio_tls_create(&t, ctx, cfg, cfd, KIO_TLS_CLIENT | KIO_TLS_SERVER),
			 -EINVAL);
	assert_int_equal(kio_tls_create(&t, ctx, cfg, cfd, 1u << 5), -EINVAL);
	assert_int_equal(kio_tls_create(&t, ctx, cfg, -1, KIO_TLS_CLIENT), -EBADF);
	assert_int_equal(kio_tls_create(&t, ctx, cfg, KT_CLOSED_FD, KIO_TLS_CLIENT), -EBADF);
	assert_null(t);
	assert_int_equal(kio_tls_create(&t, ctx, cfg, cfd, KIO_TLS_CLIENT), 0);
	kio_tls_destroy(NULL);
	struct kt_rec r;
	unsigned char b[4];
	kt_rec_reset(&r);
	assert_int_equal(kio_tls_handshake(NULL, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_tls_handshake(t, NULL, &r), -EINVAL);
	/* Verification on, no name to check: refused rather than unchecked. */
	assert_int_equal(kio_tls_handshake(t, kt_rec_cb, &r), -EINVAL);
	assert_true(strlen(kio_tls_last_error(t)) > 0);
	assert_int_equal(kio_tls_read(t, b, sizeof(b), kt_rec_cb, &r), -ENOTCONN);
	assert_int_equal(kio_tls_write(t, b, sizeof(b), kt_rec_cb, &r), -ENOTCONN);
	assert_int_equal(kio_tls_shutdown(t, kt_rec_cb, &r), -ENOTCONN);
	assert_int_equal(kio_tls_read(t, NULL, 4, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_tls_read(t, b, 0, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_tls_read(NULL, b, 4, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_tls_write(t, NULL, 4, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_tls_write(t, b, 4, NULL, &r), -EINVAL);
	assert_int_equal(kio_tls_shutdown(NULL, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_tls_set_server_name(t, NULL), -EINVAL);
	assert_int_equal(kio_tls_set_server_name(NULL, "x"), -EINVAL);
	assert_int_equal(kio_tls_version(t), 0);
	assert_int_equal(kio_tls_version(NULL), 0);
	assert_null(kio_tls_alpn(t));
	assert_null(kio_tls_alpn(NULL));
	assert_null(kio_tls_server_name(NULL));
	assert_int_equal(kio_tls_ktls(NULL), 0);
	assert_string_equal(kio_tls_last_error(NULL), "");
	assert_int_equal(r.calls, 0);
	kio_tls_destroy(t);
	kio_tls_config_destroy(cfg);
	close(cfd);
	close(sfd);
	kt_drain_destroy(ctx);
}

/* Destroys the session from its own callback. */
static void destroy_in_cb(void *ud, int32_t res, uint32_t flags)
{
	kio_tls **t = ud;
	(void)flags;
	assert_int_equal(res, -ECANCELED);
	kio_tls_destroy(*t);
	*t = NULL;
}

static void test_destroy_in_flight(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	/* A handshake waiting for a silent peer. */
	int cfd, sfd;
	kt_tcp_pair(&cfd, &sfd);
	kio_tls *c = NULL;
	assert_int_equal(kio_tls_create(&c, ctx, ccfg, cfd, KIO_TLS_CLIENT), 0);
	struct kt_rec h;
	assert_true(kio_tls_handshake(c, kt_rec_cb, kt_rec_reset(&h)) >= 0);
	kt_run_for(ctx, 20);
	kio_tls_destroy(c);
	assert_int_equal(h.calls, 0); /* never inline */
	kt_run_until(ctx, &h.done, WAIT_MS);
	assert_int_equal(h.res, -ECANCELED);
	kt_run_for(ctx, 20);
	assert_int_equal(h.calls, 1);
	close(cfd);
	close(sfd);

	/* A read and a big write in flight together. */
	struct kt_tls_pair p;
	open_pair(ctx, &p);
	enum {
		N = 16 << 20
	};
	/* Small socket buffers: the write cannot end while nobody reads. */
	int small = 65536;
	assert_int_equal(setsockopt(p.cfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(p.sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	unsigned char *big = calloc(1, N), buf[64];
	assert_non_null(big);
	struct kt_rec r, w;
	assert_true(kio_tls_read(p.client, buf, sizeof(buf), kt_rec_cb, kt_rec_reset(&r)) >= 0);
	assert_true(kio_tls_write(p.client, big, N, kt_rec_cb, kt_rec_reset(&w)) >= 0);
	kt_run_for(ctx, 30);
	assert_int_equal(w.calls, 0); /* nobody reads the other end: stuck */
	kio_tls_destroy(p.client);
	p.client = NULL;
	kt_run_until2(ctx, &r, &w, WAIT_MS);
	kt_run_for(ctx, 20);
	assert_int_equal(r.calls, 1);
	assert_int_equal(w.calls, 1);
	assert_int_equal(r.res, -ECANCELED);
	assert_int_equal(w.res, -ECANCELED);
	free(big);
	kt_tls_pair_close(&p);

	/* Destroyed from the callback of its own cancelled read. */
	open_pair(ctx, &p);
	kio_tls *victim = p.server;
	p.server = NULL;
	int64_t id = kio_tls_read(victim, buf, sizeof(buf), destroy_in_cb, &victim);
	assert_true(id >= 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_for(ctx, 50);
	assert_null(victim);
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

/* The ctx goes first: ops end with -ECANCELED, the sessions are destroyed after. */
static void test_ctx_destroy_first(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_tls_pair p, q;
	open_pair(ctx, &p);
	open_pair(ctx, &q);
	unsigned char a[64], b[64];
	struct kt_rec r1, r2;
	assert_true(kio_tls_read(p.client, a, sizeof(a), kt_rec_cb, kt_rec_reset(&r1)) >= 0);
	assert_true(kio_tls_read(p.server, b, sizeof(b), kt_rec_cb, kt_rec_reset(&r2)) >= 0);
	kt_run_for(ctx, 10);
	kio_ctx_destroy(ctx);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r1.res, -ECANCELED);
	assert_int_equal(r2.res, -ECANCELED);
	kt_tls_pair_close(&p); /* no op in flight: the dead ctx is not touched */
	kt_tls_pair_close(&q);

	/* The other order: sessions destroyed with ops in flight, then the ctx. */
	ctx = kt_ctx_new();
	open_pair(ctx, &p);
	assert_true(kio_tls_read(p.client, a, sizeof(a), kt_rec_cb, kt_rec_reset(&r1)) >= 0);
	assert_true(kio_tls_read(p.server, b, sizeof(b), kt_rec_cb, kt_rec_reset(&r2)) >= 0);
	kt_tls_pair_close(&p);
	kio_ctx_destroy(ctx);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r1.res, -ECANCELED);
	assert_int_equal(r2.res, -ECANCELED);
}

/* 100 sessions on one ctx, each echoing its own bytes. */
enum {
	SESSIONS = 100,
	MSG = 6000
};

struct conn {
	struct kt_tls_pair p;
	unsigned char out[MSG], mid[MSG], back[MSG];
	struct reader srv, cli;
	struct kt_rec hc, hs, w, sw;
	int stage;
};

static void test_hundred_sessions(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct conn *cs = calloc(SESSIONS, sizeof(*cs));
	assert_non_null(cs);
	for (int i = 0; i < SESSIONS; i++) {
		struct conn *c = &cs[i];
		kt_tls_pair_open(&c->p, ctx, ccfg, scfg);
		assert_true(kio_tls_handshake(c->p.client, kt_rec_cb, kt_rec_reset(&c->hc)) >= 0);
		assert_true(kio_tls_handshake(c->p.server, kt_rec_cb, kt_rec_reset(&c->hs)) >= 0);
		kt_fill(c->out, MSG, 0, 100u + (unsigned)i);
	}
	uint64_t deadline = kt_now_ns() + 60000 * KT_MS;
	int finished = 0;
	while (finished < SESSIONS) {
		assert_true(kt_now_ns() < deadline);
		assert_true(kio_ctx_run_once(ctx, 100 * (int64_t)KT_MS) >= 0);
		finished = 0;
		for (int i = 0; i < SESSIONS; i++) {
			struct conn *c = &cs[i];
			switch (c->stage) {
			case 0: /* handshakes done: client sends, server reads */
				if (!c->hc.done || !c->hs.done)
					break;
				assert_int_equal(c->hc.res, 0);
				assert_int_equal(c->hs.res, 0);
				reader_start(&c->srv, c->p.server, c->mid, MSG);
				reader_start(&c->cli, c->p.client, c->back, MSG);
				assert_true(kio_tls_write(c->p.client, c->out, MSG, kt_rec_cb,
							  kt_rec_reset(&c->w)) >= 0);
				c->stage = 1;
				break;
			case 1: /* the server has it all: echo it */
				if (!c->srv.done)
					break;
				assert_int_equal(c->srv.err, 0);
				assert_true(kio_tls_write(c->p.server, c->mid, MSG, kt_rec_cb,
							  kt_rec_reset(&c->sw)) >= 0);
				c->stage = 2;
				break;
			case 2:
				if (!c->cli.done || !c->w.done || !c->sw.done)
					break;
				assert_int_equal(c->cli.err, 0);
				assert_int_equal(c->w.res, MSG);
				assert_int_equal(c->sw.res, MSG);
				assert_true(kt_check(c->back, MSG, 0, 100u + (unsigned)i));
				c->stage = 3;
				break;
			default:
				finished++;
			}
		}
	}
	for (int i = 0; i < SESSIONS; i++)
		kt_tls_pair_close(&cs[i].p);
	free(cs);
	kt_drain_destroy(ctx);
}

/* Other code on the loop's thread may leave entries in the thread's OpenSSL
 * error queue (OpenSSL's callers are meant to clear it, not all do). A NOP
 * chain leaves one in every loop round while records go both ways: no step
 * of a session may take such an entry for its own call's failure. */
struct polluter {
	kio_ctx *ctx;
	int stop;
	int rounds;
	int ended;
};

static void pollute_cb(void *ud, int32_t res, uint32_t flags)
{
	struct polluter *p = ud;
	(void)flags;
	assert_int_equal(res, 0);
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
	p->rounds++;
	if (p->stop)
		p->ended = 1;
	else
		assert_true(kio_nop(p->ctx, pollute_cb, p) >= 0);
}

static void test_stale_openssl_errors(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	struct kt_tls_pair p;
	open_pair(ctx, &p);
	struct polluter pol = {.ctx = ctx};
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
	assert_true(kio_nop(ctx, pollute_cb, &pol) >= 0);
	one_way(ctx, p.client, p.server, 300000, 4);
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
	one_way(ctx, p.server, p.client, 300000, 5);
	pol.stop = 1;
	kt_run_until(ctx, &pol.ended, WAIT_MS);
	/* The chain ran beside the records (not only before or after). */
	assert_true(pol.rounds > 4);
	assert_string_equal(kio_tls_last_error(p.client), "");
	assert_string_equal(kio_tls_last_error(p.server), "");
	ERR_clear_error();
	kt_tls_pair_close(&p);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_echo),
		KT_TEST(test_min_version_13),
		KT_TEST(test_close_notify),
		KT_TEST(test_truncation),
		KT_TEST(test_read_and_write_together),
		KT_TEST(test_key_update_from_the_peer),
		KT_TEST(test_busy),
		KT_TEST(test_cancel_read_keeps_data),
		KT_TEST(test_handshake_timeout),
		KT_TEST(test_peer_not_tls),
		KT_TEST(test_bad_args),
		KT_TEST(test_destroy_in_flight),
		KT_TEST(test_ctx_destroy_first),
		KT_TEST(test_hundred_sessions),
		KT_TEST(test_stale_openssl_errors),
	};
	return cmocka_run_group_tests(tests, configs_setup, configs_teardown);
}
