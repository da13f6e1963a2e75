/* SPDX-License-Identifier: MIT */
/*
 * bench_tls.h - what the TLS workload's clients share (kio, blocking
 * OpenSSL, Asio SSL): the command line, the loopback connect, the CPU
 * clock and the result lines. Every client talks to the same peer,
 * kio-bench-tls-peer (blocking OpenSSL, another CPU), one connection at a
 * time:
 *
 *   bulk:      one handshake, then 16 KiB writes for S seconds; MiB/s of
 *              application data the writes completed, and the client's CPU
 *              ns per KiB sent;
 *   handshake: connect, full handshake (no resumption), close, repeated
 *              for S seconds; handshakes per second.
 *
 * Header-only, C and C++.
 */
#ifndef KIO_BENCH_TLS_H
#define KIO_BENCH_TLS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define BTLS_WRITE 16384u

struct btls_args {
	bool bulk;
	int port;
	double seconds;
};

static inline bool btls_parse(int argc, char **argv, struct btls_args *a, const char *prog)
{
	a->bulk = true;
	a->port = 0;
	a->seconds = 2;
	bool ok = true;
	for (int i = 1; i < argc && ok; i++) {
		if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			const char *m = argv[++i];
			ok = strcmp(m, "bulk") == 0 || strcmp(m, "handshake") == 0;
			a->bulk = strcmp(m, "bulk") == 0;
		} else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			a->port = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			a->seconds = atof(argv[++i]);
		} else {
			ok = false;
		}
	}
	if (ok && a->port > 0 && a->port < 65536 && a->seconds > 0)
		return true;
	fprintf(stderr, "usage: %s --port P [--mode bulk|handshake] [--seconds S]\n", prog);
	return false;
}

/* A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY, or -1. */
static inline int btls_connect(int port)
{
	struct sockaddr_in sa;
	int one = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* CPU time of this process (every thread), in ns. */
static inline double btls_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * Prints the run's result lines. bulk: count is bytes written; handshake:
 * handshakes done. wall and cpu: the run's seconds and CPU ns.
 */
static inline void btls_report(const struct btls_args *a, const char *impl, double count,
			       double wall, double cpu_ns, const char *note)
{
	if (a->bulk) {
		char params[64];
		snprintf(params, sizeof(params), "{\"mode\":\"bulk\",\"write\":%u}", BTLS_WRITE);
		double mib = count / wall / (1024.0 * 1024.0);
		double per_kib = cpu_ns / (count / 1024.0);
		bench_emit("tls", impl, params, "mib_per_s", "MiB/s", true, &mib, 1, note);
		bench_emit("tls", impl, params, "cpu_ns_per_kib", "ns", false, &per_kib, 1, note);
	} else {
		double hs = count / wall;
		double per = cpu_ns / count / 1e3;
		bench_emit("tls", impl, "{\"mode\":\"handshake\"}", "handshakes_per_s", "1/s", true,
			   &hs, 1, note);
		bench_emit("tls", impl, "{\"mode\":\"handshake\"}", "cpu_us_per_handshake", "us",
			   false, &per, 1, note);
	}
}

#endif /* KIO_BENCH_TLS_H */
