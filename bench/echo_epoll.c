/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-echo-epoll - the hand-written epoll peer of the echo benchmark:
 * the best plain-C echo server for this load that we know how to write on
 * epoll, so that kio's epoll backend (kio-c-epoll) is measured against
 * what epoll itself costs, the way kio-c is measured against liburing.
 *
 *   kio-bench-echo-epoll [--port P] [--size B]
 *
 * One thread, one epoll set, non-blocking sockets (accept4 with
 * SOCK_NONBLOCK, TCP_NODELAY as every other server), each connection
 * registered once when accepted and never removed (close() drops it).
 * Each connection has its own buffer of B bytes (16 KiB by default, larger
 * than the biggest message of the workload); a readiness event reads into
 * it and writes the bytes back at once. Nothing is allocated per message.
 *
 * Edge-triggered (EPOLLIN | EPOLLET), for two reasons:
 *  - a level-triggered item is put back on the ready list each time it is
 *    reported and polled again (tcp_poll) by the next epoll_wait, even when
 *    it was drained: one wasted poll per connection per round, which is
 *    what ET saves;
 *  - ET costs no extra call here: a read that returns less than the buffer
 *    took everything the socket held, and any byte arriving after it is a
 *    new edge, so the read loop stops on a short read instead of reading
 *    again for EAGAIN (what nginx does). Per message: one recv, one send,
 *    a share of one epoll_wait - the floor on epoll.
 * Partial writes: the unsent rest stays in the buffer, EPOLLOUT is added
 * (EPOLL_CTL_MOD) only while it is pending, and the connection reads
 * nothing more until it went out (the generator waits for its echo, so
 * that is back-pressure, not a stall). Once it is flushed, EPOLLOUT is
 * dropped and the read loop runs again: bytes that came meanwhile made no
 * new edge worth waiting for.
 *
 * Prints "port N" once it accepts (--port 0, the default, lets the kernel
 * choose). SIGINT/SIGTERM (a signalfd in the epoll set, as the kio servers
 * read theirs) end the loop; it prints "cpu_ns N" (getrusage user+sys) and
 * exits 0. No io_uring anywhere.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_EVENTS 1024

struct conn {
	int fd;
	bool want_out; /* EPOLLOUT registered: buf[off..len) waits to be sent */
	uint32_t off, len;
	unsigned char buf[]; /* buf_size bytes */
};

static int ep = -1, lfd = -1, sigfd = -1;
static uint32_t buf_size = 16384;
static struct conn **conns; /* by fd, for the cleanup at exit */
static int nconns_max;
/* epoll data of the two fds that are not connections. */
static char listen_tag, signal_tag;

static void conn_close(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	conns[c->fd] = NULL;
	free(c);
}

/* Registers the events of c: EPOLLIN always, EPOLLOUT while a write waits. */
static bool conn_want_out(struct conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET | (on ? EPOLLOUT : 0u), .data.ptr = c};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return false;
	c->want_out = on;
	return true;
}

/* Sends buf[off..len). True when all of it went; false when it must wait
 * (EPOLLOUT registered) or the connection failed (*dead set). */
static bool conn_flush(struct conn *c, bool *dead)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n > 0) {
			c->off += (uint32_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!c->want_out && !conn_want_out(c, true))
				*dead = true;
			return false;
		}
		*dead = true;
		return false;
	}
	c->off = c->len = 0;
	if (c->want_out && !conn_want_out(c, false)) {
		*dead = true;
		return false;
	}
	return true;
}

/* Everything one readiness event calls for: finish a pending write, then
 * read and echo until the socket is drained (a short read) or a write
 * cannot go through. */
static void conn_io(struct conn *c)
{
	bool dead = false;
	if (c->len && !conn_flush(c, &dead))
		goto out;
	for (;;) {
		ssize_t n = recv(c->fd, c->buf, buf_size, 0);
		if (n > 0) {
			c->off = 0;
			c->len = (uint32_t)n;
			if (!conn_flush(c, &dead))
				break;
			if ((uint32_t)n < buf_size)
				break; /* drained: new bytes make a new edge */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		dead = true; /* end of stream or an error */
		break;
	}
out:
	if (dead)
		conn_close(c);
}

/* Takes every pending connection (the listener is level-triggered: a
 * failure such as EMFILE is seen again at the next round). */
static void accept_all(void)
{
	int one = 1;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				fprintf(stderr, "echo-epoll: accept4: %s\n", strerror(errno));
			return;
		}
		struct conn *c = fd < nconns_max ? malloc(sizeof(*c) + buf_size) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		*c = (struct conn){.fd = fd};
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		conns[fd] = c;
		/* Bytes may have come before the registration: ET would not tell. */
		conn_io(c);
	}
}

static int listen_on(long port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sa);
	int one = 1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("echo-epoll: listen");
		return -1;
	}
	printf("port %u\n", (unsigned)ntohs(sa.sin_port));
	return fd;
}

int main(int argc, char **argv)
{
	static struct epoll_event events[MAX_EVENTS];
	long port = 0, size = buf_size;
	struct rlimit rl;
	sigset_t sigs;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--size"))
			size = atol(argv[i + 1]);
		else
			size = 0;
	}
	if (argc % 2 == 0 || port < 0 || port > 65535 || size < 1 || size > (1l << 20)) {
		fprintf(stderr, "usage: kio-bench-echo-epoll [--port P] [--size B]\n");
		return 2;
	}
	buf_size = (uint32_t)size;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > (1u << 20))
		rl.rlim_cur = 1u << 20;
	nconns_max = (int)rl.rlim_cur;
	conns = calloc((size_t)nconns_max, sizeof(*conns));
	if (sigfd < 0 || ep < 0 || !conns) {
		perror("echo-epoll: setup");
		return 1;
	}
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listen_tag};
	struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &signal_tag};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sigfd, &sev) < 0) {
		perror("echo-epoll: epoll_ctl");
		return 1;
	}
	lfd = listen_on(port);
	if (lfd < 0)
		return 1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		perror("echo-epoll: epoll_ctl");
		return 1;
	}
	fflush(stdout);

	bool stop = false;
	while (!stop) {
		int n = epoll_wait(ep, events, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echo-epoll: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = events[i].data.ptr;
			if (p == &listen_tag)
				accept_all();
			else if (p == &signal_tag)
				stop = true;
			else
				conn_io(p);
		}
	}
	bench_print_cpu_ns();
	for (int fd = 0; fd < nconns_max; fd++)
		if (conns[fd])
			conn_close(conns[fd]);
	free(conns);
	close(lfd);
	close(sigfd);
	close(ep);
	return stop ? 0 : 1;
}
