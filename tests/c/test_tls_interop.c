/* SPDX-License-Identifier: MIT */
/*
 * kio's TLS against another implementation: a kio client talking to
 * `openssl s_server`, `openssl s_client` talking to a kio server, and a
 * peer that only speaks TLS 1.1 (refused both ways). The openssl children
 * run on loopback ports and are killed at the end of each test. Skipped
 * (77) when openssl(1) is not installed.
 */
#include "kt_tls.h"

#define WAIT_MS 10000

static const char *openssl_bin;

static int group_setup(void **state)
{
	openssl_bin = kt_openssl_bin();
	if (!openssl_bin) {
		fprintf(stderr, "openssl(1) not installed: skipping\n");
		exit(KT_SKIP);
	}
	return kt_tls_group_setup(state);
}

static char port_arg[64];

/* openssl s_server on a free loopback port with the server certificate;
 * extra: more arguments (NULL-terminated). */
static pid_t start_s_server(int *port, const char *const *extra)
{
	const struct kt_certs *c = kt_certs();
	*port = kt_free_port();
	snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", *port);
	const char *argv[32] = {openssl_bin, "s_server",          "-accept", port_arg,
				"-cert",     c->server.cert_path, "-key",    c->server.key_path,
				"-quiet"};
	size_t n = 9;
	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	return kt_spawn((char *const *)argv, NULL, NULL);
}

/* Reads from a session until a newline arrived; returns the length. */
static size_t tls_read_line(kio_ctx *ctx, kio_tls *t, char *buf, size_t cap)
{
	size_t got = 0;
	while (got == 0 || buf[got - 1] != '\n') {
		struct kt_rec r;
		assert_true(got < cap);
		int32_t res = kt_await_op(
			ctx, kio_tls_read(t, buf + got, cap - got, kt_rec_cb, kt_rec_reset(&r)),
			&r);
		if (res <= 0)
			fail_msg("read: %d (%s)", res, kio_tls_last_error(t));
		got += (size_t)res;
	}
	buf[got] = '\0';
	return got;
}

static void test_kio_client_openssl_server(void **state)
{
	(void)state;
	int port;
	const char *extra[] = {"-rev", "-alpn", "h2,http/1.1", NULL};
	pid_t pid = start_s_server(&port, extra);
	int fd = kt_connect_retry(port);
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = kt_client_config("localhost");
	const char *alpn[] = {"http/1.1"};
	assert_int_equal(kio_tls_config_set_alpn(cfg, alpn, 1), 0);
	kio_tls *t = NULL;
	assert_int_equal(kio_tls_create(&t, ctx, cfg, fd, KIO_TLS_CLIENT), 0);
	struct kt_rec r;
	int32_t res = kt_await_op(ctx, kio_tls_handshake(t, kt_rec_cb, kt_rec_reset(&r)), &r);
	if (res != 0)
		fail_msg("handshake: %d (%s)", res, kio_tls_last_error(t));
	assert_int_equal(kio_tls_version(t), KIO_TLS_VERSION_1_3);
	assert_string_equal(kio_tls_alpn(t), "http/1.1");
	/* s_server -rev answers each line reversed. */
	static const char line[] = "hello from kio\n";
	assert_int_equal(
		kt_await_op(ctx, kio_tls_write(t, line, strlen(line), kt_rec_cb, kt_rec_reset(&r)),
			    &r),
		(int32_t)strlen(line));
	char buf[256];
	tls_read_line(ctx, t, buf, sizeof(buf) - 1);
	assert_string_equal(buf, "oik morf olleh\n");
	assert_int_equal(kt_await_op(ctx, kio_tls_shutdown(t, kt_rec_cb, kt_rec_reset(&r)), &r), 0);
	kio_tls_destroy(t);
	kio_tls_config_destroy(cfg);
	assert_int_equal(close(fd), 0);
	kt_kill(pid);
	kt_drain_destroy(ctx);
}

/* Accepts one connection on lfd, waiting at most 10 s. */
static int accept_one(int lfd)
{
	struct pollfd p = {lfd, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 10000), 1);
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void test_openssl_client_kio_server(void **state)
{
	(void)state;
	const struct kt_certs *c = kt_certs();
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);
	snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", ntohs(addr.sin_port));
	const char *argv[] = {openssl_bin,
			      "s_client",
			      "-connect",
			      port_arg,
			      "-CAfile",
			      c->ca.cert_path,
			      "-servername",
			      "localhost",
			      "-verify_hostname",
			      "localhost",
			      "-verify_return_error",
			      "-quiet",
			      "-no_ign_eof",
			      NULL};
	int in_fd, out_fd;
	pid_t pid = kt_spawn((char *const *)argv, &in_fd, &out_fd);
	int fd = accept_one(lfd);
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = NULL;
	assert_int_equal(kio_tls_config_create(&cfg), 0);
	assert_int_equal(kio_tls_config_set_cert_file(cfg, c->server.cert_path, c->server.key_path),
			 0);
	kio_tls *t = NULL;
	assert_int_equal(kio_tls_create(&t, ctx, cfg, fd, KIO_TLS_SERVER), 0);
	struct kt_rec r;
	int32_t res = kt_await_op(ctx, kio_tls_handshake(t, kt_rec_cb, kt_rec_reset(&r)), &r);
	if (res != 0)
		fail_msg("handshake: %d (%s)", res, kio_tls_last_error(t));
	assert_string_equal(kio_tls_server_name(t), "localhost");
	/* A line typed into s_client reaches the kio server... */
	assert_int_equal(write(in_fd, "ping\n", 5), 5);
	char buf[256];
	tls_read_line(ctx, t, buf, sizeof(buf) - 1);
	assert_string_equal(buf, "ping\n");
	/* ...and the answer comes out of s_client. */
	assert_int_equal(
		kt_await_op(ctx, kio_tls_write(t, "pong\n", 5, kt_rec_cb, kt_rec_reset(&r)), &r),
		5);
	kt_read_exact(out_fd, buf, 5);
	assert_memory_equal(buf, "pong\n", 5);
	/* End of its input: s_client closes with close_notify, a clean end. */
	assert_int_equal(close(in_fd), 0);
	res = kt_await_op(ctx, kio_tls_read(t, buf, sizeof(buf), kt_rec_cb, kt_rec_reset(&r)), &r);
	assert_int_equal(res, 0);
	kio_tls_destroy(t);
	kio_tls_config_destroy(cfg);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(lfd), 0);
	assert_int_equal(close(out_fd), 0);
	kt_kill(pid);
	kt_drain_destroy(ctx);
}

static void test_tls12_server(void **state)
{
	(void)state;
	int port;
	const char *extra[] = {"-tls1_2", "-rev", NULL};
	pid_t pid = start_s_server(&port, extra);
	int fd = kt_connect_retry(port);
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = kt_client_config("localhost");
	kio_tls *t = NULL;
	assert_int_equal(kio_tls_create(&t, ctx, cfg, fd, KIO_TLS_CLIENT), 0);
	struct kt_rec r;
	int32_t res = kt_await_op(ctx, kio_tls_handshake(t, kt_rec_cb, kt_rec_reset(&r)), &r);
	if (res != 0)
		fail_msg("handshake: %d (%s)", res, kio_tls_last_error(t));
	assert_int_equal(kio_tls_version(t), KIO_TLS_VERSION_1_2);
	static const char line[] = "abc\n";
	assert_int_equal(
		kt_await_op(ctx, kio_tls_write(t, line, 4, kt_rec_cb, kt_rec_reset(&r)), &r), 4);
	char buf[64];
	tls_read_line(ctx, t, buf, sizeof(buf) - 1);
	assert_string_equal(buf, "cba\n");
	kio_tls_destroy(t);
	assert_int_equal(close(fd), 0);
	kt_kill(pid);

	/* A client requiring TLS 1.3 refuses it. */
	pid = start_s_server(&port, extra);
	fd = kt_connect_retry(port);
	assert_int_equal(kio_tls_config_set_min_version(cfg, KIO_TLS_VERSION_1_3), 0);
	assert_int_equal(kio_tls_create(&t, ctx, cfg, fd, KIO_TLS_CLIENT), 0);
	res = kt_await_op(ctx, kio_tls_handshake(t, kt_rec_cb, kt_rec_reset(&r)), &r);
	assert_int_equal(res, -EPROTONOSUPPORT);
	kio_tls_destroy(t);
	kio_tls_config_destroy(cfg);
	assert_int_equal(close(fd), 0);
	kt_kill(pid);
	kt_drain_destroy(ctx);
}

static void test_refuses_tls11_server(void **state)
{
	(void)state;
	int port;
	/* OpenSSL 3 allows TLS 1.1 only at security level 0. */
	const char *extra[] = {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", NULL};
	pid_t pid = start_s_server(&port, extra);
	int fd = kt_connect_retry(port);
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = kt_client_config("localhost");
	kio_tls *t = NULL;
	assert_int_equal(kio_tls_create(&t, ctx, cfg, fd, KIO_TLS_CLIENT), 0);
	struct kt_rec r;
	int32_t res = kt_await_op(ctx, kio_tls_handshake(t, kt_rec_cb, kt_rec_reset(&r)), &r);
	assert_int_equal(res, -EPROTONOSUPPORT);
	assert_true(strlen(kio_tls_last_error(t)) > 0);
	kio_tls_destroy(t);
	kio_tls_config_destroy(cfg);
	assert_int_equal(close(fd), 0);
	kt_kill(pid);
	kt_drain_destroy(ctx);
}

static void test_refuses_tls11_client(void **state)
{
	(void)state;
	const struct kt_certs *c = kt_certs();
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);
	snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", ntohs(addr.sin_port));
	const char *argv[] = {openssl_bin, "s_client",           "-connect", port_arg, "-tls1_1",
			      "-cipher",   "DEFAULT@SECLEVEL=0", "-quiet",   NULL};
	int in_fd;
	pid_t pid = kt_spawn((char *const *)argv, &in_fd, NULL);
	int fd = accept_one(lfd);
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = kt_server_config(&c->server);
	kio_tls *t = NULL;
	assert_int_equal(kio_tls_create(&t, ctx, cfg, fd, KIO_TLS_SERVER), 0);
	struct kt_rec r;
	int32_t res = kt_await_op(ctx, kio_tls_handshake(t, kt_rec_cb, kt_rec_reset(&r)), &r);
	assert_int_equal(res, -EPROTONOSUPPORT);
	assert_true(strlen(kio_tls_last_error(t)) > 0);
	kio_tls_destroy(t);
	kio_tls_config_destroy(cfg);
	assert_int_equal(close(fd), 0);
	assert_int_equal(close(lfd), 0);
	assert_int_equal(close(in_fd), 0);
	kt_kill(pid);
	kt_drain_destroy(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_kio_client_openssl_server),
		KT_TEST(test_openssl_client_kio_server),
		KT_TEST(test_tls12_server),
		KT_TEST(test_refuses_tls11_server),
		KT_TEST(test_refuses_tls11_client),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
