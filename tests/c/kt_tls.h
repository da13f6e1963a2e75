/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the TLS tests: throw-away certificates made with the OpenSSL
 * API when a test program starts (a CA; a server certificate for
 * "localhost" and 127.0.0.1 signed by it; a self-signed one; an expired
 * one; one for the SNI name "sni.test"), as PEM in memory and as files in
 * a temporary directory (for the _file calls and openssl(1)), plus
 * sessions over loopback TCP pairs and openssl(1) children.
 */
#ifndef KIO_TEST_TLS_H
#define KIO_TEST_TLS_H

#include "kt_net.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <kio/tls.h>

#define KT_SNI_NAME "sni.test"

struct kt_pem {
	char *cert; /* PEM, NUL-terminated */
	size_t cert_len;
	char *key;
	size_t key_len;
	char cert_path[4096];
	char key_path[4096];
};

struct kt_certs {
	char dir[256];
	struct kt_pem ca, server, self, expired, sni;
};

static struct kt_certs kt_certs_store;

static inline char *kt_bio_text(BIO *b, size_t *len)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	assert_true(n > 0);
	char *copy = (char *)malloc((size_t)n + 1);
	assert_non_null(copy);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*len = (size_t)n;
	return copy;
}

static inline void kt_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key named cn; issued by issuer (NULL: self-signed),
 * valid from now+from_s to now+to_s seconds. */
static inline X509 *kt_make_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
				 EVP_PKEY *issuer_key, int is_ca, long from_s, long to_s)
{
	static long serial = 1;
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from_s));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to_s));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509_NAME *name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)cn, -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
	kt_add_ext(x, issuer, NID_basic_constraints,
		   is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	kt_add_ext(x, issuer, NID_key_usage,
		   is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	kt_add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer)
		kt_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (san)
		kt_add_ext(x, issuer, NID_subject_alt_name, san);
	if (!is_ca)
		kt_add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static inline void kt_write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static inline void kt_pem_store(struct kt_pem *p, const char *dir, const char *name, X509 *x,
				EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	p->cert = kt_bio_text(b, &p->cert_len);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
	p->key = kt_bio_text(b, &p->key_len);
	BIO_free(b);
	snprintf(p->cert_path, sizeof(p->cert_path), "%.200s/%.40s.crt", dir, name);
	snprintf(p->key_path, sizeof(p->key_path), "%.200s/%.40s.key", dir, name);
	kt_write_file(p->cert_path, p->cert, p->cert_len);
	kt_write_file(p->key_path, p->key, p->key_len);
}

static inline void kt_pem_free(struct kt_pem *p)
{
	unlink(p->cert_path);
	unlink(p->key_path);
	free(p->cert);
	free(p->key);
}

static inline void kt_certs_cleanup(void)
{
	struct kt_certs *c = &kt_certs_store;
	kt_pem_free(&c->ca);
	kt_pem_free(&c->server);
	kt_pem_free(&c->self);
	kt_pem_free(&c->expired);
	kt_pem_free(&c->sni);
	rmdir(c->dir);
}

/* The certificates, made on first use (call it from a group setup, before
 * the per-test leak checks). Removed at exit. */
static inline const struct kt_certs *kt_certs(void)
{
	struct kt_certs *c = &kt_certs_store;
	if (c->dir[0])
		return c;
	const char *tmp = getenv("TMPDIR");
	snprintf(c->dir, sizeof(c->dir), "%s/kio-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(c->dir));
	EVP_PKEY *ca_key = EVP_EC_gen("P-256");
	EVP_PKEY *key = EVP_EC_gen("P-256");
	EVP_PKEY *self_key = EVP_EC_gen("P-256");
	assert_non_null(ca_key);
	assert_non_null(key);
	assert_non_null(self_key);
	const long day = 86400;
	X509 *ca = kt_make_cert(ca_key, "kio test CA", NULL, NULL, NULL, 1, -day, 30 * day);
	X509 *server = kt_make_cert(key, "localhost", "DNS:localhost,IP:127.0.0.1", ca, ca_key, 0,
				    -day, 30 * day);
	X509 *self = kt_make_cert(self_key, "localhost", "DNS:localhost,IP:127.0.0.1", NULL, NULL,
				  0, -day, 30 * day);
	X509 *expired = kt_make_cert(key, "localhost", "DNS:localhost,IP:127.0.0.1", ca, ca_key, 0,
				     -10 * day, -day);
	X509 *sni =
		kt_make_cert(key, KT_SNI_NAME, "DNS:" KT_SNI_NAME, ca, ca_key, 0, -day, 30 * day);
	kt_pem_store(&c->ca, c->dir, "ca", ca, ca_key);
	kt_pem_store(&c->server, c->dir, "server", server, key);
	kt_pem_store(&c->self, c->dir, "self", self, self_key);
	kt_pem_store(&c->expired, c->dir, "expired", expired, key);
	kt_pem_store(&c->sni, c->dir, "sni", sni, key);
	X509_free(ca);
	X509_free(server);
	X509_free(self);
	X509_free(expired);
	X509_free(sni);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(self_key);
	atexit(kt_certs_cleanup);
	return c;
}

static inline int kt_tls_group_setup(void **state)
{
	(void)state;
	kt_certs();
	return 0;
}

/* A server config presenting pem. */
static inline kio_tls_config *kt_server_config(const struct kt_pem *pem)
{
	kio_tls_config *cfg = NULL;
	assert_int_equal(kio_tls_config_create(&cfg), 0);
	assert_int_equal(kio_tls_config_set_cert_mem(cfg, pem->cert, pem->cert_len, pem->key,
						     pem->key_len),
			 0);
	return cfg;
}

/* A client config trusting the test CA, verifying name. */
static inline kio_tls_config *kt_client_config(const char *name)
{
	const struct kt_certs *c = kt_certs();
	kio_tls_config *cfg = NULL;
	assert_int_equal(kio_tls_config_create(&cfg), 0);
	assert_int_equal(kio_tls_config_set_ca_mem(cfg, c->ca.cert, c->ca.cert_len), 0);
	if (name)
		assert_int_equal(kio_tls_config_set_server_name(cfg, name), 0);
	return cfg;
}

/* A client and a server session on the two ends of a loopback TCP pair. */
struct kt_tls_pair {
	int cfd, sfd;
	kio_tls *client, *server;
};

static inline void kt_tls_pair_open(struct kt_tls_pair *p, kio_ctx *ctx, kio_tls_config *ccfg,
				    kio_tls_config *scfg)
{
	kt_tcp_pair(&p->cfd, &p->sfd);
	assert_int_equal(kio_tls_create(&p->client, ctx, ccfg, p->cfd, KIO_TLS_CLIENT), 0);
	assert_int_equal(kio_tls_create(&p->server, ctx, scfg, p->sfd, KIO_TLS_SERVER), 0);
}

static inline void kt_tls_pair_close(struct kt_tls_pair *p)
{
	kio_tls_destroy(p->client);
	kio_tls_destroy(p->server);
	if (p->cfd >= 0)
		assert_int_equal(close(p->cfd), 0);
	if (p->sfd >= 0)
		assert_int_equal(close(p->sfd), 0);
	p->client = p->server = NULL;
	p->cfd = p->sfd = -1;
}

/* Runs ctx until both records are done (fails after ms). */
static inline void kt_run_until2(kio_ctx *ctx, struct kt_rec *a, struct kt_rec *b, int64_t ms)
{
	uint64_t deadline = kt_now_ns() + (uint64_t)ms * KT_MS;
	while (!a->done || !b->done) {
		uint64_t now = kt_now_ns();
		if (now >= deadline)
			fail_msg("ops not done within %lld ms", (long long)ms);
		assert_true(kio_ctx_run_once(ctx, (int64_t)(deadline - now)) >= 0);
	}
}

/* Both handshakes at once; their results in *cres and *sres. */
static inline void kt_tls_handshake_both(kio_ctx *ctx, struct kt_tls_pair *p, int32_t *cres,
					 int32_t *sres)
{
	struct kt_rec c, s;
	kt_rec_reset(&c);
	kt_rec_reset(&s);
	int64_t a = kio_tls_handshake(p->client, kt_rec_cb, &c);
	int64_t b = kio_tls_handshake(p->server, kt_rec_cb, &s);
	assert_true(a >= 0);
	assert_true(b >= 0);
	assert_int_equal(c.calls + s.calls, 0);
	kt_run_until2(ctx, &c, &s, 10000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(s.calls, 1);
	*cres = c.res;
	*sres = s.res;
}

/* A pair whose two handshakes both succeed. */
static inline void kt_tls_pair_connect(struct kt_tls_pair *p, kio_ctx *ctx, kio_tls_config *ccfg,
				       kio_tls_config *scfg)
{
	int32_t cres, sres;
	kt_tls_pair_open(p, ctx, ccfg, scfg);
	kt_tls_handshake_both(ctx, p, &cres, &sres);
	assert_int_equal(cres, 0);
	assert_int_equal(sres, 0);
}

/* One operation on t, run to its end with kt_await_op: its result. */
static inline int32_t kt_tls_handshake_wait(kio_ctx *ctx, kio_tls *t)
{
	struct kt_rec r;
	return kt_await_op(ctx, kio_tls_handshake(t, kt_rec_cb, kt_rec_reset(&r)), &r);
}

static inline int32_t kt_tls_read_wait(kio_ctx *ctx, kio_tls *t, void *buf, size_t len)
{
	struct kt_rec r;
	return kt_await_op(ctx, kio_tls_read(t, buf, len, kt_rec_cb, kt_rec_reset(&r)), &r);
}

static inline int32_t kt_tls_write_wait(kio_ctx *ctx, kio_tls *t, const void *buf, size_t len)
{
	struct kt_rec r;
	return kt_await_op(ctx, kio_tls_write(t, buf, len, kt_rec_cb, kt_rec_reset(&r)), &r);
}

static inline int32_t kt_tls_shutdown_wait(kio_ctx *ctx, kio_tls *t)
{
	struct kt_rec r;
	return kt_await_op(ctx, kio_tls_shutdown(t, kt_rec_cb, kt_rec_reset(&r)), &r);
}

/* A handshake that must succeed (the failure message carries OpenSSL's reason). */
static inline void kt_tls_handshake_ok(kio_ctx *ctx, kio_tls *t)
{
	int32_t res = kt_tls_handshake_wait(ctx, t);
	if (res != 0)
		fail_msg("handshake: %d (%s)", res, kio_tls_last_error(t));
}

/* One read that must bring data (not the end, not an error): the byte count. */
static inline size_t kt_tls_read_some(kio_ctx *ctx, kio_tls *t, void *buf, size_t len)
{
	int32_t res = kt_tls_read_wait(ctx, t, buf, len);
	if (res <= 0)
		fail_msg("read: %d (%s)", res, kio_tls_last_error(t));
	return (size_t)res;
}

/* from sends its close_notify; to reads the clean end (0). */
static inline void kt_tls_close_notify(kio_ctx *ctx, kio_tls *from, kio_tls *to)
{
	char buf[64];
	assert_int_equal(kt_tls_shutdown_wait(ctx, from), 0);
	assert_int_equal(kt_tls_read_wait(ctx, to, buf, sizeof(buf)), 0);
}

/* openssl(1), or NULL when it is not installed. */
static inline const char *kt_openssl_bin(void)
{
	static const char *const candidates[] = {"/usr/bin/openssl", "/usr/local/bin/openssl",
						 "/bin/openssl"};
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (access(candidates[i], X_OK) == 0)
			return candidates[i];
	return NULL;
}

/* A loopback port free right now (bound, then released). */
static inline int kt_free_port(void)
{
	struct sockaddr_in addr;
	int fd = kt_tcp_listener(&addr);
	assert_int_equal(close(fd), 0);
	return ntohs(addr.sin_port);
}

/* A child running argv (argv[0]: a path) with stdin/stdout on pipes
 * (*in_fd: its stdin, *out_fd: its stdout; NULL: /dev/null), stderr to /dev/null
 * unless KIO_TEST_VERBOSE is set. */
static inline pid_t kt_spawn(char *const argv[], int *in_fd, int *out_fd)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	if (in_fd)
		kt_pipe(in);
	if (out_fd)
		kt_pipe(out);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(in_fd ? in[0] : null, 0);
		dup2(out_fd ? out[1] : null, 1);
		if (!getenv("KIO_TEST_VERBOSE"))
			dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (in_fd) {
		close(in[0]);
		*in_fd = in[1];
	}
	if (out_fd) {
		close(out[1]);
		*out_fd = out[0];
	}
	return pid;
}

/* Stops a child (SIGTERM) and reaps it. */
static inline void kt_kill(pid_t pid)
{
	kill(pid, SIGTERM);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
}

/* Connects a new TCP socket to 127.0.0.1:port, retrying while nobody
 * listens yet (a child starting up); fails the test after 10 s. */
static inline int kt_connect_retry(int port)
{
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	uint64_t deadline = kt_now_ns() + 10000 * KT_MS;
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		assert_int_equal(errno, ECONNREFUSED);
		close(fd);
		if (kt_now_ns() > deadline)
			fail_msg("nothing listens on port %d", port);
		usleep(20000);
	}
}

/* Whether the kernel has the "tls" upper-layer protocol (kernel TLS). */
static inline int kt_kernel_has_ktls(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	int rc = setsockopt(fd, IPPROTO_TCP, 31 /* TCP_ULP */, "tls", sizeof("tls"));
	int err = errno;
	close(fd);
	return rc == 0 || err == ENOTCONN;
}

#endif /* KIO_TEST_TLS_H */
