/* SPDX-License-Identifier: MIT */
/*
 * The fixed answer of the HTTP benchmark servers (http_kio.cpp,
 * http_asio.cpp), and the one parsing rule they share: a request ends at
 * the first blank line (requests have no body: wrk sends GETs).
 */
#ifndef KIO_BENCH_HTTP_RESPONSE_H
#define KIO_BENCH_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static const char http_response[] = "HTTP/1.1 200 OK\r\n"
				    "Content-Type: text/plain\r\n"
				    "Content-Length: 6\r\n"
				    "\r\n"
				    "hello\n";
#define HTTP_RESPONSE_LEN (sizeof(http_response) - 1)

/*
 * Counts complete requests in buf[0..len) and returns how many bytes they
 * take (the rest is the start of the next request).
 */
static inline size_t http_complete_requests(const char *buf, size_t len, unsigned *count)
{
	size_t done = 0;
	*count = 0;
	for (;;) {
		const char *end = (const char *)memmem(buf + done, len - done, "\r\n\r\n", 4);
		if (!end)
			return done;
		done = (size_t)(end - buf) + 4;
		++*count;
	}
}

/*
 * After a receive: counts the complete requests in buf[0..*have) and moves
 * what follows them (the start of the next request) to the front, updating
 * *have. False when a full buffer of cap bytes holds no complete request:
 * a header larger than these servers take.
 */
static inline bool http_take_requests(char *buf, size_t *have, size_t cap, unsigned *count)
{
	size_t used = http_complete_requests(buf, *have, count);
	if (!used)
		return *have < cap;
	memmove(buf, buf + used, *have - used);
	*have -= used;
	return true;
}

#endif /* KIO_BENCH_HTTP_RESPONSE_H */
