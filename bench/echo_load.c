/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-echo-load - the one load generator every echo server is
 * measured with, so the servers are the only thing that changes.
 *
 *   kio-bench-echo-load --port P [--host ADDR] [--conns N] [--size B]
 *                       [--warmup S] [--duration S] [--server-pid PID]
 *                       [--rate R]
 *   kio-bench-echo-load --cpu-of PID
 *
 * --rate R: open loop (fixed rate). Messages are sent on a schedule, R per
 * second in all, message k at t0 + k/R on connection k mod N, whether or
 * not the earlier ones came back (up to OL_DEPTH in flight per
 * connection; more counts as "behind"); latency is taken from the
 * scheduled send time, so a stalled server cannot hide its stall. Below
 * saturation the generator is not the bottleneck and the server's CPU per
 * message is its own cost, not the client's pace.
 *
 * N connections play ping-pong: each sends one message of B bytes, waits
 * until all B came back, checks them, and sends the next. After --warmup
 * seconds the counters are reset and the window of --duration seconds
 * starts; only messages completed inside it count. Plain epoll and
 * non-blocking sockets: it owes nothing to any library under test, and
 * it allocates nothing once the connections are up.
 *
 * With --server-pid the CPU time the server process used inside the
 * window is read from its CPU clock (clock_getcpuclockid: every thread,
 * nanosecond resolution), which gives the figure that separates servers
 * when this generator saturates its own core: server CPU ns per message.
 * --cpu-of prints that clock once (for scripts that drive other clients).
 *
 * Output: one JSON object on stdout. Exit 0 when messages went through and
 * nothing failed, 1 on any error (a wrong byte, a reset, an early end of
 * stream), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 65536
#define MAX_SIZE (1u << 20)

/*
 * Latency histogram: exact below 64 ns, then 32 buckets per power of two
 * (at most 3% wide), up to 2^40 ns. Fixed size: recording is two shifts
 * and an increment.
 */
#define SUB_BITS 5
#define SUB (1u << SUB_BITS)
#define LINEAR 64u
#define MAX_EXP 40u
#define NBUCKETS (LINEAR + (MAX_EXP - 6u) * SUB)

struct hist {
	uint64_t count[NBUCKETS];
	uint64_t total;
};

static unsigned bucket_of(uint64_t ns)
{
	if (ns < LINEAR)
		return (unsigned)ns;
	unsigned e = 63u - (unsigned)__builtin_clzll(ns);
	if (e >= MAX_EXP)
		return NBUCKETS - 1;
	unsigned sub = (unsigned)(ns >> (e - SUB_BITS)) & (SUB - 1);
	return LINEAR + (e - 6u) * SUB + sub;
}

/* The middle of bucket i, in ns. */
static double bucket_mid(unsigned i)
{
	if (i < LINEAR)
		return i;
	unsigned e = 6u + (i - LINEAR) / SUB, sub = (i - LINEAR) % SUB;
	double width = (double)(1ull << (e - SUB_BITS));
	return (double)(SUB + sub) * width + width / 2;
}

static void hist_add(struct hist *h, uint64_t ns)
{
	h->count[bucket_of(ns)]++;
	h->total++;
}

static double hist_quantile(const struct hist *h, double q)
{
	if (!h->total)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->total);
	if (want >= h->total)
		want = h->total - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		seen += h->count[i];
		if (seen > want)
			return bucket_mid(i);
	}
	return bucket_mid(NBUCKETS - 1);
}

/* Open loop: scheduled send times of the messages in flight, per connection. */
#define OL_DEPTH 64

struct conn {
	int fd;
	bool alive;
	bool want_out; /* EPOLLOUT armed: the message did not fit at once */
	uint32_t sent; /* bytes of tx written */
	uint32_t got;  /* bytes of rx read */
	uint64_t seq;
	uint64_t t_send; /* ns, when the first byte of the message went out */
	unsigned char *tx, *rx;
	/* Open loop only: messages due but not fully written, and in flight. */
	uint32_t due;
	uint64_t seq_rx;            /* sequence number of the next echo expected */
	uint32_t ol_head, ol_count; /* ring of scheduled send times */
	uint64_t ol_sched[OL_DEPTH];
};

struct load {
	struct conn *conns;
	unsigned nconns, alive;
	uint32_t size;
	int ep;
	bool counting;
	struct hist hist;
	uint64_t msgs;
	uint64_t errors;       /* inside the window */
	uint64_t errors_total; /* warm-up included */
	uint64_t bad_bytes;
	bool open_loop;
	uint64_t behind; /* open loop: messages not sent, OL_DEPTH already in flight */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of every thread of pid, in ns; -1 when it cannot be read. */
static int64_t cpu_of(pid_t pid)
{
	clockid_t clk;
	struct timespec ts;
	if (pid <= 0 || clock_getcpuclockid(pid, &clk) != 0 || clock_gettime(clk, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void conn_fail(struct load *l, struct conn *c, const char *why, int err)
{
	static unsigned reported;
	if (reported++ < 5)
		fprintf(stderr, "echo-load: connection %u: %s%s%s\n", (unsigned)(c - l->conns), why,
			err ? ": " : "", err ? strerror(err) : "");
	l->errors_total++;
	if (l->counting)
		l->errors++;
	epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->alive = false;
	l->alive--;
}

static void set_out(struct load *l, struct conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
				 .data.u32 = (uint32_t)(c - l->conns)};
	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = on;
}

/* Writes what is left of the current message. */
static void conn_flush(struct load *l, struct conn *c)
{
	while (c->sent < l->size) {
		ssize_t n = write(c->fd, c->tx + c->sent, l->size - c->sent);
		if (n > 0) {
			c->sent += (uint32_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!c->want_out)
				set_out(l, c, true);
			return;
		}
		conn_fail(l, c, "write", n < 0 ? errno : 0);
		return;
	}
	if (c->want_out)
		set_out(l, c, false);
}

static void conn_send(struct load *l, struct conn *c)
{
	c->seq++;
	/* The sequence number makes every message differ from the last. */
	memcpy(c->tx, &c->seq, l->size < sizeof(c->seq) ? l->size : sizeof(c->seq));
	c->sent = 0;
	c->got = 0;
	c->t_send = now_ns();
	conn_flush(l, c);
}

static void conn_read(struct load *l, struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->rx + c->got, l->size - c->got);
		if (n > 0) {
			c->got += (uint32_t)n;
			if (c->got < l->size)
				continue;
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		conn_fail(l, c, n == 0 ? "end of stream before the echo" : "read",
			  n < 0 ? errno : 0);
		return;
	}
	/* A whole message: an echo comes only after its request was sent. */
	if (c->sent != l->size || memcmp(c->rx, c->tx, l->size) != 0) {
		l->bad_bytes++;
		conn_fail(l, c, "echo differs from what was sent", 0);
		return;
	}
	if (l->counting) {
		hist_add(&l->hist, now_ns() - c->t_send);
		l->msgs++;
	}
	conn_send(l, c);
}

/* ---- open loop ----------------------------------------------------------- */

static void seq_put(unsigned char *buf, uint32_t size, uint64_t seq)
{
	memcpy(buf, &seq, size < sizeof(seq) ? size : sizeof(seq));
}

/* Writes the due messages, each stamped with the next sequence number. */
static void ol_flush(struct load *l, struct conn *c)
{
	while (c->due) {
		if (c->sent == 0)
			seq_put(c->tx, l->size, c->seq + 1);
		ssize_t n = write(c->fd, c->tx + c->sent, l->size - c->sent);
		if (n > 0) {
			c->sent += (uint32_t)n;
			if (c->sent == l->size) {
				c->sent = 0;
				c->seq++;
				c->due--;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!c->want_out)
				set_out(l, c, true);
			return;
		}
		conn_fail(l, c, "write", n < 0 ? errno : 0);
		return;
	}
	if (c->want_out)
		set_out(l, c, false);
}

/* Message k of the schedule, due at `at`: onto connection c. */
static void ol_schedule(struct load *l, struct conn *c, uint64_t at)
{
	if (c->ol_count == OL_DEPTH) {
		if (l->counting)
			l->behind++;
		return;
	}
	c->ol_sched[(c->ol_head + c->ol_count) % OL_DEPTH] = at;
	c->ol_count++;
	c->due++;
	ol_flush(l, c);
}

/* Reads echoes; each whole one is checked against what was sent and timed. */
static void ol_read(struct load *l, struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->rx + c->got, l->size - c->got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_fail(l, c, n == 0 ? "end of stream before the echo" : "read",
				  n < 0 ? errno : 0);
			return;
		}
		c->got += (uint32_t)n;
		if (c->got < l->size)
			continue;
		c->got = 0;
		uint64_t want = c->seq_rx + 1;
		unsigned char stamp[sizeof(want)];
		uint32_t k = l->size < sizeof(want) ? l->size : (uint32_t)sizeof(want);
		memcpy(stamp, &want, sizeof(want));
		if (c->ol_count == 0 || memcmp(c->rx, stamp, k) != 0 ||
		    memcmp(c->rx + k, c->tx + k, l->size - k) != 0) {
			l->bad_bytes++;
			conn_fail(l, c, "echo differs from what was sent", 0);
			return;
		}
		c->seq_rx = want;
		uint64_t at = c->ol_sched[c->ol_head];
		c->ol_head = (c->ol_head + 1) % OL_DEPTH;
		c->ol_count--;
		if (l->counting) {
			uint64_t now = now_ns();
			hist_add(&l->hist, now > at ? now - at : 0);
			l->msgs++;
		}
	}
}

/* VmRSS of pid in KiB, or -1. */
static long long rss_of(pid_t pid)
{
	char path[64], line[256];
	long long kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = pid > 0 ? fopen(path, "r") : NULL;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtoll(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

static int connect_to(const struct sockaddr_in *sa)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Blocking connect: loopback completes it in the kernel, accepted or not. */
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: kio-bench-echo-load --port P [--host ADDR] [--conns N] [--size B]\n"
		"                           [--warmup S] [--duration S] [--server-pid PID]\n"
		"                           [--rate MSGS_PER_S]\n"
		"       kio-bench-echo-load --cpu-of PID\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	long port = -1, conns = 16, size = 64, server_pid = 0;
	double warmup = 1, duration = 5, rate = 0;
	static struct load l;
	static struct epoll_event events[1024];
	struct sockaddr_in sa;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		const char *opt = argv[i], *val = argv[++i];
		if (!strcmp(opt, "--cpu-of")) {
			int64_t ns = cpu_of((pid_t)atol(val));
			if (ns < 0)
				return 1;
			printf("%lld\n", (long long)ns);
			return 0;
		} else if (!strcmp(opt, "--host"))
			host = val;
		else if (!strcmp(opt, "--port"))
			port = atol(val);
		else if (!strcmp(opt, "--conns"))
			conns = atol(val);
		else if (!strcmp(opt, "--size"))
			size = atol(val);
		else if (!strcmp(opt, "--warmup"))
			warmup = atof(val);
		else if (!strcmp(opt, "--duration"))
			duration = atof(val);
		else if (!strcmp(opt, "--server-pid"))
			server_pid = atol(val);
		else if (!strcmp(opt, "--rate"))
			rate = atof(val);
		else
			return usage();
	}
	if (port <= 0 || port > 65535 || conns < 1 || conns > MAX_CONNS || size < 1 ||
	    size > MAX_SIZE || warmup < 0 || duration <= 0 || rate < 0)
		return usage();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return usage();

	/* Room for the connections (and the server's, when it runs under us). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)conns + 64 ? rl.rlim_max : (rlim_t)conns + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	long long rss_before = rss_of((pid_t)server_pid);
	l.nconns = (unsigned)conns;
	l.open_loop = rate > 0;
	l.size = (uint32_t)size;
	l.conns = calloc(l.nconns, sizeof(*l.conns));
	unsigned char *mem = malloc((size_t)l.nconns * l.size * 2);
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!l.conns || !mem || l.ep < 0) {
		perror("echo-load: setup");
		return 1;
	}
	for (unsigned i = 0; i < l.nconns; i++) {
		struct conn *c = &l.conns[i];
		c->tx = mem + (size_t)i * l.size * 2;
		c->rx = c->tx + l.size;
		/* Every connection has its own bytes: a crossed echo shows. */
		for (uint32_t j = 0; j < l.size; j++)
			c->tx[j] = (unsigned char)(i * 131u + j * 7u + 1u);
		c->fd = connect_to(&sa);
		if (c->fd < 0) {
			fprintf(stderr, "echo-load: connect %s:%ld (connection %u): %s\n", host,
				port, i, strerror(errno));
			return 1;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(l.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			perror("echo-load: epoll_ctl");
			return 1;
		}
		c->alive = true;
	}
	l.alive = l.nconns;
	if (!l.open_loop)
		for (unsigned i = 0; i < l.nconns; i++)
			conn_send(&l, &l.conns[i]);

	uint64_t t0 = now_ns();
	/* Open loop: message k is due at t0 + k * gap, on connection k mod N. */
	uint64_t k_next = 0;
	double gap = l.open_loop ? 1e9 / rate : 0;
	uint64_t window_start = t0 + (uint64_t)(warmup * 1e9);
	uint64_t window_end = window_start + (uint64_t)(duration * 1e9);
	uint64_t t_start = 0, t_end = 0;
	int64_t cpu_start = -1, cpu_end = -1;

	while (l.alive > 0) {
		int wait_ms = 50;
		if (l.open_loop) {
			uint64_t now = now_ns();
			for (;;) {
				uint64_t at = t0 + (uint64_t)((double)k_next * gap);
				if (at > now)
					break;
				struct conn *c = &l.conns[k_next % l.nconns];
				if (c->alive)
					ol_schedule(&l, c, at);
				k_next++;
			}
			uint64_t at = t0 + (uint64_t)((double)k_next * gap);
			/* Sleep to the next send, in ns: epoll_wait's milliseconds are too coarse. */
			struct timespec ts = {.tv_sec = (time_t)((at - now) / 1000000000ull),
					      .tv_nsec = (long)((at - now) % 1000000000ull)};
			int n = epoll_pwait2(l.ep, events, 1024, &ts, NULL);
			wait_ms = -1;
			if (n < 0 && errno != EINTR) {
				perror("echo-load: epoll_pwait2");
				l.errors_total++;
				l.errors++;
				break;
			}
			for (int i = 0; i < n; i++) {
				struct conn *c = &l.conns[events[i].data.u32];
				if (!c->alive)
					continue;
				if (events[i].events & EPOLLOUT)
					ol_flush(&l, c);
				if (c->alive &&
				    (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
					ol_read(&l, c);
			}
		}
		int n = wait_ms < 0 ? 0 : epoll_wait(l.ep, events, 1024, wait_ms);
		if (n < 0 && errno != EINTR) {
			perror("echo-load: epoll_wait");
			l.errors_total++;
			l.errors++;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = &l.conns[events[i].data.u32];
			if (!c->alive)
				continue;
			if (events[i].events & EPOLLOUT)
				conn_flush(&l, c);
			if (c->alive && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				conn_read(&l, c);
		}
		uint64_t now = now_ns();
		if (!l.counting && !t_start && now >= window_start) {
			cpu_start = cpu_of((pid_t)server_pid);
			t_start = now_ns();
			l.counting = true;
		} else if (l.counting && now >= window_end) {
			t_end = now_ns();
			cpu_end = cpu_of((pid_t)server_pid);
			l.counting = false;
			break;
		}
	}
	if (l.counting) { /* every connection failed inside the window */
		t_end = now_ns();
		cpu_end = cpu_of((pid_t)server_pid);
	}
	/* The server's memory with every connection still open. */
	long long rss_end = rss_of((pid_t)server_pid);
	for (unsigned i = 0; i < l.nconns; i++)
		if (l.conns[i].alive)
			close(l.conns[i].fd);

	double secs = t_start && t_end > t_start ? (double)(t_end - t_start) / 1e9 : 0;
	printf("{\"conns\": %u, \"size\": %u, \"seconds\": %.3f, \"msgs\": %llu, "
	       "\"msgs_per_s\": %.1f, \"p50_us\": %.2f, \"p99_us\": %.2f, \"errors\": %llu",
	       l.nconns, l.size, secs, (unsigned long long)l.msgs,
	       secs > 0 ? (double)l.msgs / secs : 0, hist_quantile(&l.hist, 0.50) / 1e3,
	       hist_quantile(&l.hist, 0.99) / 1e3, (unsigned long long)l.errors_total);
	if (cpu_start >= 0 && cpu_end >= cpu_start && l.msgs > 0)
		printf(", \"server_cpu_ns\": %lld, \"server_ns_per_msg\": %.1f",
		       (long long)(cpu_end - cpu_start),
		       (double)(cpu_end - cpu_start) / (double)l.msgs);
	else
		printf(", \"server_cpu_ns\": null, \"server_ns_per_msg\": null");
	if (l.open_loop)
		printf(", \"rate\": %.1f, \"behind\": %llu", rate, (unsigned long long)l.behind);
	if (rss_before >= 0 && rss_end >= 0)
		printf(", \"server_rss_before_kib\": %lld, \"server_rss_kib\": %lld", rss_before,
		       rss_end);
	printf("}\n");
	free(mem);
	free(l.conns);
	close(l.ep);
	return l.errors_total || !l.msgs ? 1 : 0;
}
