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

/* A kio client session *t with cfg on ctx, connected to a new s_server
 * (extra: as for start_s_server); *fd: its socket. Returns the child. */
static pid_t connect_s_server(kio_ctx *ctx, kio_tls_config *cfg, const char *const *extra,
			      int *fd, kio_tls **t)
{
	int port;
	pid_t pid = start_s_server(&port, extra);
	*fd = kt_connect_retry(port);
	assert_int_equal(kio_tls_create(t, ctx, cfg, *fd, KIO_TLS_CLIENT), 0);
	return pid;
}

/* Reads from a session until a newline arrived; returns the length. */
static size_t tls_read_line(kio_ctx *ctx, kio_tls *t, char *buf, size_t cap)
{
	size_t got = 0;
	while (got == 0 || buf[got - 1] != '\n') {
		assert_true(got < cap);
		got += kt_tls_read_some(ctx, t, buf + got, cap - got);
	}
	buf[got] = '\0';
	return got;
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

/* openssl s_client connected to a loopback listener; *fd: kio's end of the
 * connection; extra: more arguments (NULL-terminated); in_fd, out_fd: as
 * for kt_spawn. */
static pid_t start_s_client(int *fd, const char *const *extra, int *in_fd, int *out_fd)
{
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);
	snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%d", ntohs(addr.sin_port));
	const char *argv[32] = {openssl_bin, "s_client", "-connect", port_arg};
	size_t n = 4;
	for (; *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	pid_t pid = kt_spawn((char *const *)argv, in_fd, out_fd);
	*fd = accept_one(lfd);
	assert_int_equal(close(lfd), 0);
	return pid;
}

/* Ends a session with an openssl child: the session, its socket, the child. */
static void end_session(kio_tls *t, int fd, pid_t pid)
{
	kio_tls_destroy(t);
	assert_int_equal(close(fd), 0);
	kt_kill(pid);
}

/* A handshake the peer's protocol version makes fail, with a reason. */
static void assert_refused(kio_ctx *ctx, kio_tls *t)
{
	assert_int_equal(kt_tls_handshake_wait(ctx, t), -EPROTONOSUPPORT);
	assert_true(strlen(kio_tls_last_error(t)) > 0);
}

static void test_kio_client_openssl_server(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = kt_client_config("localhost");
	const char *alpn[] = {"http/1.1"};
	assert_int_equal(kio_tls_config_set_alpn(cfg, alpn, 1), 0);
	const char *extra[] = {"-rev", "-alpn", "h2,http/1.1", NULL};
	int fd;
	kio_tls *t = NULL;
	pid_t pid = connect_s_server(ctx, cfg, extra, &fd, &t);
	kt_tls_handshake_ok(ctx, t);
	assert_int_equal(kio_tls_version(t), KIO_TLS_VERSION_1_3);
	assert_string_equal(kio_tls_alpn(t), "http/1.1");
	/* s_server -rev answers each line reversed. */
	static const char line[] = "hello from kio\n";
	assert_int_equal(kt_tls_write_wait(ctx, t, line, strlen(line)), (int32_t)strlen(line));
	char buf[256];
	tls_read_line(ctx, t, buf, sizeof(buf) - 1);
	assert_string_equal(buf, "oik morf olleh\n");
	assert_int_equal(kt_tls_shutdown_wait(ctx, t), 0);
	end_session(t, fd, pid);
	kio_tls_config_destroy(cfg);
	kt_drain_destroy(ctx);
}

static void test_openssl_client_kio_server(void **state)
{
	(void)state;
	const struct kt_certs *c = kt_certs();
	const char *extra[] = {"-CAfile",
			       c->ca.cert_path,
			       "-servername",
			       "localhost",
			       "-verify_hostname",
			       "localhost",
			       "-verify_return_error",
			       "-quiet",
			       "-no_ign_eof",
			       NULL};
	int fd, in_fd, out_fd;
	pid_t pid = start_s_client(&fd, extra, &in_fd, &out_fd);
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = NULL;
	assert_int_equal(kio_tls_config_create(&cfg), 0);
	assert_int_equal(kio_tls_config_set_cert_file(cfg, c->server.cert_path, c->server.key_path),
			 0);
	kio_tls *t = NULL;
	assert_int_equal(kio_tls_create(&t, ctx, cfg, fd, KIO_TLS_SERVER), 0);
	kt_tls_handshake_ok(ctx, t);
	assert_string_equal(kio_tls_server_name(t), "localhost");
	/* A line typed into s_client reaches the kio server... */
	assert_int_equal(write(in_fd, "ping\n", 5), 5);
	char buf[256];
	tls_read_line(ctx, t, buf, sizeof(buf) - 1);
	assert_string_equal(buf, "ping\n");
	/* ...and the answer comes out of s_client. */
	assert_int_equal(kt_tls_write_wait(ctx, t, "pong\n", 5), 5);
	kt_read_exact(out_fd, buf, 5);
	assert_memory_equal(buf, "pong\n", 5);
	/* End of its input: s_client closes with close_notify, a clean end. */
	assert_int_equal(close(in_fd), 0);
	assert_int_equal(kt_tls_read_wait(ctx, t, buf, sizeof(buf)), 0);
	assert_int_equal(close(out_fd), 0);
	end_session(t, fd, pid);
	kio_tls_config_destroy(cfg);
	kt_drain_destroy(ctx);
}

static void test_tls12_server(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = kt_client_config("localhost");
	const char *extra[] = {"-tls1_2", "-rev", NULL};
	int fd;
	kio_tls *t = NULL;
	pid_t pid = connect_s_server(ctx, cfg, extra, &fd, &t);
	kt_tls_handshake_ok(ctx, t);
	assert_int_equal(kio_tls_version(t), KIO_TLS_VERSION_1_2);
	assert_int_equal(kt_tls_write_wait(ctx, t, "abc\n", 4), 4);
	char buf[64];
	tls_read_line(ctx, t, buf, sizeof(buf) - 1);
	assert_string_equal(buf, "cba\n");
	end_session(t, fd, pid);

	/* A client requiring TLS 1.3 refuses it. */
	assert_int_equal(kio_tls_config_set_min_version(cfg, KIO_TLS_VERSION_1_3), 0);
	pid = connect_s_server(ctx, cfg, extra, &fd, &t);
	assert_int_equal(kt_tls_handshake_wait(ctx, t), -EPROTONOSUPPORT);
	end_session(t, fd, pid);
	kio_tls_config_destroy(cfg);
	kt_drain_destroy(ctx);
}

static void test_refuses_tls11_server(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = kt_client_config("localhost");
	/* OpenSSL 3 allows TLS 1.1 only at security level 0. */
	const char *extra[] = {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", NULL};
	int fd;
	kio_tls *t = NULL;
	pid_t pid = connect_s_server(ctx, cfg, extra, &fd, &t);
	assert_refused(ctx, t);
	end_session(t, fd, pid);
	kio_tls_config_destroy(cfg);
	kt_drain_destroy(ctx);
}

static void test_refuses_tls11_client(void **state)
{
	(void)state;
	const char *extra[] = {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-quiet", NULL};
	int fd, in_fd;
	pid_t pid = start_s_client(&fd, extra, &in_fd, NULL);
	kio_ctx *ctx = kt_ctx_new();
	kio_tls_config *cfg = kt_server_config(&kt_certs()->server);
	kio_tls *t = NULL;
	assert_int_equal(kio_tls_create(&t, ctx, cfg, fd, KIO_TLS_SERVER), 0);
	assert_refused(ctx, t);
	assert_int_equal(close(in_fd), 0);
	end_session(t, fd, pid);
	kio_tls_config_destroy(cfg);
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
