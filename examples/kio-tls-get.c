/* SPDX-License-Identifier: MIT */
/*
 * kio-tls-get - a TLS client on the C API: connects, verifies the server,
 * sends one line, prints the reply.
 *
 *   kio-tls-get --host NAME --port P [--ca CA] [--insecure]
 *               [--connect ADDR] [--line TEXT]
 *
 * Connects to 127.0.0.1:P, or to ADDR (a name resolved with kio_resolve(),
 * or an IPv4 address), and runs a TLS handshake that checks the server's
 * certificate against the CAs of the PEM file CA (the system's without
 * --ca) and the host name NAME, also sent through SNI. --insecure skips
 * every check (KIO_TLS_VERIFY_NONE). Then it sends TEXT and a newline
 * (default "hello from kio-tls-get"), prints the reply up to its first
 * newline, or up to the server's close_notify, on standard output, sends
 * close_notify and exits 0. What happened goes to standard error.
 *
 * On failure it exits 1 after one line naming the step, the error and
 * OpenSSL's reason (kio_tls_last_error()), e.g.
 *   kio-tls-get: handshake: Key was rejected by service (certificate
 *   verify failed: self-signed certificate)
 * Usage errors exit 2; no io_uring exits 77. Every step has a 10 s limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kio/kio.h>

#define STEP_TIMEOUT_NS (10ull * 1000000000ull)

struct client {
	kio_ctx *ctx;
	kio_pool *pool;
	kio_tls_config *config;
	kio_tls *tls;
	int fd;
	const char *host;
	int verified; /* 0 with --insecure */
	struct sockaddr_in addr;
	struct addrinfo *resolved;
	char *line;      /* TEXT and '\n' */
	size_t line_len;
	char reply[16384];
	size_t reply_len;
	const char *failed_step; /* NULL while all is well */
	int err;
	int done;
};

static void fail(struct client *c, const char *step, int err)
{
	c->failed_step = step;
	c->err = err;
}

/* Starts op (an id or an error) with the step limit. */
static void arm(struct client *c, const char *step, int64_t op)
{
	if (op < 0)
		fail(c, step, (int)op);
	else
		kio_op_timeout(c->ctx, op, STEP_TIMEOUT_NS);
}

static void on_shutdown(void *ud, int32_t res, uint32_t flags)
{
	struct client *c = ud;

	(void)flags;
	if (res < 0)
		fail(c, "shutdown", res);
	else
		c->done = 1;
}

static void on_read(void *ud, int32_t res, uint32_t flags)
{
	struct client *c = ud;

	(void)flags;
	if (res < 0) {
		fail(c, "read", res); /* -ECONNABORTED: cut off without close_notify */
		return;
	}
	c->reply_len += (size_t)res;
	if (res > 0 && !memchr(c->reply + c->reply_len - res, '\n', (size_t)res) &&
	    c->reply_len < sizeof(c->reply)) {
		arm(c, "read",
		    kio_tls_read(c->tls, c->reply + c->reply_len, sizeof(c->reply) - c->reply_len,
				 on_read, c));
		return;
	}
	/* A whole line, the server's close_notify (0) or a full buffer. */
	fwrite(c->reply, 1, c->reply_len, stdout);
	fflush(stdout);
	arm(c, "shutdown", kio_tls_shutdown(c->tls, on_shutdown, c));
}

static void on_write(void *ud, int32_t res, uint32_t flags)
{
	struct client *c = ud;

	(void)flags;
	if (res < 0) {
		fail(c, "write", res);
		return;
	}
	fprintf(stderr, "kio-tls-get: sent %d bytes\n", res); /* all of them */
	arm(c, "read", kio_tls_read(c->tls, c->reply, sizeof(c->reply), on_read, c));
}

/* Which path the session took after the handshake (kio_tls_ktls()). */
static const char *tls_path(unsigned ktls)
{
	switch (ktls) {
	case 0:
		return "user-space TLS";
	case KIO_TLS_KTLS_TX:
		return "kernel TLS (tx)";
	case KIO_TLS_KTLS_RX:
		return "kernel TLS (rx)";
	default:
		return "kernel TLS (tx, rx)";
	}
}

static void on_handshake(void *ud, int32_t res, uint32_t flags)
{
	struct client *c = ud;

	(void)flags;
	if (res < 0) {
		fail(c, "handshake", res);
		return;
	}
	fprintf(stderr, "kio-tls-get: handshake done: TLS 1.%d, %s, %s\n",
		kio_tls_version(c->tls) == KIO_TLS_VERSION_1_3 ? 3 : 2,
		c->verified ? "server verified" : "server NOT verified (--insecure)",
		tls_path(kio_tls_ktls(c->tls)));
	arm(c, "write", kio_tls_write(c->tls, c->line, c->line_len, on_write, c));
}

static void on_connect(void *ud, int32_t res, uint32_t flags)
{
	struct client *c = ud;
	char ip[INET_ADDRSTRLEN];
	int err;

	(void)flags;
	if (res < 0) {
		fail(c, "connect", res);
		return;
	}
	inet_ntop(AF_INET, &c->addr.sin_addr, ip, sizeof(ip));
	fprintf(stderr, "kio-tls-get: connected to %s:%u\n", ip, ntohs(c->addr.sin_port));
	err = kio_tls_create(&c->tls, c->ctx, c->config, c->fd, KIO_TLS_CLIENT);
	if (err < 0) {
		fail(c, "session", err);
		return;
	}
	arm(c, "handshake", kio_tls_handshake(c->tls, on_handshake, c));
}

static void start_connect(struct client *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(c, "socket", -errno);
		return;
	}
	arm(c, "connect",
	    kio_connect(c->ctx, c->fd, (const struct sockaddr *)&c->addr, sizeof(c->addr),
			on_connect, c));
}

static void on_resolve(void *ud, int32_t res, uint32_t flags)
{
	struct client *c = ud;
	uint16_t port = c->addr.sin_port;

	(void)flags;
	if (res < 0) {
		fail(c, "resolve", res);
		return;
	}
	memcpy(&c->addr, c->resolved->ai_addr, sizeof(c->addr));
	c->addr.sin_port = port;
	start_connect(c);
}

static int usage(void)
{
	fprintf(stderr, "usage: kio-tls-get --host NAME --port P [--ca CA] [--insecure]\n"
			"                   [--connect ADDR] [--line TEXT]\n");
	return 2;
}

/* The config: the name to check and the CAs to trust, or no checks at all. */
static int make_config(struct client *c, const char *ca, int insecure)
{
	int err = kio_tls_config_create(&c->config);

	if (err < 0) {
		fprintf(stderr, "kio-tls-get: TLS config: %s\n", kio_strerror(err));
		return err;
	}
	/* The name goes out through SNI in both modes; only checks differ. */
	err = kio_tls_config_set_server_name(c->config, c->host);
	if (err == 0 && insecure)
		err = kio_tls_config_set_verify(c->config, KIO_TLS_VERIFY_NONE);
	else if (err == 0 && ca)
		err = kio_tls_config_set_ca_file(c->config, ca, NULL);
	if (err < 0)
		fprintf(stderr, "kio-tls-get: TLS config: %s (%s)\n", kio_strerror(err),
			kio_tls_config_last_error(c->config));
	return err;
}

int main(int argc, char **argv)
{
	static struct client c;
	const char *ca = NULL, *connect_to = NULL, *text = "hello from kio-tls-get";
	long port = -1;
	int insecure = 0, err;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (strcmp(opt, "--insecure") == 0) {
			insecure = 1;
			continue;
		}
		if (i + 1 >= argc)
			return usage();
		if (strcmp(opt, "--ca") == 0)
			ca = argv[++i];
		else if (strcmp(opt, "--host") == 0)
			c.host = argv[++i];
		else if (strcmp(opt, "--port") == 0)
			port = strtol(argv[++i], NULL, 10);
		else if (strcmp(opt, "--connect") == 0)
			connect_to = argv[++i];
		else if (strcmp(opt, "--line") == 0)
			text = argv[++i];
		else
			return usage();
	}
	if (!c.host || port <= 0 || port > 65535)
		return usage();

	c.fd = -1;
	c.line_len = strlen(text) + 1;
	c.line = malloc(c.line_len);
	if (!c.line)
		return 1;
	memcpy(c.line, text, c.line_len - 1);
	c.line[c.line_len - 1] = '\n';
	c.addr.sin_family = AF_INET;
	c.addr.sin_port = htons((uint16_t)port);
	c.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	err = kio_ctx_create(&c.ctx, NULL, 0);
	if (err < 0) {
		fprintf(stderr, "kio-tls-get: kio_ctx_create: %s\n", kio_strerror(err));
		free(c.line);
		return err == -ENOSYS || err == -EPERM ? 77 : 1;
	}
	if (make_config(&c, ca, insecure) < 0) {
		kio_ctx_destroy(c.ctx);
		free(c.line);
		return 1;
	}
	c.verified = !insecure;

	if (connect_to && inet_pton(AF_INET, connect_to, &c.addr.sin_addr) != 1) {
		/* A name: getaddrinfo() runs on a pool thread, never on the loop. */
		static const struct addrinfo hints = {.ai_family = AF_INET,
						      .ai_socktype = SOCK_STREAM};
		err = kio_pool_create(&c.pool, 1);
		if (err < 0)
			fail(&c, "pool", err);
		else
			arm(&c, "resolve",
			    kio_resolve(c.ctx, c.pool, connect_to, NULL, &hints, &c.resolved,
					on_resolve, &c));
	} else {
		start_connect(&c);
	}
	while (!c.done && !c.failed_step && kio_ctx_pending(c.ctx) > 0)
		if (kio_ctx_run_once(c.ctx, -1) < 0)
			break;

	if (c.failed_step) {
		const char *why = c.tls ? kio_tls_last_error(c.tls) : "";
		fprintf(stderr, "kio-tls-get: %s: %s%s%s%s\n", c.failed_step, kio_strerror(c.err),
			*why ? " (" : "", why, *why ? ")" : "");
	} else if (c.done) {
		fprintf(stderr, "kio-tls-get: received %zu bytes, closed with close_notify\n",
			c.reply_len);
	}
	kio_tls_destroy(c.tls); /* cancels what is left; callbacks run at destroy */
	kio_ctx_destroy(c.ctx);
	kio_pool_destroy(c.pool);
	kio_tls_config_destroy(c.config);
	if (c.resolved)
		freeaddrinfo(c.resolved);
	if (c.fd >= 0)
		close(c.fd);
	free(c.line);
	return c.done && !c.failed_step ? 0 : 1;
}
