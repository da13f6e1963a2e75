/* SPDX-License-Identifier: MIT */
/*
 * Loopback helpers for the networking tests: listeners on 127.0.0.1 with
 * an ephemeral port or on an abstract Unix address, connected pairs made
 * with plain syscalls, and byte patterns that show a misplaced byte.
 */
#ifndef KIO_TEST_NET_H
#define KIO_TEST_NET_H

#include "kio_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

/* A descriptor number these tests never open: the kernel answers -EBADF. */
#define KT_CLOSED_FD 9999

/* A TCP listener on 127.0.0.1, port chosen by the kernel; *addr is filled. */
static inline int kt_tcp_listener(struct sockaddr_in *addr)
{
	int one = 1;
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
	assert_int_equal(listen(fd, 512), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

/* An abstract Unix stream listener (no file to clean up); *len is the address length. */
static inline int kt_unix_listener(struct sockaddr_un *addr, socklen_t *len)
{
	static int seq;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	int n = snprintf(addr->sun_path + 1, sizeof(addr->sun_path) - 1, "kio-test-%d-%d", (int)getpid(),
			 ++seq);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, *len), 0);
	assert_int_equal(listen(fd, 64), 0);
	return fd;
}

/* A connected TCP pair over loopback, made with blocking syscalls. */
static inline void kt_tcp_pair(int *client, int *server)
{
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&addr, sizeof(addr)), 0);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
	assert_int_equal(close(lfd), 0);
}

static inline void kt_unix_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* Byte i of stream `seed`: differs at every offset and between seeds. */
static inline unsigned char kt_pattern_byte(size_t i, unsigned seed)
{
	return (unsigned char)((i * 131u + seed * 7919u) ^ (i >> 8) ^ (i >> 16));
}

static inline void kt_fill(unsigned char *p, size_t n, size_t start, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = kt_pattern_byte(start + i, seed);
}

/* Whether p[0..n) is bytes start.. of stream seed. */
static inline int kt_check(const unsigned char *p, size_t n, size_t start, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != kt_pattern_byte(start + i, seed))
			return 0;
	return 1;
}

/* Reads exactly n bytes from a blocking fd (fails the test after 5 s). */
static inline void kt_read_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = {fd, POLLIN, 0};
		assert_int_equal(poll(&p, 1, 5000), 1);
		ssize_t r = read(fd, (char *)buf + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

/* Asserts fd has nothing to read right now (and is not at end of stream). */
static inline void kt_assert_no_data(int fd)
{
	char c;
	errno = 0;
	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static inline void kt_assert_sigpipe_default(void)
{
	struct sigaction sa;
	assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
	assert_true(sa.sa_handler == SIG_DFL);
	sigset_t pending;
	assert_int_equal(sigpending(&pending), 0);
	assert_int_equal(sigismember(&pending, SIGPIPE), 0);
}

/* A buffer ring of count buffers of size bytes; skips the test (after
 * destroying ctx) when the kernel has no buffer rings. */
static inline kio_buf_ring *kt_make_ring(kio_ctx *ctx, uint16_t group, uint32_t count, uint32_t size)
{
	kio_buf_ring *ring = NULL;
	int rc = kio_buf_ring_create(&ring, ctx, group, count, size);
	if (rc == -EOPNOTSUPP) {
		kio_ctx_destroy(ctx);
		skip();
	}
	assert_int_equal(rc, 0);
	assert_non_null(ring);
	return ring;
}

#endif /* KIO_TEST_NET_H */
