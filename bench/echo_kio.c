/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-echo-kio - the TCP echo server of the benchmark, on kio's C API.
 *
 *   kio-bench-echo-kio [--port P] [--bufs N] [--size B] [--bundle] [--inc]
 *                      [--recv-timeout-ms MS]
 *
 * One thread, one kio context. kio_accept_multishot() takes connections;
 * each one has a kio_recv_multishot() into a shared ring of provided
 * buffers (N buffers of B bytes; 1024 x 4096 by default), and received
 * buffers go back with kio_send(), one send at a time per connection, in
 * order. A buffer returns to the ring once all of it was sent. Nothing is
 * allocated per message.
 *
 * --bundle creates the ring KIO_BUF_RING_BUNDLE (one completion may fill
 * several buffers); --inc creates it KIO_BUF_RING_INCREMENTAL, so the kernel fills each buffer in parts: the
 * queue then holds parts (from a fixed pool), and a buffer returns to the
 * ring once its last part came and every part of it was sent.
 *
 * --recv-timeout-ms MS gives every connection an idle deadline, as a real
 * server has: kio_op_timeout() arms MS on each receive op and re-arms it
 * after every message, so a connection that sends nothing for MS ms ends
 * with -ETIMEDOUT and is closed. The benchmark never lets it fire: what it
 * measures is the cost of re-arming it per message.
 *
 * Prints "backend io_uring|epoll" (kio_ctx_backend(); KIO_BACKEND=epoll in
 * the environment picks the epoll backend) and "port N" once it accepts
 * (--port 0, the default, lets the kernel choose). SIGINT/SIGTERM (read
 * through a signalfd by kio_poll) stop the loop; it then prints "cpu_ns N"
 * (its getrusage user+sys time) and exits 0. Exit 77: no io_uring (with
 * KIO_BACKEND=io_uring) or no buffer rings on this system.
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_args.h"
#include "bench_util.h"

struct server;

struct conn {
	struct server *srv;
	int fd;
	int recv_active;
	int send_active;
	int starved; /* the receive ended with -ENOBUFS */
	int eof;
	int64_t recv_op;    /* the receive's op id (--recv-timeout-ms re-arms it) */
	int32_t head, tail; /* queue of received buffer ids; -1: empty */
	uint32_t off;       /* bytes of the head buffer already sent */
	struct conn *prev, *next;
};

struct server {
	kio_ctx *ctx;
	kio_buf_ring *ring;
	int32_t *next_buf;  /* queue links, by piece (buffer id, or part with --inc) */
	uint32_t *buf_len;  /* bytes received into each queued piece */
	int inc;            /* --inc: pieces are parts of buffers */
	int bundle;         /* --bundle */
	uint16_t *part_buf; /* --inc: the buffer of each part, its offset there */
	uint32_t *part_off;
	int32_t free_part;  /* --inc: free part records, linked through next_buf */
	uint32_t *buf_refs; /* --inc: queued parts of each buffer */
	uint8_t *buf_done;  /* --inc: its last part came */
	int lfd, sigfd;
	int stopping;
	uint64_t recv_timeout_ns; /* --recv-timeout-ms; 0: none */
	unsigned starved; /* connections waiting for a buffer */
	struct conn *conns;
};

static void on_recv(void *user_data, int32_t res, uint32_t flags);

#define MAX_PARTS 65536

static const char *piece_data(struct server *s, int32_t p)
{
	if (!s->inc)
		return kio_buf_ring_data(s->ring, (uint16_t)p);
	return (const char *)kio_buf_ring_data(s->ring, s->part_buf[p]) + s->part_off[p];
}

/* Piece p was sent (or dropped): its buffer goes back once nothing of it is queued. */
static void piece_done(struct server *s, int32_t p)
{
	if (!s->inc) {
		kio_buf_ring_release(s->ring, (uint16_t)p);
		return;
	}
	uint16_t id = s->part_buf[p];
	s->next_buf[p] = s->free_part;
	s->free_part = p;
	if (--s->buf_refs[id] == 0 && s->buf_done[id]) {
		s->buf_done[id] = 0;
		kio_buf_ring_release(s->ring, id);
	}
}

/* The piece for a callback's bytes, or -1 when the part pool ran out. */
static int32_t piece_new(struct server *s, uint32_t flags)
{
	uint16_t id = (uint16_t)(flags >> 16);
	if (!s->inc)
		return id;
	int32_t p = s->free_part;
	if (p < 0)
		return -1;
	s->free_part = s->next_buf[p];
	s->part_buf[p] = id;
	s->part_off[p] = (uint32_t)kio_buf_ring_offset(s->ring, id);
	s->buf_refs[id]++;
	if (!(flags & KIO_F_BUF_MORE))
		s->buf_done[id] = 1;
	return p;
}
static void conn_send_next(struct conn *c);

static void conn_start_recv(struct conn *c)
{
	struct server *s = c->srv;
	c->recv_op = kio_recv_multishot(s->ctx, c->fd, s->ring, 0, on_recv, c);
	if (c->recv_op < 0) {
		c->eof = 1;
		return;
	}
	c->recv_active = 1;
	if (s->recv_timeout_ns)
		kio_op_timeout(s->ctx, c->recv_op, s->recv_timeout_ns);
}

static void conn_drop_queue(struct conn *c)
{
	while (c->head >= 0) {
		int32_t id = c->head;
		c->head = c->srv->next_buf[id];
		piece_done(c->srv, id);
	}
	c->tail = -1;
	c->off = 0;
}

/* Frees c once nothing of it is in flight. */
static void conn_maybe_close(struct conn *c)
{
	struct server *s = c->srv;
	if (!c->eof || c->recv_active || c->send_active)
		return;
	conn_drop_queue(c);
	if (c->starved)
		s->starved--;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd);
	free(c);
}

/* A buffer went back: receives that ran dry start again. */
static void restart_starved(struct server *s)
{
	for (struct conn *c = s->conns; c && s->starved; c = c->next) {
		if (c->starved) {
			c->starved = 0;
			s->starved--;
			conn_start_recv(c);
		}
	}
}

static void on_recv(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	struct server *s = c->srv;

	if (res > 0 && (flags & KIO_F_BUFFER)) {
		int32_t id = piece_new(s, flags);
		if (id < 0) {
			fprintf(stderr, "echo-kio: out of part records\n");
			kio_ctx_stop(s->ctx);
			return;
		}
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
	if (flags & KIO_F_MORE) {
		/* A message came: the idle deadline starts again. */
		if (s->recv_timeout_ns)
			kio_op_timeout(s->ctx, c->recv_op, s->recv_timeout_ns);
		return;
	}
	c->recv_active = 0;
	if (s->stopping)
		c->eof = 1;
	else if (res == -ENOBUFS) {
		c->starved = 1;
		s->starved++;
	} else if (res <= 0)
		c->eof = 1;
	else
		conn_start_recv(c); /* the last callback carried data */
	conn_maybe_close(c);
}

static void on_sent(void *user_data, int32_t res, uint32_t flags)
{
	struct conn *c = user_data;
	struct server *s = c->srv;
	(void)flags;
	c->send_active = 0;
	if (res < 0 || s->stopping) {
		c->eof = 1;
		conn_drop_queue(c);
		conn_maybe_close(c);
		return;
	}
	c->off += (uint32_t)res;
	if (c->off == s->buf_len[c->head]) {
		int32_t id = c->head;
		c->head = s->next_buf[id];
		if (c->head < 0)
			c->tail = -1;
		c->off = 0;
		piece_done(s, id);
		if (s->starved)
			restart_starved(s);
	}
	conn_send_next(c);
	conn_maybe_close(c);
}

static void conn_send_next(struct conn *c)
{
	struct server *s = c->srv;
	if (c->head < 0 || c->send_active || c->eof)
		return;
	const char *data = piece_data(s, c->head);
	uint32_t len = s->buf_len[c->head] - c->off;
	if (kio_send(s->ctx, c->fd, data + c->off, len, 0, on_sent, c) < 0) {
		c->eof = 1;
		conn_drop_queue(c);
		return;
	}
	c->send_active = 1;
}

static void on_accept(void *user_data, int32_t res, uint32_t flags)
{
	struct server *s = user_data;
	int one = 1;

	if (res >= 0) {
		struct conn *c = calloc(1, sizeof(*c));
		if (!c || s->stopping) {
			free(c);
			close(res);
		} else {
			setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			c->srv = s;
			c->fd = res;
			c->head = c->tail = -1;
			c->next = s->conns;
			if (s->conns)
				s->conns->prev = c;
			s->conns = c;
			conn_start_recv(c);
			conn_maybe_close(c);
		}
	}
	if (!(flags & KIO_F_MORE) && !s->stopping) {
		if (res < 0)
			fprintf(stderr, "echo-kio: accept: %s\n", kio_strerror(res));
		if (kio_accept_multishot(s->ctx, s->lfd, SOCK_CLOEXEC, on_accept, s) < 0)
			kio_ctx_stop(s->ctx);
	}
}

static void on_signal(void *user_data, int32_t res, uint32_t flags)
{
	struct server *s = user_data;
	(void)res;
	(void)flags;
	s->stopping = 1;
	kio_ctx_stop(s->ctx);
}

static int listen_on(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sa);
	int one = 1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("echo-kio: listen");
		return -1;
	}
	return ntohs(sa.sin_port) ? fd : -1;
}

int main(int argc, char **argv)
{
	static struct server s;
	long port, nbufs, size;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	sigset_t sigs;
	int rc;

	/* Options of this server alone, taken out before the shared ones. */
	int kept = 1, bad = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--bundle")) {
			s.bundle = 1;
		} else if (!strcmp(argv[i], "--inc")) {
			s.inc = 1;
		} else if (!strcmp(argv[i], "--recv-timeout-ms") && i + 1 < argc) {
			char *end;
			long long ms = strtoll(argv[++i], &end, 10);
			if (*end || ms <= 0 || ms > 86400000)
				bad = 1;
			else
				s.recv_timeout_ns = (uint64_t)ms * 1000000u;
		} else {
			argv[kept++] = argv[i];
		}
	}
	argc = kept;
	if (bad || !bench_echo_parse(argc, argv, &port, &nbufs, &size)) {
		fprintf(stderr, "usage: kio-bench-echo-kio [--port P] [--bufs N] [--size B] "
				"[--bundle] [--inc] [--recv-timeout-ms 1..86400000]\n");
		return 2;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	s.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

	rc = kio_ctx_create(&s.ctx, NULL, 0);
	if (rc < 0) {
		fprintf(stderr, "echo-kio: kio_ctx_create: %s\n", kio_strerror(rc));
		return rc == -ENOSYS || rc == -EPERM ? 77 : 1;
	}
	rc = kio_buf_ring_create_flags(&s.ring, s.ctx, 0, (uint32_t)nbufs, (uint32_t)size,
				       (s.inc ? KIO_BUF_RING_INCREMENTAL : 0) |
					       (s.bundle ? KIO_BUF_RING_BUNDLE : 0));
	if (rc < 0) {
		fprintf(stderr, "echo-kio: kio_buf_ring_create: %s\n", kio_strerror(rc));
		return rc == -EOPNOTSUPP ? 77 : 1;
	}
	size_t pieces = s.inc ? MAX_PARTS : (size_t)nbufs;
	s.next_buf = calloc(pieces, sizeof(*s.next_buf));
	s.buf_len = calloc(pieces, sizeof(*s.buf_len));
	s.free_part = -1;
	if (s.inc) {
		s.part_buf = calloc(pieces, sizeof(*s.part_buf));
		s.part_off = calloc(pieces, sizeof(*s.part_off));
		s.buf_refs = calloc((size_t)nbufs, sizeof(*s.buf_refs));
		s.buf_done = calloc((size_t)nbufs, sizeof(*s.buf_done));
		if (!s.part_buf || !s.part_off || !s.buf_refs || !s.buf_done || !s.next_buf) {
			fprintf(stderr, "echo-kio: out of memory\n");
			return 1;
		}
		for (size_t i = pieces; i-- > 0;) {
			s.next_buf[i] = s.free_part;
			s.free_part = (int32_t)i;
		}
	}
	s.lfd = listen_on((int)port);
	if (s.sigfd < 0 || !s.next_buf || !s.buf_len || s.lfd < 0 ||
	    kio_accept_multishot(s.ctx, s.lfd, SOCK_CLOEXEC, on_accept, &s) < 0 ||
	    kio_poll(s.ctx, s.sigfd, POLLIN, on_signal, &s) < 0 ||
	    getsockname(s.lfd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "echo-kio: setup failed\n");
		return 1;
	}
	printf("backend %s\nport %u\n",
	       kio_ctx_backend(s.ctx) == KIO_BACKEND_EPOLL ? "epoll" : "io_uring",
	       (unsigned)ntohs(sa.sin_port));
	fflush(stdout);

	rc = kio_ctx_run(s.ctx);
	bench_print_cpu_ns();
	/* Cancels what is left; the callbacks see s.stopping and close. */
	s.stopping = 1;
	kio_ctx_destroy(s.ctx);
	kio_buf_ring_destroy(s.ring);
	close(s.lfd);
	close(s.sigfd);
	free(s.next_buf);
	free(s.buf_len);
	free(s.part_buf);
	free(s.part_off);
	free(s.buf_refs);
	free(s.buf_done);
	return rc < 0 ? 1 : 0;
}
