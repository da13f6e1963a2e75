/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-echo-uring - the plain liburing peer of kio-bench-echo-kio:
 * the same server written directly on liburing, as lean as it can be, so
 * the difference between the two is what kio costs.
 *
 *   kio-bench-echo-uring [--port P] [--bufs N] [--size B] [--direct]
 *
 * Same design as the kio server: one multishot accept, one multishot
 * receive per connection into a shared provided-buffer ring (N x B,
 * 1024 x 4096 by default), received buffers sent back in order, one send
 * in flight per connection, a buffer recycled once all of it was sent.
 * The ring has kio's setup flags (SINGLE_ISSUER|DEFER_TASKRUN when the
 * kernel has them, SUBMIT_ALL, a 4096-entry CQ) and the loop is
 * submit-and-wait, then reap every CQE.
 *
 * --direct accepts into direct descriptors: a sparse registered file table,
 * the multishot accept with IORING_FILE_INDEX_ALLOC, receives and sends with
 * IOSQE_FIXED_FILE and a fixed close, so the kernel skips the file table
 * lookup and reference count of every op. Everything else stays the same,
 * so the pair isolates what direct descriptors save. TCP_NODELAY is set on
 * the listening socket (accepted sockets inherit it): a direct descriptor
 * has no fd for setsockopt(2). A kernel that refuses the table or the
 * allocating accept makes it exit 77 before it prints its port.
 *
 * Prints "port N" once it accepts. SIGINT/SIGTERM (a signalfd polled on the
 * ring, as in the kio server) end the loop; it prints "cpu_ns N" (getrusage
 * user+sys) and exits 0. Exit 77: no io_uring or no buffer rings (or, with
 * --direct, no direct descriptors).
 */
#define _GNU_SOURCE
#include <liburing.h>

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
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_args.h"
#include "bench_util.h"

#define BGID 0
/* user_data: the kind in the top byte, the fd below. */
#define UD_ACCEPT 1ull
#define UD_RECV 2ull
#define UD_SEND 3ull
#define UD_SIGNAL 4ull
#define UD_CLOSE 5ull
#define UD(kind, fd) (((kind) << 56) | (uint32_t)(fd))

struct conn {
	int live;
	int recv_active;
	int send_active;
	int starved;
	int eof;
	int32_t head, tail;
	uint32_t off;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static unsigned char *buf_mem;
static uint32_t nbufs, buf_size;
static int32_t *next_buf;
static uint32_t *buf_len;
static struct conn *conns; /* by fd, or by direct descriptor with --direct */
static int max_fd;
static unsigned starved;
static int lfd;
static int stop;
static int direct; /* --direct: connections are direct descriptors */

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static void buf_recycle(uint16_t id)
{
	io_uring_buf_ring_add(br, buf_mem + (size_t)id * buf_size, buf_size, id,
			      io_uring_buf_ring_mask(nbufs), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = get_sqe();
	if (direct)
		io_uring_prep_multishot_accept_direct(sqe, lfd, NULL, NULL, 0);
	else
		io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD(UD_ACCEPT, lfd));
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT | (direct ? IOSQE_FIXED_FILE : 0);
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(UD_RECV, fd));
	conns[fd].recv_active = 1;
}

static void send_next(int fd)
{
	struct conn *c = &conns[fd];
	if (c->head < 0 || c->send_active || c->eof)
		return;
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_send(sqe, fd, buf_mem + (size_t)c->head * buf_size + c->off,
			   buf_len[c->head] - c->off, MSG_NOSIGNAL);
	if (direct)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, fd));
	c->send_active = 1;
}

static void drop_queue(struct conn *c)
{
	while (c->head >= 0) {
		int32_t id = c->head;
		c->head = next_buf[id];
		buf_recycle((uint16_t)id);
	}
	c->tail = -1;
	c->off = 0;
}

static void maybe_close(int fd)
{
	struct conn *c = &conns[fd];
	if (!c->eof || c->recv_active || c->send_active)
		return;
	drop_queue(c);
	if (c->starved)
		starved--;
	c->live = 0;
	if (direct) {
		/* The slot is free for the next accept once this close ran. */
		struct io_uring_sqe *sqe = get_sqe();
		io_uring_prep_close_direct(sqe, (unsigned)fd);
		io_uring_sqe_set_data64(sqe, UD(UD_CLOSE, fd));
	} else {
		close(fd);
	}
}

static void restart_starved(void)
{
	for (int fd = 0; fd <= max_fd && starved; fd++) {
		if (conns[fd].live && conns[fd].starved) {
			conns[fd].starved = 0;
			starved--;
			arm_recv(fd);
		}
	}
}

static void handle(struct io_uring_cqe *cqe)
{
	uint64_t kind = cqe->user_data >> 56;
	int fd = (int)(uint32_t)cqe->user_data;
	int res = cqe->res;
	int more = cqe->flags & IORING_CQE_F_MORE;
	struct conn *c = &conns[fd];
	int one = 1;

	switch (kind) {
	case UD_ACCEPT:
		if (res >= 0) {
			/* conns has RLIMIT_NOFILE entries: every fd (and every
			 * slot of the file table, as big) fits. */
			if (!direct)
				setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			conns[res] = (struct conn){.live = 1, .head = -1, .tail = -1};
			if (res > max_fd)
				max_fd = res;
			arm_recv(res);
		}
		if (!more) {
			if (res < 0)
				fprintf(stderr, "echo-uring: accept: %s\n", strerror(-res));
			arm_accept();
		}
		break;
	case UD_RECV:
		if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
			int32_t id = (int32_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
			buf_len[id] = (uint32_t)res;
			next_buf[id] = -1;
			if (c->tail >= 0)
				next_buf[c->tail] = id;
			else
				c->head = id;
			c->tail = id;
			send_next(fd);
		}
		if (more)
			break;
		c->recv_active = 0;
		if (res == -ENOBUFS) {
			c->starved = 1;
			starved++;
		} else if (res <= 0) {
			c->eof = 1;
		} else {
			arm_recv(fd);
		}
		maybe_close(fd);
		break;
	case UD_SIGNAL:
		stop = 1;
		break;
	case UD_CLOSE:
		if (res < 0)
			fprintf(stderr, "echo-uring: close of slot %d: %s\n", fd, strerror(-res));
		break;
	case UD_SEND:
		c->send_active = 0;
		if (res < 0) {
			c->eof = 1;
			drop_queue(c);
			maybe_close(fd);
			break;
		}
		c->off += (uint32_t)res;
		if (c->off == buf_len[c->head]) {
			int32_t id = c->head;
			c->head = next_buf[id];
			if (c->head < 0)
				c->tail = -1;
			c->off = 0;
			buf_recycle((uint16_t)id);
			if (starved)
				restart_starved();
		}
		send_next(fd);
		maybe_close(fd);
		break;
	}
}

static int setup_ring(void)
{
	static const unsigned candidates[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int rc = -ENOSYS;
	for (unsigned i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = candidates[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = 4096;
		rc = io_uring_queue_init_params(256, &ring, &p);
		if (rc == 0)
			return 0;
	}
	return rc;
}

/* Waits for one CQE (nothing else is in flight yet) and returns its res. */
static int wait_one(void)
{
	struct io_uring_cqe *cqe;
	int rc = io_uring_submit_and_wait(&ring, 1);
	if (rc >= 0)
		rc = io_uring_peek_cqe(&ring, &cqe);
	if (rc < 0)
		return rc;
	rc = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return rc;
}

/*
 * --direct: registers a sparse file table of slots entries, then accepts one
 * connection to ourselves into it and closes that slot, so a kernel without
 * the table or the allocating accept is found out before the port is
 * printed. Returns 0, 77 (unsupported: said why) or 1.
 */
static int setup_direct(unsigned slots, const struct sockaddr_in *sa)
{
	int rc = io_uring_register_files_sparse(&ring, slots);
	if (rc < 0) {
		fprintf(stderr, "echo-uring: --direct: no sparse file table: %s\n", strerror(-rc));
		return rc == -EINVAL || rc == -EOPNOTSUPP || rc == -ENOSYS ? 77 : 1;
	}
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		perror("echo-uring: --direct: probe connection");
		return 1;
	}
	/* Direct accepts take no SOCK_CLOEXEC: the kernel refuses it there. */
	io_uring_prep_accept_direct(get_sqe(), lfd, NULL, NULL, 0, IORING_FILE_INDEX_ALLOC - 1);
	int slot = wait_one();
	if (slot < 0) {
		fprintf(stderr, "echo-uring: --direct: no accept into a direct descriptor: %s\n",
			strerror(-slot));
		close(cfd);
		return slot == -EINVAL || slot == -EOPNOTSUPP || slot == -EBADF ? 77 : 1;
	}
	io_uring_prep_close_direct(get_sqe(), (unsigned)slot);
	rc = wait_one();
	close(cfd);
	if (rc < 0) {
		fprintf(stderr, "echo-uring: --direct: fixed close: %s\n", strerror(-rc));
		return rc == -EINVAL || rc == -EOPNOTSUPP ? 77 : 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long port, bufs, size;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct rlimit rl;
	int one = 1, rc;

	/* --direct, taken out before the options shared with the kio server. */
	int kept = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--direct"))
			direct = 1;
		else
			argv[kept++] = argv[i];
	}
	argc = kept;
	if (!bench_echo_parse(argc, argv, &port, &bufs, &size)) {
		fprintf(stderr, "usage: kio-bench-echo-uring [--port P] [--bufs N] [--size B] "
				"[--direct]\n");
		return 2;
	}
	nbufs = (uint32_t)bufs;
	buf_size = (uint32_t)size;

	/* Signals arrive through a signalfd polled on the ring, as in the kio server. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		perror("echo-uring: signalfd");
		return 1;
	}

	rc = setup_ring();
	if (rc < 0) {
		fprintf(stderr, "echo-uring: io_uring_queue_init: %s\n", strerror(-rc));
		return rc == -ENOSYS || rc == -EPERM ? 77 : 1;
	}

	/* The provided-buffer ring, liburing 2.3 style: map, register, fill. */
	size_t ring_bytes = nbufs * sizeof(struct io_uring_buf);
	br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	buf_mem = malloc((size_t)nbufs * buf_size);
	next_buf = calloc(nbufs, sizeof(*next_buf));
	buf_len = calloc(nbufs, sizeof(*buf_len));
	if (br == MAP_FAILED || !buf_mem || !next_buf || !buf_len)
		return 1;
	struct io_uring_buf_reg reg = {
		.ring_addr = (uintptr_t)br, .ring_entries = nbufs, .bgid = BGID};
	rc = io_uring_register_buf_ring(&ring, &reg, 0);
	if (rc < 0) {
		fprintf(stderr, "echo-uring: io_uring_register_buf_ring: %s\n", strerror(-rc));
		return rc == -EINVAL || rc == -EOPNOTSUPP ? 77 : 1;
	}
	io_uring_buf_ring_init(br);
	for (uint32_t i = 0; i < nbufs; i++)
		io_uring_buf_ring_add(br, buf_mem + (size_t)i * buf_size, buf_size,
				      (unsigned short)i, io_uring_buf_ring_mask(nbufs), (int)i);
	io_uring_buf_ring_advance(br, (int)nbufs);

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = 1024;
	conns = calloc(rl.rlim_cur, sizeof(*conns));
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!conns || lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		perror("echo-uring: listen");
		return 1;
	}
	if (direct) {
		/* Accepted sockets inherit TCP_NODELAY from the listening one. */
		if (setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
			perror("echo-uring: TCP_NODELAY");
			return 1;
		}
		/* A slot per possible connection, as conns has; the kernel caps the
		 * table at RLIMIT_NOFILE. */
		rc = setup_direct((unsigned)(rl.rlim_cur < (1u << 20) ? rl.rlim_cur : (1u << 20)), &sa);
		if (rc)
			return rc;
	}
	arm_accept();
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_poll_add(sqe, sigfd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD(UD_SIGNAL, sigfd));
	printf("port %u\n", (unsigned)ntohs(sa.sin_port));
	fflush(stdout);

	while (!stop) {
		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			fprintf(stderr, "echo-uring: io_uring_submit_and_wait: %s\n",
				strerror(-rc));
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			handle(cqe);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}
	bench_print_cpu_ns();
	/* Direct descriptors go with the ring. */
	for (int fd = 0; fd <= max_fd && !direct; fd++)
		if (conns[fd].live)
			close(fd);
	close(lfd);
	close(sigfd);
	io_uring_queue_exit(&ring);
	return stop ? 0 : 1;
}
