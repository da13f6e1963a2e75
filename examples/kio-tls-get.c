/* SPDX-License-Identifier: MIT */
/*
 * kio-tls-get - a TLS client on the C API: connects, verifies the server,
 * sends one line, prints the reply.
 *
 *   kio-tls-get --host NAME --port P [--ca CA] [--insecure]
 *               [--connect ADDR] [--line TEXT]
 *   kio-tls-get --help
 *
 * Connects to 127.0.0.1:P, or to ADDR (an IPv4 or IPv6 address, or a name
 * resolved to IPv4 with kio_resolve()), and runs a TLS handshake that checks the server's
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
 * --help prints the usage and exits 0; usage errors exit 2; no io_uring
 * exits 77. Every step has a 10 s limit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} addr;
	socklen_t addr_len;
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
	char ip[INET6_ADDRSTRLEN];
	int err;

	(void)flags;
	if (res < 0) {
		fail(c, "connect", res);
		return;
	}
	if (c->addr.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &c->addr.in6.sin6_addr, ip, sizeof(ip));
		fprintf(stderr, "kio-tls-get: connected to [%s]:%u\n", ip,
			ntohs(c->addr.in6.sin6_port));
	} else {
		inet_ntop(AF_INET, &c->addr.in.sin_addr, ip, sizeof(ip));
		fprintf(stderr, "kio-tls-get: connected to %s:%u\n", ip, ntohs(c->addr.in.sin_port));
	}
	err = kio_tls_create(&c->tls, c->ctx, c->config, c->fd, KIO_TLS_CLIENT);
	if (err < 0) {
		fail(c, "session", err);
		return;
	}
	arm(c, "handshake", kio_tls_handshake(c->tls, on_handshake, c));
}

static void start_connect(struct client *c)
{
	c->fd = socket(c->addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(c, "socket", -errno);
		return;
	}
	arm(c, "connect", kio_connect(c->ctx, c->fd, &c->addr.sa, c->addr_len, on_connect, c));
}

static void on_resolve(void *ud, int32_t res, uint32_t flags)
{
	struct client *c = ud;
	uint16_t port = c->addr.in.sin_port;

	(void)flags;
	if (res < 0) {
		fail(c, "resolve", res);
		return;
	}
	memcpy(&c->addr.in, c->resolved->ai_addr, sizeof(c->addr.in));
	c->addr.in.sin_port = port;
	c->addr_len = sizeof(c->addr.in);
	start_connect(c);
}

/* --help: on stdout, exit 0; a usage error: on stderr, exit 2. */
static int usage(FILE *to, int status)
{
	fprintf(to, "usage: kio-tls-get --host NAME --port P [--ca CA] [--insecure]\n"
		    "                   [--connect ADDR] [--line TEXT]\n"
		    "       kio-tls-get --help\n"
		    "  --host NAME     the name to verify and send (SNI)\n"
		    "  --port P        the server's port\n"
		    "  --ca CA         PEM file of the CAs to trust (the system's)\n"
		    "  --insecure      no certificate or name checks\n"
		    "  --connect ADDR  IPv4 or IPv6 address or name to connect to (127.0.0.1)\n"
		    "  --line TEXT     the line to send (hello from kio-tls-get)\n"
		    "  --help          this text\n");
	return status;
}

/* An IPv4 or IPv6 literal (brackets allowed around IPv6) into c->addr. */
static int parse_literal(struct client *c, const char *text, uint16_t port)
{
	char buf[INET6_ADDRSTRLEN];
	size_t n = strlen(text);
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, text + 1, n - 2);
		buf[n - 2] = 0;
		if (inet_pton(AF_INET6, buf, &c->addr.in6.sin6_addr) != 1)
			return -1;
	} else if (inet_pton(AF_INET, text, &c->addr.in.sin_addr) == 1) {
		c->addr.in.sin_family = AF_INET;
		c->addr.in.sin_port = htons(port);
		c->addr_len = sizeof(c->addr.in);
		return 0;
	} else if (inet_pton(AF_INET6, text, &c->addr.in6.sin6_addr) != 1) {
		return -1;
	}
	c->addr.in6.sin6_family = AF_INET6;
	c->addr.in6.sin6_port = htons(port);
	c->addr_len = sizeof(c->addr.in6);
	return 0;
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

	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"ca", required_argument, NULL, 'c'},
		{"insecure", no_argument, NULL, 'k'},
		{"connect", required_argument, NULL, 'C'},
		{"line", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			c.host = optarg;
			break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end)
				port = -1;
			break;
		case 'c':
			ca = optarg;
			break;
		case 'k':
			insecure = 1;
			break;
		case 'C':
			connect_to = optarg;
			break;
		case 'l':
			text = optarg;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (optind < argc || !c.host || port <= 0 || port > 65535)
		return usage(stderr, 2);

	c.fd = -1;
	c.line_len = strlen(text) + 1;
	c.line = malloc(c.line_len);
	if (!c.line)
		return 1;
	memcpy(c.line, text, c.line_len - 1);
	c.line[c.line_len - 1] = '\n';
	c.addr.in.sin_family = AF_INET;
	c.addr.in.sin_port = htons((uint16_t)port);
	c.addr.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c.addr_len = sizeof(c.addr.in);

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

	if (connect_to && parse_literal(&c, connect_to, (uint16_t)port) < 0) {
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
