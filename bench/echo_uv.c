/* SPDX-License-Identifier: MIT */
/*
 * kio-bench-echo-uv - the libuv peer of the echo benchmark.
 *
 *   kio-bench-echo-uv [--port P]
 *
 * One uv loop (epoll underneath). uv_read_start() on every connection;
 * each read goes back with uv_write() from the buffer it was read into.
 * Buffers (with their write request) come from a free list, so nothing is
 * allocated per message once the list is warm.
 *
 * Prints "port N" once it accepts. SIGINT/SIGTERM (uv_signal) stop the
 * loop; it prints "cpu_ns N" (getrusage user+sys) and exits 0.
 */
#define _GNU_SOURCE
#include <uv.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define BUF_SIZE 4096

struct wbuf {
	uv_write_t req;
	struct wbuf *next;
	char data[BUF_SIZE];
};

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sig_int, sig_term;
static struct wbuf *free_bufs;

static struct wbuf *wbuf_get(void)
{
	struct wbuf *b = free_bufs;
	if (b)
		free_bufs = b->next;
	else
		b = malloc(sizeof(*b));
	return b;
}

static void wbuf_put(struct wbuf *b)
{
	b->next = free_bufs;
	free_bufs = b;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	(void)suggested;
	struct wbuf *b = wbuf_get();
	*buf = uv_buf_init(b ? b->data : NULL, b ? BUF_SIZE : 0);
}

static struct wbuf *wbuf_of(const char *data)
{
	return (struct wbuf *)(data - offsetof(struct wbuf, data));
}

static void on_closed(uv_handle_t *handle)
{
	free(handle);
}

static void on_written(uv_write_t *req, int status)
{
	struct wbuf *b = (struct wbuf *)req;
	wbuf_put(b);
	if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
		uv_close((uv_handle_t *)req->handle, on_closed);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	if (nread > 0) {
		struct wbuf *b = wbuf_of(buf->base);
		uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
		if (uv_write(&b->req, stream, &out, 1, on_written) < 0) {
			wbuf_put(b);
			uv_close((uv_handle_t *)stream, on_closed);
		}
		return;
	}
	if (buf->base)
		wbuf_put(wbuf_of(buf->base));
	if (nread < 0 && !uv_is_closing((uv_handle_t *)stream))
		uv_close((uv_handle_t *)stream, on_closed);
}

static void on_connection(uv_stream_t *srv, int status)
{
	if (status < 0)
		return;
	uv_tcp_t *client = malloc(sizeof(*client));
	if (!client)
		return;
	uv_tcp_init(loop, client);
	if (uv_accept(srv, (uv_stream_t *)client) < 0) {
		uv_close((uv_handle_t *)client, on_closed);
		return;
	}
	uv_tcp_nodelay(client, 1);
	uv_read_start((uv_stream_t *)client, on_alloc, on_read);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	(void)handle;
	(void)signum;
	uv_stop(loop);
}

static void close_any(uv_handle_t *handle, void *arg)
{
	(void)arg;
	if (uv_is_closing(handle))
		return;
	/* Connections were malloc'ed; the server and signal handles are static. */
	uv_close(handle,
		 handle->type == UV_TCP && handle != (uv_handle_t *)&server ? on_closed : NULL);
}

int main(int argc, char **argv)
{
	long port = 0;
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	int rc;

	for (int i = 1; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "--port"))
			port = atol(argv[i + 1]);
	if (argc % 2 == 0 || port < 0 || port > 65535) {
		fprintf(stderr, "usage: kio-bench-echo-uv [--port P]\n");
		return 2;
	}

	/* A write to a connection the generator closed must not kill the server. */
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	uv_tcp_init(loop, &server);
	uv_ip4_addr("127.0.0.1", (int)port, &addr);
	rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
	if (rc == 0)
		rc = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
	if (rc < 0) {
		fprintf(stderr, "echo-uv: listen: %s\n", uv_strerror(rc));
		return 1;
	}
	uv_signal_init(loop, &sig_int);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	printf("port %u\n", (unsigned)ntohs(((struct sockaddr_in *)&bound)->sin_port));
	fflush(stdout);

	uv_run(loop, UV_RUN_DEFAULT);

	bench_print_cpu_ns();

	uv_walk(loop, close_any, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	while (free_bufs) {
		struct wbuf *b = free_bufs;
		free_bufs = b->next;
		free(b);
	}
	return 0;
}
