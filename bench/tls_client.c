/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-tls - the kio and plain OpenSSL clients of the TLS workload
 * (bench_tls.h has the rules; kio-bench-tls-peer is the server).
 *
 *   kio-bench-tls --impl kio|kio-ktls|openssl --port P [--mode bulk|handshake]
 *                 [--seconds S]
 *
 *   kio:      kio_tls on kio's loop, kernel TLS off (every byte encrypted in
 *             user space by OpenSSL, like the peers); impl "kio-c";
 *   kio-ktls: the same with kernel TLS allowed (kio's default); impl
 *             "kio-c-ktls", its note says whether the kernel took the
 *             sending direction;
 *   openssl:  the plain blocking loop: SSL_connect, SSL_write of 16 KiB;
 *             impl "openssl".
 *
 * Verification is off on every client (a self-signed certificate made for
 * the run): the handshakes compare the protocol work, not the CA lookups.
 * One run per process; prints the result lines of bench_tls.h.
 */
#define _GNU_SOURCE
#include <kio/kio.h>
#include <kio/tls.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_tls.h"

static unsigned char data[BTLS_WRITE];

/* ---- plain OpenSSL, blocking -------------------------------------------- */

static int run_openssl(const struct btls_args *a)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	double count = 0, t0 = bench_now_s(), c0 = btls_cpu_ns(), t = t0;
	if (a->bulk) {
		int fd = btls_connect(a->port);
		SSL *ssl = SSL_new(ctx);
		if (fd < 0 || !ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
		t0 = bench_now_s();
		c0 = btls_cpu_ns();
		while ((t = bench_now_s()) - t0 < a->seconds) {
			if (SSL_write(ssl, data, sizeof(data)) != (int)sizeof(data)) {
				ERR_print_errors_fp(stderr);
				return 1;
			}
			count += sizeof(data);
		}
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
	} else {
		while ((t = bench_now_s()) - t0 < a->seconds) {
			int fd = btls_connect(a->port);
			SSL *ssl = SSL_new(ctx);
			if (fd < 0 || !ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
				ERR_print_errors_fp(stderr);
				return 1;
			}
			SSL_free(ssl);
			close(fd);
			count++;
		}
	}
	btls_report(a, "openssl", count, t - t0, btls_cpu_ns() - c0,
		    "blocking SSL_connect/SSL_write loop");
	SSL_CTX_free(ctx);
	return 0;
}

/* ---- kio ---------------------------------------------------------------- */

struct kio_run {
	const struct btls_args *a;
	kio_ctx *ctx;
	kio_tls_config *cfg;
	kio_tls *tls;
	int fd;
	double t0, t, count;
	int error;
	unsigned ktls;
};

static void kio_next(struct kio_run *r);

static void on_write(void *ud, int32_t res, uint32_t flags)
{
	struct kio_run *r = ud;
	(void)flags;
	if (res != (int32_t)BTLS_WRITE) {
		r->error = res < 0 ? res : -EIO;
		return;
	}
	r->count += BTLS_WRITE;
	r->t = bench_now_s();
	if (r->t - r->t0 < r->a->seconds &&
	    kio_tls_write(r->tls, data, sizeof(data), on_write, r) < 0)
		r->error = -EIO;
}

static void on_handshake(void *ud, int32_t res, uint32_t flags)
{
	struct kio_run *r = ud;
	(void)flags;
	if (res < 0) {
		r->error = res;
		return;
	}
	if (r->a->bulk) {
		r->ktls = kio_tls_ktls(r->tls);
		r->t0 = bench_now_s();
		if (kio_tls_write(r->tls, data, sizeof(data), on_write, r) < 0)
			r->error = -EIO;
		return;
	}
	r->count++;
	kio_tls_destroy(r->tls);
	close(r->fd);
	r->tls = NULL;
	r->t = bench_now_s();
	if (r->t - r->t0 < r->a->seconds)
		kio_next(r);
}

/* A new connection and session, and its handshake. */
static void kio_next(struct kio_run *r)
{
	r->fd = btls_connect(r->a->port);
	int err = r->fd < 0 ? -errno :
			      kio_tls_create(&r->tls, r->ctx, r->cfg, r->fd, KIO_TLS_CLIENT);
	int64_t id = err < 0 ? err : kio_tls_handshake(r->tls, on_handshake, r);
	if (id < 0)
		r->error = (int)id;
}

static int run_kio(const struct btls_args *a, bool ktls)
{
	struct kio_run r = {.a = a, .fd = -1};
	int err = kio_ctx_create(&r.ctx, NULL, 0);
	if (err < 0)
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	if (kio_tls_config_create(&r.cfg) < 0 ||
	    kio_tls_config_set_verify(r.cfg, KIO_TLS_VERIFY_NONE) < 0 ||
	    kio_tls_config_set_min_version(r.cfg, KIO_TLS_VERSION_1_3) < 0 ||
	    kio_tls_config_set_ktls(r.cfg, ktls) < 0) {
		fprintf(stderr, "kio-bench-tls: config: %s\n",
			r.cfg ? kio_tls_config_last_error(r.cfg) : "?");
		return 1;
	}
	r.t0 = bench_now_s();
	double c0 = btls_cpu_ns();
	kio_next(&r);
	err = kio_ctx_run(r.ctx);
	double cpu = btls_cpu_ns() - c0;
	if (r.tls)
		kio_tls_destroy(r.tls);
	if (r.fd >= 0 && a->bulk)
		close(r.fd);
	kio_ctx_destroy(r.ctx);
	kio_tls_config_destroy(r.cfg);
	if (err < 0 || r.error < 0 || r.count == 0) {
		fprintf(stderr, "kio-bench-tls: run %d, error %s\n", err,
			kio_strerror(r.error < 0 ? r.error : err));
		return 1;
	}
	char note[96];
	snprintf(note, sizeof(note), "kio_tls, kernel TLS %s%s", ktls ? "allowed" : "off",
		 ktls && a->bulk ?
			 ((r.ktls & KIO_TLS_KTLS_TX) ? " (taken for sending)" : " (not taken)") :
			 "");
	btls_report(a, ktls ? "kio-c-ktls" : "kio-c", r.count, r.t - r.t0, cpu, note);
	return 0;
}

int main(int argc, char **argv)
{
	const char *impl = NULL;
	int nargs = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--impl") == 0 && i + 1 < argc)
			impl = argv[++i];
		else
			argv[nargs++] = argv[i];
	}
	struct btls_args a;
	if (!btls_parse(nargs, argv, &a, "kio-bench-tls --impl kio|kio-ktls|openssl") || !impl)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	memset(data, 'k', sizeof(data));
	if (strcmp(impl, "openssl") == 0)
		return run_openssl(&a);
	if (strcmp(impl, "kio") == 0 || strcmp(impl, "kio-ktls") == 0)
		return run_kio(&a, strcmp(impl, "kio-ktls") == 0);
	fprintf(stderr, "kio-bench-tls: --impl kio|kio-ktls|openssl\n");
	return 2;
}
