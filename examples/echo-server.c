/* SPDX-License-Identifier: MIT */
/*
 * echo-server - a TCP echo server on one kio context and one thread.
 *
 *   echo-server [--bind ADDR] [--port N] [--bufs N] [--size N]
 *   echo-server --help
 *
 * --bind takes an IPv4 or IPv6 address (127.0.0.1, ::1, [::1], 0.0.0.0 for
 * every interface); the default is 127.0.0.1, loopback only.
 *
 * One kio_accept_multishot() takes every connection; each connection has
 * one kio_recv_multishot() that receives into a shared ring of provided
 * buffers (kio/buf.h), so an idle connection holds no memory. Received
 * buffers are queued per connection and sent back in order with
 * kio_send(); a buffer goes back to the ring once all of it was sent.
 *
 * The awkward cases are handled the way the man pages advise:
 *  - the ring runs dry (-ENOBUFS ends a receive): the connection waits
 *    until a buffer is released, then its receive is started again;
 *  - out of fds (-EMFILE/-ENFILE ends the accept): wait 100 ms, accept again;
 *  - SIGINT or SIGTERM: read through a signalfd with kio_poll() (no signal
 *    handler); stop accepting, cancel the receives, give pending sends one
 *    second, close every connection, and let kio_ctx_run() return.
 *
 * It prints "echo-server: listening on ADDR:PORT" ("[ADDR]:PORT" for IPv6)
 * once it accepts (with --port 0, the default, the kernel picks the port)
 * and a summary when it stops. Exit status: 0 after a clean stop (and after
 * --help), 1 on errors, 2 on a bad option or argument, 77 when the system
 * has no io_uring.
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MS 1000000ull

struct server;

struct conn {
	struct server *srv;
	int fd;
	int64_t recv_op;    /* the multishot receive, while recv_active */
	int64_t send_op;    /* the send in flight, while send_active */
	int recv_active;
	int send_active;
	int starved;        /* its receive ended with -ENOBUFS */
	int eof;            /* nothing more to receive: close when drained */
	int closing;
	int32_t head, tail; /* queue of received buffers (ids), -1: empty */
	uint32_t off;       /* bytes of the head buffer already sent */
	struct conn *prev, *next;
};

struct server {
	kio_ctx *ctx;
	kio_buf_ring *ring;
	uint32_t nbufs;
	int32_t *next_buf;  /* queue links, indexed by buffer id */
	uint32_t *buf_len;  /* bytes received into each queued buffer */
	int lfd;
	int sigfd;
	struct signalfd_siginfo siginfo;
	int64_t accept_op;
	int accepting;
	int stopping;
	int errors;
	struct conn *conns; /* live connections */
	unsigned long accepted;
	unsigned long long echoed;
	unsigned long restarts; /* receives started again after -ENOBUFS */
};

static void conn_send_next(struct conn *c);
static void conn_maybe_close(struct conn *c);
static void start_accept(struct server *s);

static void on_closed(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	struct server *s = c->srv;
	(void)res;
	(void)flags;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* Hands every queued buffer back to the ring (the data is dropped). */
static void conn_drop_queue(struct conn *c)
{
	struct server *s = c->srv;
	while (c->head >= 0) {
		int32_t id = c->head;
		c->head = s->next_buf[id];
		kio_buf_ring_release(s->ring, (uint16_t)id);
	}
	c->tail = -1;
	c->off = 0;
}

static void conn_maybe_close(struct conn *c)
{
	if (!c->eof || c->recv_active || c->send_active || c->closing)
		return;
	conn_drop_queue(c);
	c->closing = 1;
	if (kio_close(c->srv->ctx, c->fd, on_closed, c) < 0) {
		close(c->fd);
		on_closed(c, 0, 0);
	}
}

static void on_recv(void *user_data, int32_t res, uint32_t flags);

static void conn_start_recv(struct conn *c)
{
	c->starved = 0;
	c->recv_op = kio_recv_multishot(c->srv->ctx, c->fd, c->srv->ring, 0, on_recv, c);
	if (c->recv_op < 0) {
		c->eof = 1;
		conn_maybe_close(c);
		return;
	}
	c->recv_active = 1;
}

/* A buffer went back to the ring: connections that ran dry go on. */
static void restart_starved(struct server *s)
{
	for (struct conn *c = s->conns, *next; c; c = next) {
		next = c->next; /* c may be freed below */
		if (c->starved && !c->eof && !s->stopping) {
			s->restarts++;
			conn_start_recv(c);
		}
	}
}

static void on_recv(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	struct server *s = c->srv;

	if (res > 0 && (flags & KIO_F_BUFFER)) {
		int32_t id = (int32_t)(flags >> 16);
		s->buf_len[id] = (uint32_t)res;
		s->next_buf[id] = -1;
		if (c->tail >= 0)
			s->next_buf[c->tail] = id;
		else
			c->head = id;
		c->tail = id;
		if (!c->send_active)
			conn_send_next(c);
	}
	if (flags & KIO_F_MORE)
		return;
	/* The receive ended. */
	c->recv_active = 0;
	if (res == -ENOBUFS && !s->stopping)
		c->starved = 1; /* restarted by restart_starved() */
	else if (res <= 0)
		c->eof = 1;     /* end of stream, an error, or a cancel */
	else
		conn_start_recv(c); /* a final callback that carried data */
	conn_maybe_close(c);
}

static void on_sent(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	struct server *s = c->srv;
	(void)flags;
	c->send_active = 0;
	if (res < 0) {
		/* The peer is gone (-EPIPE, -ECONNRESET) or we are stopping. */
		c->eof = 1;
		if (c->recv_active)
			kio_op_cancel(s->ctx, c->recv_op);
		conn_drop_queue(c);
		restart_starved(s);
		conn_maybe_close(c);
		return;
	}
	s->echoed += (unsigned long long)res;
	c->off += (uint32_t)res;
	if (c->off == s->buf_len[c->head]) {
		int32_t id = c->head;
		c->head = s->next_buf[id];
		if (c->head < 0)
			c->tail = -1;
		c->off = 0;
		kio_buf_ring_release(s->ring, (uint16_t)id);
		restart_starved(s);
	}
	conn_send_next(c);
	conn_maybe_close(c);
}

static void conn_send_next(struct conn *c)
{
	struct server *s = c->srv;
	if (c->head < 0 || c->send_active)
		return;
	const char *data = kio_buf_ring_data(s->ring, (uint16_t)c->head);
	/* A short send is normal: on_sent() sends the rest. */
	c->send_op = kio_send(s->ctx, c->fd, data + c->off, s->buf_len[c->head] - c->off, 0, on_sent, c);
	if (c->send_op < 0) {
		c->eof = 1;
		conn_drop_queue(c);
		return;
	}
	c->send_active = 1;
	if (s->stopping)
		kio_op_timeout(s->ctx, c->send_op, 1000 * MS);
}

static void on_accept_retry(void *user_data, int32_t res, uint32_t flags)
{
	struct server *s = user_data;
	(void)res;
	(void)flags;
	if (!s->stopping)
		start_accept(s);
}

static void on_accept(void *user_data, int32_t res, uint32_t flags)
{
	struct server *s = user_data;

	if (flags & KIO_F_MORE) {
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(res);
			return;
		}
		c->srv = s;
		c->fd = res;
		c->head = c->tail = -1;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->accepted++;
		conn_start_recv(c);
		return;
	}
	s->accepting = 0;
	if (s->stopping)
		return;
	if (res == -EMFILE || res == -ENFILE) {
		/* Starting again at once would fail at once: let some
		 * connections end first. */
		if (kio_sleep(s->ctx, 100 * MS, on_accept_retry, s) >= 0)
			return;
	}
	fprintf(stderr, "echo-server: accept: %s\n", kio_strerror(res));
	s->errors++;
}

static void start_accept(struct server *s)
{
	s->accept_op = kio_accept_multishot(s->ctx, s->lfd, SOCK_CLOEXEC, on_accept, s);
	if (s->accept_op < 0) {
		fprintf(stderr, "echo-server: accept: %s\n", kio_strerror((int)s->accept_op));
		s->errors++;
		return;
	}
	s->accepting = 1;
}

static void on_signal(void *user_data, int32_t res, uint32_t flags)
{
	struct server *s = user_data;
	(void)flags;
	if (res < 0)
		return; /* cancelled */
	if (read(s->sigfd, &s->siginfo, sizeof(s->siginfo)) != (ssize_t)sizeof(s->siginfo)) {
		kio_poll(s->ctx, s->sigfd, POLLIN, on_signal, s);
		return;
	}
	printf("echo-server: %s, stopping\n", strsignal((int)s->siginfo.ssi_signo));
	fflush(stdout);
	s->stopping = 1;
	if (s->accepting)
		kio_op_cancel(s->ctx, s->accept_op);
	/* Every op ends; kio_ctx_run() returns when none is left. */
	for (struct conn *c = s->conns, *next; c; c = next) {
		next = c->next; /* c may be freed below */
		c->eof = 1;
		if (c->recv_active)
			kio_op_cancel(s->ctx, c->recv_op);
		if (c->send_active)
			kio_op_timeout(s->ctx, c->send_op, 1000 * MS);
		conn_maybe_close(c);
	}
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

/* "127.0.0.1:7777" or "[::1]:7777". */
static void format_addr(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(out, size, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(out, size, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
	}
}

static int listen_on(struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)ss, len) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)ss, &len) < 0) {
		perror("echo-server: listen");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* --help: on stdout, exit 0; a usage error: on stderr, exit 2. */
static int usage(FILE *to, int status)
{
	fprintf(to, "usage: echo-server [--bind ADDR] [--port N] [--bufs N] [--size N]\n"
		    "       echo-server --help\n"
		    "  --bind ADDR  IPv4 or IPv6 address to listen on; 0.0.0.0 or :: for every\n"
		    "               interface (127.0.0.1: loopback only)\n"
		    "  --port N     port; 0 lets the kernel choose (0)\n"
		    "  --bufs N     buffers in the ring, a power of two (256)\n"
		    "  --size N     bytes per buffer (4096)\n"
		    "  --help       this text\n"
		    "Stops cleanly on SIGINT or SIGTERM.\n");
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"bind", required_argument, NULL, 'b'},
		{"port", required_argument, NULL, 'p'},
		{"bufs", required_argument, NULL, 'n'},
		{"size", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *bind_addr = "127.0.0.1";
	long port = 0, nbufs = 256, size = 4096;
	static struct server s;
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char text[INET6_ADDRSTRLEN + 8];
	sigset_t sigs;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			bind_addr = optarg;
			break;
		case 'p':
			port = parse_num(optarg, 0, 65535);
			break;
		case 'n':
			nbufs = parse_num(optarg, 1, 32768);
			break;
		case 's':
			size = parse_num(optarg, 1, 1l << 20);
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (optind < argc || port < 0 || nbufs < 0 || (nbufs & (nbufs - 1)) || size < 0)
		return usage(stderr, 2);
	if (parse_addr(bind_addr, (int)port, &sa, &sa_len) < 0) {
		fprintf(stderr, "echo-server: --bind %s: not an IPv4 or IPv6 address\n", bind_addr);
		return usage(stderr, 2);
	}

	/* Signals arrive through a signalfd that the loop polls: blocked
	 * first, so they wait there instead of killing the process. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	s.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sigfd < 0) {
		perror("echo-server: signalfd");
		return 1;
	}

	rc = kio_ctx_create(&s.ctx, NULL, 0);
	if (rc < 0) {
		fprintf(stderr, "echo-server: cannot create a kio context: %s\n", kio_strerror(rc));
		return rc == -ENOSYS || rc == -EPERM ? 77 : 1;
	}
	rc = kio_buf_ring_create(&s.ring, s.ctx, 0, (uint32_t)nbufs, (uint32_t)size);
	if (rc < 0) {
		fprintf(stderr, "echo-server: cannot create a buffer ring: %s\n", kio_strerror(rc));
		kio_ctx_destroy(s.ctx);
		return rc == -EOPNOTSUPP ? 77 : 1;
	}
	s.nbufs = (uint32_t)nbufs;
	s.next_buf = calloc(nbufs, sizeof(*s.next_buf));
	s.buf_len = calloc(nbufs, sizeof(*s.buf_len));
	s.lfd = listen_on(&sa, sa_len);
	if (!s.next_buf || !s.buf_len || s.lfd < 0)
		return 1;

	start_accept(&s);
	if (kio_poll(s.ctx, s.sigfd, POLLIN, on_signal, &s) < 0 || s.errors)
		return 1;
	format_addr(&sa, text, sizeof(text));
	printf("echo-server: listening on %s\n", text);
	fflush(stdout);

	rc = kio_ctx_run(s.ctx);
	if (rc < 0) {
		fprintf(stderr, "echo-server: kio_ctx_run: %s\n", kio_strerror(rc));
		s.errors++;
	}
	printf("echo-server: stopped after %lu connections, %llu bytes echoed, %lu receives restarted "
	       "after -ENOBUFS\n",
	       s.accepted, s.echoed, s.restarts);

	kio_ctx_destroy(s.ctx);
	kio_buf_ring_destroy(s.ring);
	close(s.lfd);
	close(s.sigfd);
	free(s.next_buf);
	free(s.buf_len);
	return s.errors ? 1 : 0;
}
