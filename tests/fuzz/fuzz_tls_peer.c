/* SPDX-License-Identifier: MIT */
/*
 * The peer's bytes of a kio_tls session. kio runs a TLS client or server
 * over one end of a socketpair; the input is what arrives on it from the
 * other end, followed by end of stream. Whatever the bytes, kio must:
 *   - call back each accepted op exactly once, never inline;
 *   - end a failed handshake with one of the errors kio_tls_handshake(3)
 *     documents, and every later op on the session with -EPIPE;
 *   - read decrypted bytes only into the buffer it was given, and never
 *     report more than its length;
 *   - leave no fd and no pending op behind once the session and the ctx
 *     are destroyed.
 *
 * Input layout: byte 0 selects the role (bit 0: kio is the server), the
 * backend (bit 1: epoll), how the bytes are written (bit 2: in chunks
 * of byte 1 + 1 bytes, the loop running between chunks, instead of all at
 * once) and whether the session's handshake gets a timeout racing the
 * bytes (bit 3). The rest, at most 64 KiB, is the peer's stream.
 * tests/fuzz/corpus/fuzz_tls_peer holds a real ClientHello (for the
 * server role) and a real server flight (for the client role).
 */
#include "fuzz_common.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <kio/tls.h>

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			fz_fail("fuzz_tls_peer", __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#define MAX_STREAM 65536

static char *g_cert_pem, *g_key_pem;
static size_t g_cert_len, g_key_len;
static kio_tls_config *g_server_cfg, *g_client_cfg;

/* A self-signed P-256 certificate for the server role, made once. */
static char *pem_of(int (*write)(BIO *, const void *), const void *obj, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	CHECK(bio && write(bio, obj) == 1, "PEM_write failed");
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *copy = malloc((size_t)n);
	CHECK(copy, "out of memory");
	memcpy(copy, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	return copy;
}

static int write_cert(BIO *bio, const void *x)
{
	return PEM_write_bio_X509(bio, (X509 *)x);
}

static int write_key(BIO *bio, const void *k)
{
	return PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	CHECK(key && x, "key generation failed");
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	CHECK(X509_sign(x, key, EVP_sha256()) > 0, "X509_sign failed");
	g_cert_pem = pem_of(write_cert, x, &g_cert_len);
	g_key_pem = pem_of(write_key, key, &g_key_len);
	X509_free(x);
	EVP_PKEY_free(key);
	/* Made once: a config loads the system's CAs, which takes longer than an input. */
	CHECK(kio_tls_config_create(&g_server_cfg) == 0, "kio_tls_config_create");
	CHECK(kio_tls_config_set_cert_mem(g_server_cfg, g_cert_pem, g_cert_len, g_key_pem,
					  g_key_len) == 0,
	      "set_cert_mem: %s", kio_tls_config_last_error(g_server_cfg));
	CHECK(kio_tls_config_create(&g_client_cfg) == 0, "kio_tls_config_create");
	CHECK(kio_tls_config_set_verify(g_client_cfg, KIO_TLS_VERIFY_NONE) == 0, "set_verify");
	return 0;
}

struct op {
	const char *what;
	int calls;
	int32_t res;
	uint32_t flags;
};

static int g_in_loop; /* callbacks may only run while this is set */

static void op_cb(void *ud, int32_t res, uint32_t flags)
{
	struct op *o = ud;
	CHECK(g_in_loop, "%s: callback ran inline, outside the loop", o->what);
	CHECK(!(flags & KIO_F_MORE), "%s: KIO_F_MORE on a single-shot op", o->what);
	o->calls++;
	o->res = res;
	o->flags = flags;
	fz_trace("cb %s res %d", o->what, res);
}

static void run_until(kio_ctx *ctx, struct op *o)
{
	uint64_t end = fz_now_ns() + 10ull * 1000000000;
	while (o->calls == 0) {
		CHECK(fz_now_ns() < end, "%s: no callback within 10 s", o->what);
		g_in_loop = 1;
		int rc = kio_ctx_run_once(ctx, 100 * 1000000);
		g_in_loop = 0;
		CHECK(rc >= 0, "kio_ctx_run_once: %s", kio_strerror(rc));
	}
	CHECK(o->calls == 1, "%s: %d callbacks", o->what, o->calls);
}

/* The handshake's documented failures (kio/tls.h, kio_tls_handshake(3)). */
static int handshake_error_ok(int32_t res)
{
	switch (-res) {
	case EPROTO:
	case EPROTONOSUPPORT:
	case ECONNRESET:
	case ECONNABORTED:
	case EKEYREJECTED: /* the client role verifies nothing here: still documented */
	case EPIPE:
	case ETIMEDOUT:
	case ECANCELED:
	case ENOMEM:
		return 1;
	}
	return 0;
}

/* Writes what fits of the stream; returns how much went. */
static size_t feed(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = send(fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET, "send: %s",
			      strerror(errno));
			break;
		}
		done += (size_t)w;
	}
	return done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	fz_trace_reset();
	uint8_t mode = fz_u8(&in);
	uint8_t chunk_byte = fz_u8(&in);
	int server = mode & 1, epoll = (mode >> 1) & 1, chunked = (mode >> 2) & 1,
	    timed = (mode >> 3) & 1;
	size_t chunk = (size_t)chunk_byte + 1;
	size_t len;
	const uint8_t *stream = fz_bytes(&in, MAX_STREAM, &len);
	fz_trace("input: %zu bytes: %s, %s, %s%s", len, server ? "server" : "client",
		 epoll ? "epoll" : "io_uring", chunked ? "chunked" : "at once",
		 timed ? ", handshake timeout" : "");

	int fds_before = fz_count_fds();
	kio_ctx *ctx = NULL;
	int backend = fz_ctx_create(&ctx, epoll, 0, 0, 0);
	CHECK(backend > 0, "kio_ctx_create: %s", kio_strerror(backend));

	kio_tls_config *cfg = server ? g_server_cfg : g_client_cfg;
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
	      strerror(errno));
	kio_tls *tls = NULL;
	CHECK(kio_tls_create(&tls, ctx, cfg, sv[0], server ? KIO_TLS_SERVER : KIO_TLS_CLIENT) == 0,
	      "kio_tls_create");

	struct op hs = {"handshake", 0, 0, 0};
	int64_t id = kio_tls_handshake(tls, op_cb, &hs);
	CHECK(id >= 0, "kio_tls_handshake: %s", kio_strerror((int)id));
	if (timed)
		CHECK(kio_op_timeout(ctx, id, (uint64_t)(chunk_byte + 1) * 100000) == 0,
		      "kio_op_timeout");

	/* The peer's bytes, all at once or a chunk per loop round, then EOF. */
	size_t sent = 0;
	while (sent < len && hs.calls == 0) {
		size_t n = chunked ? (len - sent < chunk ? len - sent : chunk) : len - sent;
		size_t w = feed(sv[1], stream + sent, n);
		sent += w;
		g_in_loop = 1;
		int rc = kio_ctx_run_once(ctx, w == 0 ? 1000000 : 0);
		g_in_loop = 0;
		CHECK(rc >= 0, "kio_ctx_run_once: %s", kio_strerror(rc));
	}
	shutdown(sv[1], SHUT_WR);
	run_until(ctx, &hs);
	fz_trace("handshake: %d (%s)", hs.res, kio_tls_last_error(tls));
	CHECK(hs.res == 0 || handshake_error_ok(hs.res), "handshake: undocumented error %d (%s)",
	      hs.res, kio_strerror(hs.res));

	char buf[512];
	if (hs.res == 0) {
		/* A peer that got this far: read what it sends until EOF or an error. */
		for (int i = 0; i < 64; i++) {
			struct op rd = {"read", 0, 0, 0};
			memset(buf, 0xa5, sizeof(buf));
			id = kio_tls_read(tls, buf, sizeof(buf) - 8, op_cb, &rd);
			CHECK(id >= 0, "kio_tls_read: %s", kio_strerror((int)id));
			run_until(ctx, &rd);
			CHECK(rd.res <= (int32_t)(sizeof(buf) - 8), "read: %d bytes into %zu", rd.res,
			      sizeof(buf) - 8);
			for (size_t k = sizeof(buf) - 8; k < sizeof(buf); k++)
				CHECK((uint8_t)buf[k] == 0xa5, "read wrote past its buffer");
			if (rd.res <= 0)
				break;
		}
	} else {
		/* A failed session refuses everything else with -EPIPE. */
		struct op rd = {"read after failure", 0, 0, 0};
		id = kio_tls_read(tls, buf, sizeof(buf), op_cb, &rd);
		CHECK(id == -EPIPE, "read after a failed handshake: %lld, not -EPIPE", (long long)id);
		id = kio_tls_handshake(tls, op_cb, &rd);
		CHECK(id == -EPIPE, "handshake after a failed one: %lld, not -EPIPE", (long long)id);
	}

	kio_tls_destroy(tls);
	g_in_loop = 1; /* destroy runs what is left, as the loop would */
	kio_ctx_destroy(ctx);
	g_in_loop = 0;
	close(sv[0]);
	close(sv[1]);
	int fds_after = fz_count_fds();
	if (fds_after != fds_before)
		fz_list_fds();
	CHECK(fds_after == fds_before, "fds: %d before, %d after", fds_before, fds_after);
	return 0;
}
