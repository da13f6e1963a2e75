/* SPDX-License-Identifier: MIT */
/*
 * kio_resolve: getaddrinfo on the blocking pool, EAI_* codes as negated
 * errno values, the list handed to the caller only on success, host and
 * service copied at the call, cancel and destroy while queued.
 */
#include "kio_test.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <semaphore.h>

static kio_pool *pool_new(uint32_t threads)
{
	kio_pool *pool = NULL;
	assert_int_equal(kio_pool_create(&pool, threads), 0);
	return pool;
}

/* Hints with only these fields set, the rest zero as getaddrinfo wants. */
static struct addrinfo hints_of(int family, int socktype, int flags)
{
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = socktype;
	hints.ai_flags = flags;
	return hints;
}

static int is_loopback(const struct addrinfo *ai)
{
	if (ai->ai_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ai->ai_addr;
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	}
	return 0;
}

static uint16_t port_of(const struct addrinfo *ai)
{
	if (ai->ai_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ai->ai_addr)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ai->ai_addr)->sin6_port);
}

static void test_resolve_localhost(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(2);
	struct addrinfo hints = hints_of(AF_UNSPEC, SOCK_STREAM, AI_NUMERICSERV);
	struct addrinfo *list = (struct addrinfo *)&hints;
	struct kt_rec r;
	int64_t id = kio_resolve(ctx, pool, "localhost", "8080", &hints, &list, kt_rec_cb,
				 kt_rec_reset(&r));
	assert_null(list); /* cleared at the call */
	assert_int_equal(kt_await_op(ctx, id, &r), 0);
	assert_non_null(list);
	int n = 0;
	for (const struct addrinfo *ai = list; ai; ai = ai->ai_next, n++) {
		assert_true(is_loopback(ai));
		assert_int_equal(ai->ai_socktype, SOCK_STREAM);
		assert_int_equal(port_of(ai), 8080);
	}
	assert_true(n >= 1);
	freeaddrinfo(list);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
}

/* host and service are copied at the call: the caller's buffers may change. */
static void test_resolve_copies_arguments(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	char host[32], service[8];
	struct addrinfo hints = hints_of(AF_INET, SOCK_DGRAM, AI_NUMERICHOST | AI_NUMERICSERV);
	struct addrinfo *list = NULL;
	strcpy(host, "127.0.0.2");
	strcpy(service, "53");
	struct kt_rec r;
	int64_t id =
		kio_resolve(ctx, pool, host, service, &hints, &list, kt_rec_cb, kt_rec_reset(&r));
	memset(host, 'x', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	strcpy(service, "bad");
	memset(&hints, 0xff, sizeof(hints));
	assert_int_equal(kt_await_op(ctx, id, &r), 0);
	assert_non_null(list);
	assert_null(list->ai_next);
	assert_int_equal(list->ai_family, AF_INET);
	assert_int_equal(list->ai_socktype, SOCK_DGRAM);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)list->ai_addr;
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000002u);
	assert_int_equal(ntohs(sin->sin_port), 53);
	freeaddrinfo(list);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
}

/* Service only (host NULL): the wildcard or loopback address of a service. */
static void test_resolve_service_only(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct addrinfo hints = hints_of(AF_INET, SOCK_STREAM, AI_PASSIVE | AI_NUMERICSERV);
	struct addrinfo *list = NULL;
	struct kt_rec r;
	int64_t id =
		kio_resolve(ctx, pool, NULL, "4242", &hints, &list, kt_rec_cb, kt_rec_reset(&r));
	assert_int_equal(kt_await_op(ctx, id, &r), 0);
	assert_non_null(list);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)list->ai_addr;
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(ntohs(sin->sin_port), 4242);
	freeaddrinfo(list);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
}

static void test_resolve_invalid_name(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct addrinfo *list = (struct addrinfo *)&list;
	struct kt_rec r;
	/* .invalid never resolves (RFC 6761); -EAGAIN where no resolver answers. */
	int64_t id = kio_resolve(ctx, pool, "no-such-host.invalid", NULL, NULL, &list, kt_rec_cb,
				 kt_rec_reset(&r));
	int32_t res = kt_await_op(ctx, id, &r);
	assert_true(res == -ENOENT || res == -EAGAIN);
	assert_null(list);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
}

/* The EAI_* codes that do not depend on the network, as documented. */
static void test_resolve_error_mapping(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(2);
	struct {
		const char *host, *service;
		int flags, family, socktype;
		int32_t want;
	} cases[] = {
		/* EAI_NONAME: a numeric host that is not a number */
		{"not-a-number", NULL, AI_NUMERICHOST, AF_UNSPEC, 0, -ENOENT},
		/* EAI_BADFLAGS */
		{"127.0.0.1", NULL, 0x7fff0000, AF_UNSPEC, 0, -EINVAL},
		/* EAI_FAMILY */
		{"127.0.0.1", NULL, 0, 12345, 0, -EAFNOSUPPORT},
		/* EAI_SOCKTYPE */
		{"127.0.0.1", NULL, 0, AF_INET, 12345, -EINVAL},
		/* EAI_SERVICE: a service the socket type does not have */
		{"127.0.0.1", "echo", AI_NUMERICHOST, AF_INET, SOCK_RAW, -EINVAL},
	};
	enum {
		N = sizeof(cases) / sizeof(cases[0])
	};
	struct kt_rec r[N];
	struct addrinfo *lists[N];
	int64_t ids[N];
	for (int i = 0; i < N; i++) {
		struct addrinfo hints =
			hints_of(cases[i].family, cases[i].socktype, cases[i].flags);
		lists[i] = (struct addrinfo *)&hints; /* must be cleared */
		ids[i] = kio_resolve(ctx, pool, cases[i].host, cases[i].service, &hints, &lists[i],
				     kt_rec_cb, kt_rec_reset(&r[i]));
		assert_true(ids[i] >= 0);
	}
	assert_int_equal(kio_ctx_run(ctx), 0);
	for (int i = 0; i < N; i++) {
		if (r[i].res != cases[i].want)
			fail_msg("case %d: res %d (%s), expected %d", i, r[i].res,
				 kio_strerror(r[i].res), cases[i].want);
		assert_int_equal(r[i].calls, 1);
		assert_null(lists[i]);
	}
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
}

static void test_resolve_bad_args(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct addrinfo *list = NULL;
	struct kt_rec r;
	kt_rec_reset(&r);
	assert_int_equal(kio_resolve(NULL, pool, "localhost", NULL, NULL, &list, kt_rec_cb, &r),
			 -EINVAL);
	assert_int_equal(kio_resolve(ctx, NULL, "localhost", NULL, NULL, &list, kt_rec_cb, &r),
			 -EINVAL);
	assert_int_equal(kio_resolve(ctx, pool, NULL, NULL, NULL, &list, kt_rec_cb, &r), -EINVAL);
	assert_int_equal(kio_resolve(ctx, pool, "localhost", NULL, NULL, NULL, kt_rec_cb, &r),
			 -EINVAL);
	assert_int_equal(kio_resolve(ctx, pool, "localhost", NULL, NULL, &list, NULL, &r), -EINVAL);
	assert_int_equal(kio_ctx_pending(ctx), 0);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	assert_int_equal(r.calls, 0);
}

/* A job that holds the only pool thread until released; rec comes first,
 * as kt_rec_cb reads its user_data, which is also fn's. */
struct hold {
	struct kt_rec rec;
	sem_t started, release;
};

static int hold_fn(void *ud)
{
	struct hold *h = ud;
	sem_post(&h->started);
	while (sem_wait(&h->release) != 0) {
	}
	return 0;
}

/* Starts a hold_fn job and waits until it occupies a pool thread. */
static void hold_start(kio_ctx *ctx, kio_pool *pool, struct hold *h)
{
	assert_int_equal(sem_init(&h->started, 0, 0), 0);
	assert_int_equal(sem_init(&h->release, 0, 0), 0);
	kt_rec_reset(&h->rec);
	assert_true(kio_pool_submit(ctx, pool, hold_fn, kt_rec_cb, h) >= 0);
	while (sem_wait(&h->started) != 0) {
	}
}

static void test_resolve_cancel_queued(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct hold h;
	struct kt_rec r;
	hold_start(ctx, pool, &h);
	struct addrinfo *list = (struct addrinfo *)&list;
	int64_t id =
		kio_resolve(ctx, pool, "localhost", NULL, NULL, &list, kt_rec_cb, kt_rec_reset(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ECANCELED);
	assert_null(list);
	sem_post(&h.release);
	kt_run_until(ctx, &h.rec.done, 5000);
	kio_pool_destroy(pool);
	kt_drain_destroy(ctx);
	sem_destroy(&h.started);
	sem_destroy(&h.release);
}

/* Destroying the ctx with a resolve queued cancels it; its callback, run
 * inside kio_ctx_destroy(), lets the running job finish, which destroy
 * waits for. Nothing leaks (the sanitizer builds check the request). */
static struct hold *g_hold;
static struct kt_rec g_resolve_rec;

static void release_cb(void *ud, int32_t res, uint32_t flags)
{
	kt_rec_cb(ud, res, flags);
	sem_post(&g_hold->release);
}

static void test_resolve_ctx_destroy_queued(void **state)
{
	(void)state;
	kio_ctx *ctx = kt_ctx_new();
	kio_pool *pool = pool_new(1);
	struct hold h;
	g_hold = &h;
	hold_start(ctx, pool, &h);
	struct addrinfo *list = (struct addrinfo *)&list;
	assert_true(kio_resolve(ctx, pool, "localhost", "80", NULL, &list, release_cb,
				kt_rec_reset(&g_resolve_rec)) >= 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(g_resolve_rec.calls, 1);
	assert_int_equal(g_resolve_rec.res, -ECANCELED);
	assert_null(list);
	assert_int_equal(h.rec.calls, 1);
	assert_int_equal(h.rec.res, 0);
	kio_pool_destroy(pool);
	sem_destroy(&h.started);
	sem_destroy(&h.release);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_resolve_localhost),     KT_TEST(test_resolve_copies_arguments),
		KT_TEST(test_resolve_service_only),  KT_TEST(test_resolve_invalid_name),
		KT_TEST(test_resolve_error_mapping), KT_TEST(test_resolve_bad_args),
		KT_TEST(test_resolve_cancel_queued), KT_TEST(test_resolve_ctx_destroy_queued),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
