/* SPDX-License-Identifier: MIT */
/*
 * echo-client - drives an echo server and checks every byte it gets back.
 *
 *   echo-client [--host ADDR] [--port N] [--conns N] [--msgs N] [--size N]
 *               [--timeout-ms N]
 *   echo-client --help
 *
 * --host takes an IPv4 or IPv6 address (127.0.0.1 by default; ::1, [::1]).
 *
 * Opens --conns connections at once on one kio context (kio_socket(),
 * kio_connect()). On each, it sends --msgs messages of --size bytes one
 * after the other; after each message it reads until the whole echo is
 * back and compares it byte for byte. Every message of every connection
 * holds different bytes, so an echo that went to the wrong connection, or
 * came back out of order, shows. Finally each connection shuts down its
 * sending side and expects end of stream from the server.
 *
 * Sends and receives may be short: the client continues from where the
 * kernel stopped. Each receive gets a kio_op_timeout(), so a server that
 * stops answering makes the client fail instead of hang.
 *
 * Prints a summary. Exit status: 0 when every echo matched (and after
 * --help), 1 on a mismatch or an error, 2 on a bad option or argument, 77
 * when the system has no io_uring.
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ull

struct client;

struct conn {
	struct client *cl;
	unsigned id;
	int fd;
	unsigned msg;       /* the message being echoed */
	size_t sent, got;
	unsigned char *out, *in;
	int done;
};

struct client {
	kio_ctx *ctx;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	unsigned conns, msgs;
	size_t size;
	uint64_t timeout_ns;
	unsigned finished;
	unsigned long long echoes;
	int failed;
};

static unsigned char pattern(unsigned conn, unsigned msg, size_t i)
{
	return (unsigned char)(conn * 31u + msg * 7u + i * 13u + (i >> 8));
}

static void conn_fail(struct conn *c, const char *what, int err)
{
	if (!c->done) {
		fprintf(stderr, "echo-client: connection %u, message %u: %s: %s\n", c->id, c->msg, what,
			kio_strerror(err));
		c->cl->failed = 1;
		c->done = 1;
		c->cl->finished++;
	}
}

static void conn_finish(struct conn *c)
{
	c->done = 1;
	c->cl->finished++;
}

static void on_send(void *user_data, int32_t res, uint32_t flags);
static void on_recv(void *user_data, int32_t res, uint32_t flags);

static void send_more(struct conn *c)
{
	struct client *cl = c->cl;
	int64_t op = kio_send(cl->ctx, c->fd, c->out + c->sent, cl->size - c->sent, 0, on_send, c);
	if (op < 0)
		conn_fail(c, "send", (int)op);
}

static void recv_more(struct conn *c)
{
	struct client *cl = c->cl;
	size_t room = c->msg < cl->msgs ? cl->size - c->got : 1;
	int64_t op = kio_recv(cl->ctx, c->fd, c->in + c->got, room, 0, on_recv, c);
	if (op < 0) {
		conn_fail(c, "recv", (int)op);
		return;
	}
	kio_op_timeout(cl->ctx, op, cl->timeout_ns);
}

static void on_shutdown(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	(void)flags;
	if (res < 0)
		conn_fail(c, "shutdown", res);
}

static void start_message(struct conn *c)
{
	struct client *cl = c->cl;
	if (c->msg == cl->msgs) {
		/* All echoed: say so, and expect the server to close. */
		c->got = 0;
		if (kio_shutdown(cl->ctx, c->fd, SHUT_WR, on_shutdown, c) < 0)
			conn_fail(c, "shutdown", -EIO);
		else
			recv_more(c);
		return;
	}
	for (size_t i = 0; i < cl->size; i++)
		c->out[i] = pattern(c->id, c->msg, i);
	c->sent = c->got = 0;
	send_more(c);
	recv_more(c);
}

static void on_send(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	(void)flags;
	if (res < 0) {
		conn_fail(c, "send", res);
		return;
	}
	c->sent += (size_t)res;
	if (c->sent < c->cl->size)
		send_more(c); /* a short send: the rest */
	else if (c->got == c->cl->size) {
		c->msg++; /* the echo was back first */
		start_message(c);
	}
}

static void on_recv(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	struct client *cl = c->cl;
	(void)flags;
	if (c->done)
		return;
	if (res < 0) {
		conn_fail(c, "recv", res);
		return;
	}
	if (c->msg == cl->msgs) {
		if (res == 0)
			conn_finish(c); /* the server closed after the last echo */
		else
			conn_fail(c, "bytes after the last echo", -EPROTO);
		return;
	}
	if (res == 0) {
		conn_fail(c, "server closed early", -ECONNRESET);
		return;
	}
	for (size_t i = c->got; i < c->got + (size_t)res; i++) {
		if (c->in[i] != pattern(c->id, c->msg, i)) {
			fprintf(stderr, "echo-client: MISMATCH on connection %u, message %u, byte %zu\n", c->id,
				c->msg, i);
			conn_fail(c, "echo differs", -EPROTO);
			return;
		}
	}
	c->got += (size_t)res;
	if (c->got < cl->size) {
		recv_more(c);
		return;
	}
	cl->echoes++;
	/* The send's own callback may still be on its way: the last of the
	 * two starts the next message. */
	if (c->sent == cl->size) {
		c->msg++;
		start_message(c);
	}
}

static void on_connect(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	(void)flags;
	if (res < 0) {
		conn_fail(c, "connect", res);
		return;
	}
	start_message(c);
}

static void on_socket(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	struct client *cl = c->cl;
	(void)flags;
	if (res < 0) {
		conn_fail(c, "socket", res);
		return;
	}
	c->fd = res;
	int64_t op = kio_connect(cl->ctx, c->fd, (struct sockaddr *)&cl->addr, cl->addr_len,
				 on_connect, c);
	if (op < 0)
		conn_fail(c, "connect", (int)op);
	else
		kio_op_timeout(cl->ctx, op, cl->timeout_ns);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* --help: on stdout, exit 0; a usage error: on stderr, exit 2. */
static int usage(FILE *to, int status)
{
	fprintf(to, "usage: echo-client [--host ADDR] [--port N] [--conns N] [--msgs N] [--size N]\n"
		    "                   [--timeout-ms N]\n"
		    "       echo-client --help\n"
		    "  --host ADDR       IPv4 or IPv6 address of the server (127.0.0.1)\n"
		    "  --port N          its port (7777)\n"
		    "  --conns N         connections at once (10)\n"
		    "  --msgs N          messages per connection (100)\n"
		    "  --size N          bytes per message (512)\n"
		    "  --timeout-ms N    give up on a receive after N ms (5000)\n"
		    "  --help            this text\n");
	return status;
}

/* A whole decimal number in [min, max], or -1. */
static long parse_num(const char *text, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return -1;
	return v;
}

/* An IPv4 or IPv6 address (brackets allowed around IPv6) and a port. */
static int parse_addr(const char *text, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN];
	size_t n = strlen(text);
	memset(ss, 0, sizeof(*ss));
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, text + 1, n - 2);
		buf[n - 2] = 0;
		text = buf;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (text != buf && inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"conns", required_argument, NULL, 'c'},
		{"msgs", required_argument, NULL, 'm'},
		{"size", required_argument, NULL, 's'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *host = "127.0.0.1";
	long port = 7777, conns = 10, msgs = 100, size = 512, timeout_ms = 5000;
	static struct client cl;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = parse_num(optarg, 1, 65535);
			break;
		case 'c':
			conns = parse_num(optarg, 1, 100000);
			break;
		case 'm':
			msgs = parse_num(optarg, 0, 100000000);
			break;
		case 's':
			size = parse_num(optarg, 1, 64l << 20);
			break;
		case 't':
			timeout_ms = parse_num(optarg, 1, LONG_MAX / 1000000);
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (optind < argc || port < 0 || conns < 0 || msgs < 0 || size < 0 || timeout_ms < 0)
		return usage(stderr, 2);
	if (parse_addr(host, (int)port, &cl.addr, &cl.addr_len) < 0) {
		fprintf(stderr, "echo-client: --host %s: not an IPv4 or IPv6 address\n", host);
		return usage(stderr, 2);
	}
	cl.conns = (unsigned)conns;
	cl.msgs = (unsigned)msgs;
	cl.size = (size_t)size;
	cl.timeout_ns = (uint64_t)timeout_ms * MS;

	rc = kio_ctx_create(&cl.ctx, NULL, 0);
	if (rc < 0) {
		fprintf(stderr, "echo-client: cannot create a kio context: %s\n", kio_strerror(rc));
		return rc == -ENOSYS || rc == -EPERM ? 77 : 1;
	}
	struct conn *cs = calloc((size_t)conns, sizeof(*cs));
	if (!cs)
		return 1;
	double t0 = now_ms();
	for (unsigned i = 0; i < cl.conns; i++) {
		struct conn *c = &cs[i];
		c->cl = &cl;
		c->id = i;
		c->fd = -1;
		c->out = malloc(cl.size);
		c->in = malloc(cl.size);
		if (!c->out || !c->in)
			return 1;
		if (kio_socket(cl.ctx, cl.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0, on_socket, c) < 0)
			conn_fail(c, "socket", -EIO);
	}
	/* Until every connection finished or failed; a failure stops the rest. */
	while (cl.finished < cl.conns && !cl.failed) {
		rc = kio_ctx_run_once(cl.ctx, -1);
		if (rc < 0) {
			fprintf(stderr, "echo-client: kio_ctx_run_once: %s\n", kio_strerror(rc));
			cl.failed = 1;
		}
	}
	double ms = now_ms() - t0;
	kio_ctx_destroy(cl.ctx); /* cancels what a failure left running */

	for (unsigned i = 0; i < cl.conns; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		free(cs[i].out);
		free(cs[i].in);
	}
	free(cs);
	printf("echo-client: %u connections x %u messages x %zu bytes: %llu of %llu echoes verified, "
	       "%.0f ms%s\n",
	       cl.conns, cl.msgs, cl.size, cl.echoes, (unsigned long long)cl.conns * cl.msgs, ms,
	       cl.failed ? " - FAILED" : "");
	return cl.failed ? 1 : 0;
}
