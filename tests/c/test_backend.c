/* SPDX-License-Identifier: MIT */
/*
 * The two backends behind one ABI (DESIGN.md "Backends"): how
 * kio_ctx_create() picks one (flags, KIO_BACKEND, the fallback when a
 * seccomp filter refuses io_uring_setup), what kio_ctx_probe() answers on
 * epoll and whether every op works there, and the hazards the epoll
 * backend's mechanism brings: fd numbers reused under a persistent
 * registration, blocking sockets switched to O_NONBLOCK for one call,
 * MSG_DONTWAIT, page-cache reads finished on the thread pool, calls that
 * block a pool thread, a CQ smaller than a burst, cancel racing readiness,
 * destroy with every kind of op in flight, EMFILE, a reset peer, the end
 * of a stream arriving with its last data, a starved buffer ring.
 *
 * The suite runs twice (KIO_BACKEND=io_uring, then =epoll). These tests
 * choose their backend with flags, so both runs test the same thing: the
 * epoll backend always, then the io_uring backend where the system allows
 * it, with the same expectations, since the contract is one.
 *
 * Covered for both backends by the second run of the suite already, and
 * only touched here where the epoll mechanism adds a twist: multishot
 * EMFILE and -ENOBUFS (test_net_multishot.c), cancel racing a recv and
 * destroy with socket ops in flight (test_net.c), buffer ring bookkeeping
 * (test_bufring.c), the contract per op (test_contract.c).
 */
#include "kt_net.h"

#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <netdb.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define WAIT_MS 5000
#define IORING_OP_FTRUNCATE_ 55 /* newer than the uapi header of liburing 2.3 systems */

/* "kt_rec_cb, kt_rec_reset(r)": the last two arguments of an op call. */
#define CB(r) kt_rec_cb, kt_rec_reset(r)

/* ---- context, environment and per-test state ---------------------------- */

static const char *be_name(uint32_t flags)
{
	return (flags & KIO_CTX_BACKEND_EPOLL) ? "epoll" : "io_uring";
}

/* A ctx on the backend flags name (KIO_CTX_BACKEND_EPOLL, or
 * KIO_CTX_NO_FALLBACK for io_uring), sq/cq sizes 0 for the defaults. */
static kio_ctx *bt_ctx(uint32_t flags, uint32_t sq, uint32_t cq)
{
	kio_ctx_opts o;
	kio_ctx_opts_init(&o, sizeof(o));
	o.flags = flags;
	if (sq)
		o.sq_entries = sq;
	if (cq)
		o.cq_entries = cq;
	kio_ctx *ctx = NULL;
	int rc = kio_ctx_create(&ctx, &o, sizeof(o));
	if (rc != 0)
		fail_msg("kio_ctx_create on %s: %s", be_name(flags), kio_strerror(rc));
	assert_int_equal(kio_ctx_backend(ctx),
			 (flags & KIO_CTX_BACKEND_EPOLL) ? KIO_BACKEND_EPOLL : KIO_BACKEND_IO_URING);
	return ctx;
}

static kio_ctx *epoll_ctx(void)
{
	return bt_ctx(KIO_CTX_BACKEND_EPOLL, 0, 0);
}

static int refused(int rc)
{
	return rc == -EPERM || rc == -EACCES || rc == -ENOSYS;
}

/* Whether the system lets kio use io_uring, asked with a flag so that
 * KIO_BACKEND plays no part. */
static int uring_ok(void)
{
	static int known = -1;
	if (known < 0) {
		kio_ctx_opts o;
		kio_ctx_opts_init(&o, sizeof(o));
		o.flags = KIO_CTX_NO_FALLBACK;
		kio_ctx *ctx = NULL;
		int rc = kio_ctx_create(&ctx, &o, sizeof(o));
		if (rc != 0 && !refused(rc))
			fail_msg("io_uring probe: %s", kio_strerror(rc));
		known = rc == 0;
		kio_ctx_destroy(ctx);
		if (!known)
			print_message("io_uring refused here (%s): io_uring expectations skipped\n",
				      kio_strerror(rc));
	}
	return known;
}

/* The backends a case runs on: epoll always, io_uring where allowed. */
static int backends(uint32_t out[2])
{
	int n = 0;
	out[n++] = KIO_CTX_BACKEND_EPOLL;
	if (uring_ok())
		out[n++] = KIO_CTX_NO_FALLBACK;
	return n;
}

/* Runs fn(flags) on each backend, epoll first. */
#define FOR_EACH_BACKEND(fn)                                                   \
	do {                                                                   \
		uint32_t be_[2];                                               \
		int nbe_ = backends(be_);                                      \
		for (int i_ = 0; i_ < nbe_; i_++) {                            \
			print_message("  %s on %s\n", #fn, be_name(be_[i_])); \
			fn(be_[i_]);                                           \
		}                                                              \
	} while (0)

/*
 * Each test runs between kt_setup/kt_teardown (no fd or thread leaked)
 * and gets KIO_BACKEND and RLIMIT_NOFILE back as they were, even when an
 * assertion cut it short.
 */
struct bt_state {
	void *leak;
	int had_env;
	char env[256];
	struct rlimit nofile;
};

static int bt_setup(void **state)
{
	struct bt_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	const char *v = getenv("KIO_BACKEND");
	s->had_env = v != NULL;
	if (v)
		snprintf(s->env, sizeof(s->env), "%s", v);
	if (getrlimit(RLIMIT_NOFILE, &s->nofile) != 0 || kt_setup(&s->leak) != 0) {
		free(s);
		return -1;
	}
	*state = s;
	return 0;
}

static int bt_teardown(void **state)
{
	struct bt_state *s = *state;
	setrlimit(RLIMIT_NOFILE, &s->nofile);
	if (s->had_env)
		setenv("KIO_BACKEND", s->env, 1);
	else
		unsetenv("KIO_BACKEND");
	int rc = kt_teardown(&s->leak);
	free(s);
	return rc;
}

#define BT_TEST(fn) cmocka_unit_test_setup_teardown(fn, bt_setup, bt_teardown)

/* Runs ctx until *count reaches n; fails after WAIT_MS. */
static void run_until_count(kio_ctx *ctx, const int *count, int n)
{
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (*count < n) {
		if (kt_now_ns() >= deadline)
			fail_msg("%d of %d callbacks within %d ms", *count, n, WAIT_MS);
		assert_true(kio_ctx_run_once(ctx, 50 * (int64_t)KT_MS) >= 0);
	}
}

/* Runs ctx until *flag is set or ms passed, without failing: the caller
 * cleans up first, then asserts. Returns the flag. */
static int run_until_soft(kio_ctx *ctx, const volatile int *flag, uint64_t ms)
{
	uint64_t deadline = kt_now_ns() + ms * KT_MS;
	while (!*flag && kt_now_ns() < deadline)
		assert_true(kio_ctx_run_once(ctx, (int64_t)(10 * KT_MS)) >= 0);
	return *flag;
}

static int nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0);
	return (fl & O_NONBLOCK) != 0;
}

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	return fd;
}

static int tcp_connect(const struct sockaddr_in *addr)
{
	int fd = tcp_socket();
	assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof(*addr)), 0);
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static uint16_t peer_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	assert_int_equal(getpeername(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

/* A file of size pattern bytes (stream seed), written and synced. */
static int make_file(const char *dir, const char *name, size_t size, unsigned seed, int flags)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	unsigned char b[65536];
	for (size_t done = 0; done < size;) {
		size_t n = size - done < sizeof(b) ? size - done : sizeof(b);
		kt_fill(b, n, done, seed);
		assert_int_equal(pwrite(fd, b, n, (off_t)done), (ssize_t)n);
		done += n;
	}
	assert_int_equal(fsync(fd), 0);
	assert_int_equal(close(fd), 0);
	fd = open(path, flags | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Fills every fd number below `target` that is free with /dev/null, so
 * that once target is closed, it is the lowest free number. */
struct plug {
	int fds[512];
	int n;
};

static void plug_below(struct plug *p, int target)
{
	p->n = 0;
	for (int fd = 0; fd < target; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		assert_true(p->n < 512);
		int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_int_equal(nfd, fd);
		p->fds[p->n++] = nfd;
	}
}

static void unplug(struct plug *p)
{
	for (int i = 0; i < p->n; i++)
		assert_int_equal(close(p->fds[i]), 0);
	p->n = 0;
}

/* Every callback of a multishot op; a buffer ring makes it a receive. */
struct ms {
	int calls, more, finals, after_final, bad;
	int32_t final_res;
	uint32_t final_flags;
	int fds[64]; /* accept: the fds delivered */
	int nfds;
	kio_buf_ring *ring; /* recv: data copied out of the ring */
	uint32_t size;
	int release;
	unsigned char *got;
	size_t n, cap;
	int held[64];
	int nheld;
};

static void ms_cb(void *ud, int32_t res, uint32_t flags)
{
	struct ms *m = ud;
	m->calls++;
	if (m->finals)
		m->after_final++;
	if (!(flags & KIO_F_MORE)) {
		m->finals++;
		m->final_res = res;
		m->final_flags = flags;
	} else {
		m->more++;
	}
	if (!m->ring) {
		if (flags & KIO_F_MORE) {
			if (res < 0 || m->nfds >= 64)
				m->bad++;
			else
				m->fds[m->nfds++] = res;
		}
		return;
	}
	if (res <= 0) {
		if (flags & KIO_F_BUFFER)
			m->bad++;
		return;
	}
	uint16_t id = (uint16_t)(flags >> 16);
	const unsigned char *p = kio_buf_ring_data(m->ring, id);
	if (!(flags & KIO_F_BUFFER) || !p || (uint32_t)res > m->size || m->n + (size_t)res > m->cap) {
		m->bad++;
		return;
	}
	memcpy(m->got + m->n, p, (size_t)res);
	m->n += (size_t)res;
	if (m->release) {
		if (kio_buf_ring_release(m->ring, id) != 0)
			m->bad++;
	} else if (m->nheld < 64) {
		m->held[m->nheld++] = id;
	}
}

static void ms_init(struct ms *m, kio_buf_ring *ring, uint32_t size, size_t cap, int release)
{
	memset(m, 0, sizeof(*m));
	m->ring = ring;
	m->size = size;
	m->release = release;
	m->cap = cap;
	if (cap) {
		m->got = malloc(cap);
		assert_non_null(m->got);
	}
}

static void ms_close_fds(struct ms *m)
{
	for (int i = 0; i < m->nfds; i++)
		assert_int_equal(close(m->fds[i]), 0);
	m->nfds = 0;
}

/* Runs ctx until m has n callbacks with KIO_F_MORE, or a final one. */
static void run_until_more(kio_ctx *ctx, const struct ms *m, int n)
{
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (m->more < n && !m->finals) {
		if (kt_now_ns() >= deadline)
			fail_msg("%d of %d multishot callbacks within %d ms", m->more, n, WAIT_MS);
		assert_true(kio_ctx_run_once(ctx, 50 * (int64_t)KT_MS) >= 0);
	}
}

/* Runs ctx until m received n bytes, or its final callback. */
static void run_until_bytes(kio_ctx *ctx, const struct ms *m, size_t n)
{
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (m->n < n && !m->finals) {
		if (kt_now_ns() >= deadline)
			fail_msg("%zu of %zu bytes within %d ms", m->n, n, WAIT_MS);
		assert_true(kio_ctx_run_once(ctx, 50 * (int64_t)KT_MS) >= 0);
	}
}

/* ---- 1. selection -------------------------------------------------------- */

static char warn_text[512];
static int warn_count;

static void capture_log(void *ud, int level, const char *msg, size_t len)
{
	(void)ud;
	if (level != KIO_LOG_WARN || !memmem(msg, len, "KIO_BACKEND", 11))
		return;
	warn_count++;
	snprintf(warn_text, sizeof(warn_text), "%.*s", (int)len, msg);
}

static void opts_flags(kio_ctx_opts *o, uint32_t flags)
{
	kio_ctx_opts_init(o, sizeof(*o));
	o->flags = flags;
}

/*
 * kio_ctx_create(opts) (NULL: defaults). On success the ctx must work (a
 * NOP) and *backend says which one it is; on failure *out must be NULL.
 */
static int try_create(const kio_ctx_opts *opts, int *backend)
{
	kio_ctx *ctx = (kio_ctx *)&ctx; /* not NULL: the call must clear it */
	int rc = kio_ctx_create(&ctx, opts, opts ? sizeof(*opts) : 0);
	*backend = 0;
	if (rc < 0) {
		assert_null(ctx);
		return rc;
	}
	assert_int_equal(rc, 0);
	assert_non_null(ctx);
	*backend = kio_ctx_backend(ctx);
	struct kt_rec r;
	assert_int_equal(kt_await_op(ctx, kio_nop(ctx, CB(&r)), &r), 0);
	kt_drain_destroy(ctx);
	return rc;
}

/* With io_uring required: the io_uring backend, or where the system
 * refuses it, its error. */
static void expect_uring_or_refusal(const kio_ctx_opts *opts, const char *what)
{
	int be;
	int rc = try_create(opts, &be);
	if (uring_ok()) {
		if (rc != 0)
			fail_msg("%s: %s", what, kio_strerror(rc));
		assert_int_equal(be, KIO_BACKEND_IO_URING);
	} else {
		if (!refused(rc))
			fail_msg("%s without io_uring: got %d, want -EPERM/-EACCES/-ENOSYS", what, rc);
	}
}

static void test_backend_selection(void **state)
{
	(void)state;
	kio_ctx_opts o;
	int be;
	int automatic;

	unsetenv("KIO_BACKEND");
	automatic = uring_ok() ? KIO_BACKEND_IO_URING : KIO_BACKEND_EPOLL;
	if (!uring_ok())
		print_message("no io_uring here: io_uring-only expectations skipped\n");

	/* Flags. */
	opts_flags(&o, KIO_CTX_BACKEND_EPOLL);
	assert_int_equal(try_create(&o, &be), 0);
	assert_int_equal(be, KIO_BACKEND_EPOLL);
	opts_flags(&o, KIO_CTX_BACKEND_EPOLL | KIO_CTX_NO_DEFER_TASKRUN);
	assert_int_equal(try_create(&o, &be), 0);
	assert_int_equal(be, KIO_BACKEND_EPOLL);
	opts_flags(&o, KIO_CTX_SQPOLL | KIO_CTX_BACKEND_EPOLL);
	assert_int_equal(try_create(&o, &be), -EINVAL);
	opts_flags(&o, 1u << 6);
	assert_int_equal(try_create(&o, &be), -EINVAL);
	opts_flags(&o, KIO_CTX_BACKEND_EPOLL | (1u << 6));
	assert_int_equal(try_create(&o, &be), -EINVAL);
	opts_flags(&o, KIO_CTX_NO_FALLBACK);
	expect_uring_or_refusal(&o, "KIO_CTX_NO_FALLBACK");
	opts_flags(&o, 0);
	assert_int_equal(try_create(&o, &be), 0);
	assert_int_equal(be, automatic);
	assert_int_equal(try_create(NULL, &be), 0);
	assert_int_equal(be, automatic);

	/* The environment, where the flags leave the choice open. */
	assert_int_equal(setenv("KIO_BACKEND", "epoll", 1), 0);
	assert_int_equal(try_create(NULL, &be), 0);
	assert_int_equal(be, KIO_BACKEND_EPOLL);
	opts_flags(&o, KIO_CTX_NO_DEFER_TASKRUN);
	assert_int_equal(try_create(&o, &be), 0);
	assert_int_equal(be, KIO_BACKEND_EPOLL);

	assert_int_equal(setenv("KIO_BACKEND", "io_uring", 1), 0);
	expect_uring_or_refusal(NULL, "KIO_BACKEND=io_uring");

	assert_int_equal(setenv("KIO_BACKEND", "", 1), 0);
	assert_int_equal(try_create(NULL, &be), 0);
	assert_int_equal(be, automatic);

	/* An unknown value: ignored (automatic choice) with one WARN line. */
	warn_count = 0;
	warn_text[0] = 0;
	kio_log_set_handler(capture_log, NULL);
	assert_int_equal(setenv("KIO_BACKEND", "bogus", 1), 0);
	int rc = try_create(NULL, &be);
	assert_int_equal(kio_log_flush(5000 * KT_MS), 0);
	kio_log_set_handler(NULL, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(be, automatic);
	assert_int_equal(warn_count, 1);
	assert_non_null(strstr(warn_text, "bogus"));

	/* Flags beat the environment, both ways. */
	assert_int_equal(setenv("KIO_BACKEND", "io_uring", 1), 0);
	opts_flags(&o, KIO_CTX_BACKEND_EPOLL);
	assert_int_equal(try_create(&o, &be), 0);
	assert_int_equal(be, KIO_BACKEND_EPOLL);
	assert_int_equal(setenv("KIO_BACKEND", "epoll", 1), 0);
	opts_flags(&o, KIO_CTX_NO_FALLBACK);
	expect_uring_or_refusal(&o, "KIO_CTX_NO_FALLBACK with KIO_BACKEND=epoll");

	assert_int_equal(kio_ctx_backend(NULL), -EINVAL);
}

/* ---- 2. fallback under a seccomp filter ---------------------------------- */

#if defined(__x86_64__)
#define BT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define BT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define BT_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define BT_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BT_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define BT_AUDIT_ARCH AUDIT_ARCH_S390X
#endif

/* In the child: checks that print what failed and end it with status 1. */
#define CK(cond)                                                                          \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "seccomp child (errno %d): line %d: %s\n", err, __LINE__, \
				#cond);                                                   \
			return 1;                                                         \
		}                                                                         \
	} while (0)

#ifdef BT_AUDIT_ARCH
/* io_uring_setup fails with err from now on, in this thread and its
 * children; every other system call is allowed. */
static int deny_io_uring_setup(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BT_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return -errno;
	return 0;
}
#endif

/* The child's own loop (no cmocka there): the op's res, or INT32_MIN when
 * its callback did not come once within 5 s. */
static int32_t child_await(kio_ctx *ctx, int64_t id, struct kt_rec *r)
{
	if (id < 0)
		return INT32_MIN;
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (!r->done && kt_now_ns() < deadline)
		if (kio_ctx_run_once(ctx, 50 * (int64_t)KT_MS) < 0)
			return INT32_MIN;
	return r->done && r->calls == 1 ? r->res : INT32_MIN;
}

static int fallback_child(int err)
{
#ifndef BT_AUDIT_ARCH
	(void)err;
	return KT_SKIP;
#else
	unsetenv("KIO_BACKEND");
	int rc = deny_io_uring_setup(err);
	if (rc == -EINVAL || rc == -ENOSYS)
		return KT_SKIP; /* a kernel without seccomp filters */
	CK(rc == 0);
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	errno = 0;
	CK(syscall(__NR_io_uring_setup, 4, &p) == -1 && errno == err);

	/* Nothing asked for: the epoll backend, and it works. */
	kio_ctx *ctx = NULL;
	CK(kio_ctx_create(&ctx, NULL, 0) == 0 && ctx != NULL);
	CK(kio_ctx_backend(ctx) == KIO_BACKEND_EPOLL);
	CK(kio_ctx_probe(ctx, IORING_OP_NOP) == 1);
	CK(kio_ctx_probe(ctx, IORING_OP_TIMEOUT) == 0);
	struct kt_rec r;
	CK(child_await(ctx, kio_nop(ctx, CB(&r)), &r) == 0);
	int sv[2];
	CK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	char in[16] = {0};
	struct kt_rec rr;
	int64_t rid = kio_recv(ctx, sv[1], in, sizeof(in), 0, CB(&rr));
	CK(child_await(ctx, kio_send(ctx, sv[0], "seccomp", 7, 0, CB(&r)), &r) == 7);
	CK(child_await(ctx, rid, &rr) == 7);
	CK(memcmp(in, "seccomp", 7) == 0);
	kio_ctx_destroy(ctx);
	close(sv[0]);
	close(sv[1]);

	/* io_uring required: its error, and *out stays NULL. */
	kio_ctx_opts o;
	kio_ctx_opts_init(&o, sizeof(o));
	o.flags = KIO_CTX_NO_FALLBACK;
	ctx = (kio_ctx *)&o;
	CK(kio_ctx_create(&ctx, &o, sizeof(o)) == -err);
	CK(ctx == NULL);
	CK(setenv("KIO_BACKEND", "io_uring", 1) == 0);
	ctx = (kio_ctx *)&o;
	CK(kio_ctx_create(&ctx, NULL, 0) == -err);
	CK(ctx == NULL);
	/* The flag still beats the environment. */
	o.flags = KIO_CTX_BACKEND_EPOLL;
	CK(kio_ctx_create(&ctx, &o, sizeof(o)) == 0 && kio_ctx_backend(ctx) == KIO_BACKEND_EPOLL);
	kio_ctx_destroy(ctx);
	CK(setenv("KIO_BACKEND", "epoll", 1) == 0);
	CK(kio_ctx_create(&ctx, NULL, 0) == 0 && kio_ctx_backend(ctx) == KIO_BACKEND_EPOLL);
	kio_ctx_destroy(ctx);
	return 0;
#endif
}

/* Runs fn(arg) in a child process; its exit status is the verdict (0 ok,
 * 77 skip). Waits at most 20 s, then kills it. Returns the status. */
static int run_child(int (*fn)(int), int arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	int status = 0;
	/* A pidfd turns readable when the child ends: a bounded wait. */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = {pfd, POLLIN, 0};
		(void)poll(&p, 1, 20000);
		assert_int_equal(close(pfd), 0);
	}
	pid_t got = waitpid(pid, &status, pfd >= 0 ? WNOHANG : 0);
	if (got == 0) {
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		fail_msg("child (arg %d) did not finish within 20 s", arg);
	}
	assert_int_equal(got, pid);
	if (WIFSIGNALED(status))
		fail_msg("child (arg %d) killed by signal %d", arg, WTERMSIG(status));
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_backend_seccomp_fallback(void **state)
{
	(void)state;
	const int errs[] = {EPERM, ENOSYS, EACCES};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		int st = run_child(fallback_child, errs[i]);
		if (st == KT_SKIP) {
			print_message("no seccomp filters here: skipping\n");
			skip();
		}
		if (st != 0)
			fail_msg("seccomp child for errno %d failed (exit %d; its message is above)", errs[i], st);
	}
}

/* ---- 3. probe truthfulness, and every op on epoll ------------------------ */

static const int served[] = {
	IORING_OP_NOP,      IORING_OP_READV,    IORING_OP_WRITEV,   IORING_OP_FSYNC,
	IORING_OP_POLL_ADD, IORING_OP_SENDMSG,  IORING_OP_RECVMSG,  IORING_OP_ACCEPT,
	IORING_OP_ASYNC_CANCEL, IORING_OP_CONNECT, IORING_OP_FALLOCATE, IORING_OP_OPENAT,
	IORING_OP_CLOSE,    IORING_OP_STATX,    IORING_OP_READ,     IORING_OP_WRITE,
	IORING_OP_SEND,     IORING_OP_RECV,     IORING_OP_SHUTDOWN, IORING_OP_RENAMEAT,
	IORING_OP_UNLINKAT, IORING_OP_MKDIRAT,  IORING_OP_SPLICE,   IORING_OP_SOCKET,
	IORING_OP_SEND_ZC,  IORING_OP_FTRUNCATE_,
};

static int is_served(int op)
{
	for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
		if (served[i] == op)
			return 1;
	return 0;
}

static void smoke_files(kio_ctx *ctx)
{
	struct kt_rec r;
	char buf[64];
	struct stat st;
	char *dir = kt_tmpdir();
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);

	assert_int_equal(kt_await_op(ctx, kio_nop(ctx, CB(&r)), &r), 0);

	/* openat */
	int fd = kt_await_op(ctx, kio_openat(ctx, dirfd, "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, CB(&r)), &r);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(kt_await_op(ctx, kio_openat(ctx, dirfd, "missing", O_RDONLY, 0, CB(&r)), &r), -ENOENT);

	/* read/write at offsets: the file position does not move */
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, fd, "hello world", 11, 0, CB(&r)), &r), 11);
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, fd, "XYZ", 3, 100, CB(&r)), &r), 3);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 103);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 5, 6, CB(&r)), &r), 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	/* ... and at KIO_OFFSET_CURRENT, where it does */
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, fd, "HE", 2, KIO_OFFSET_CURRENT, CB(&r)), &r), 2);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 2);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 3, KIO_OFFSET_CURRENT, CB(&r)), &r), 3);
	assert_memory_equal(buf, "llo", 3);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 5);
	assert_int_equal(pread(fd, buf, 5, 0), 5);
	assert_memory_equal(buf, "HEllo", 5);

	/* readv/writev at an offset */
	struct iovec wv[2] = {{(void *)"ab", 2}, {(void *)"cde", 3}};
	char v1[2], v2[8];
	struct iovec rv[2] = {{v1, sizeof(v1)}, {v2, sizeof(v2)}};
	assert_int_equal(kt_await_op(ctx, kio_writev(ctx, fd, wv, 2, 200, CB(&r)), &r), 5);
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, fd, rv, 2, 200, CB(&r)), &r), 5);
	assert_memory_equal(v1, "ab", 2);
	assert_memory_equal(v2, "cde", 3);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 5);

	/* fsync, fallocate, ftruncate, statx */
	assert_int_equal(kt_await_op(ctx, kio_fsync(ctx, fd, 0, CB(&r)), &r), 0);
	assert_int_equal(kt_await_op(ctx, kio_fsync(ctx, fd, KIO_FSYNC_DATASYNC, CB(&r)), &r), 0);
	assert_int_equal(kt_await_op(ctx, kio_fallocate(ctx, fd, 0, 0, 65536, CB(&r)), &r), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 65536);
	assert_int_equal(kt_await_op(ctx, kio_ftruncate(ctx, fd, 50, CB(&r)), &r), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 50);
	struct statx stx;
	memset(&stx, 0, sizeof(stx));
	assert_int_equal(kt_await_op(ctx, kio_statx(ctx, dirfd, "f", 0, STATX_SIZE, &stx, CB(&r)), &r), 0);
	assert_true(stx.stx_mask & STATX_SIZE);
	assert_int_equal(stx.stx_size, 50);
	assert_int_equal(kt_await_op(ctx, kio_statx(ctx, dirfd, "missing", 0, STATX_SIZE, &stx, CB(&r)), &r),
			 -ENOENT);

	/* mkdirat, renameat, unlinkat */
	assert_int_equal(kt_await_op(ctx, kio_mkdirat(ctx, dirfd, "d", 0700, CB(&r)), &r), 0);
	assert_int_equal(fstatat(dirfd, "d", &st, 0), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(kt_await_op(ctx, kio_mkdirat(ctx, dirfd, "d", 0700, CB(&r)), &r), -EEXIST);
	assert_int_equal(kt_await_op(ctx, kio_renameat(ctx, dirfd, "f", dirfd, "d/g", 0, CB(&r)), &r), 0);
	assert_int_equal(fstatat(dirfd, "f", &st, 0), -1);
	assert_int_equal(fstatat(dirfd, "d/g", &st, 0), 0);
	assert_int_equal(kt_await_op(ctx, kio_unlinkat(ctx, dirfd, "d/g", 0, CB(&r)), &r), 0);
	assert_int_equal(kt_await_op(ctx, kio_unlinkat(ctx, dirfd, "d", AT_REMOVEDIR, CB(&r)), &r), 0);
	assert_int_equal(kt_await_op(ctx, kio_unlinkat(ctx, dirfd, "d", AT_REMOVEDIR, CB(&r)), &r), -ENOENT);

	/* close */
	assert_int_equal(kt_await_op(ctx, kio_close(ctx, fd, CB(&r)), &r), 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);

	/* splice: file -> pipe, pipe -> file, pipe -> pipe, and one that
	 * waits for its input */
	int src = make_file(dir, "src", 11, 3, O_RDONLY);
	int dst = make_file(dir, "dst", 0, 0, O_RDWR);
	int a[2], b[2];
	kt_pipe(a);
	kt_pipe(b);
	assert_int_equal(kt_await_op(ctx, kio_splice(ctx, src, 0, a[1], -1, 11, 0, CB(&r)), &r), 11);
	assert_int_equal(kt_await_op(ctx, kio_splice(ctx, a[0], -1, dst, 5, 11, 0, CB(&r)), &r), 11);
	unsigned char fb[11];
	assert_int_equal(pread(dst, fb, 11, 5), 11);
	assert_true(kt_check(fb, 11, 0, 3));
	assert_int_equal(write(a[1], "pp", 2), 2);
	assert_int_equal(kt_await_op(ctx, kio_splice(ctx, a[0], -1, b[1], -1, 2, 0, CB(&r)), &r), 2);
	kt_read_exact(b[0], buf, 2);
	assert_memory_equal(buf, "pp", 2);
	int64_t id = kio_splice(ctx, a[0], -1, b[1], -1, 3, 0, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 10);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(a[1], "qqq", 3), 3);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res, 3);
	kt_read_exact(b[0], buf, 3);
	assert_memory_equal(buf, "qqq", 3);

	/* poll: waits for the edge; on a regular file it is ready at once */
	id = kio_poll(ctx, a[0], POLLIN, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 10);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.calls, 1);
	assert_true(r.res & POLLIN);
	kt_read_exact(a[0], buf, 1);
	assert_true(kt_await_op(ctx, kio_poll(ctx, src, POLLIN, CB(&r)), &r) & POLLIN);

	/* poll_multishot: one callback per edge, then a final one */
	struct kt_rec m;
	id = kio_poll_multishot(ctx, a[0], POLLIN, CB(&m));
	assert_true(id >= 0);
	for (int i = 1; i <= 2; i++) {
		assert_int_equal(write(a[1], "y", 1), 1);
		run_until_count(ctx, &m.calls, i);
		assert_int_equal(m.finals, 0);
		assert_true(m.flags & KIO_F_MORE);
		assert_true(m.res & POLLIN);
		kt_read_exact(a[0], buf, 1);
		kt_run_for(ctx, 5);
		assert_int_equal(m.calls, i);
	}
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &m.done, WAIT_MS);
	assert_int_equal(m.finals, 1);
	assert_int_equal(m.res, -ECANCELED);
	assert_int_equal(m.flags & KIO_F_MORE, 0);

	kt_close_pipe(a);
	kt_close_pipe(b);
	assert_int_equal(close(src), 0);
	assert_int_equal(close(dst), 0);
	assert_int_equal(close(dirfd), 0);
	kt_tmpdir_remove(dir);
}

static void smoke_net(kio_ctx *ctx)
{
	struct kt_rec r, ar;
	char buf[64];
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);

	/* socket, then accept and connect at the same time */
	int s = kt_await_op(ctx, kio_socket(ctx, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, CB(&r)), &r);
	assert_true(s >= 0);
	int type = 0;
	socklen_t tlen = sizeof(type);
	assert_int_equal(getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &tlen), 0);
	assert_int_equal(type, SOCK_STREAM);
	assert_true(fcntl(s, F_GETFD) & FD_CLOEXEC);
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	memset(&peer, 0, sizeof(peer));
	int64_t aid = kio_accept(ctx, lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC, CB(&ar));
	assert_true(aid >= 0);
	assert_int_equal(kt_await_op(ctx, kio_connect(ctx, s, (struct sockaddr *)&addr, sizeof(addr), CB(&r)), &r), 0);
	kt_run_until(ctx, &ar.done, WAIT_MS); /* it may have completed during the connect */
	assert_int_equal(ar.calls, 1);
	int a = ar.res;
	assert_true(a >= 0);
	assert_int_equal(plen, sizeof(peer));
	assert_int_equal(peer.sin_family, AF_INET);
	assert_int_equal(ntohs(peer.sin_port), local_port(s));

	/* send/recv, and MSG_WAITALL collecting two sends */
	assert_int_equal(kt_await_op(ctx, kio_send(ctx, s, "ping", 4, 0, CB(&r)), &r), 4);
	assert_int_equal(kt_await_op(ctx, kio_recv(ctx, a, buf, sizeof(buf), 0, CB(&r)), &r), 4);
	assert_memory_equal(buf, "ping", 4);
	int64_t id = kio_recv(ctx, a, buf, 8, MSG_WAITALL, CB(&r));
	assert_true(id >= 0);
	assert_int_equal(write(s, "1234", 4), 4);
	kt_run_for(ctx, 10);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(s, "5678", 4), 4);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.res, 8);
	assert_memory_equal(buf, "12345678", 8);

	/* sendmsg/recvmsg with several iovecs */
	struct iovec wv[2] = {{(void *)"he", 2}, {(void *)"llo", 3}};
	struct msghdr wm = {.msg_iov = wv, .msg_iovlen = 2};
	char r1[3], r2[16];
	struct iovec rv[2] = {{r1, sizeof(r1)}, {r2, sizeof(r2)}};
	struct msghdr rm = {.msg_iov = rv, .msg_iovlen = 2};
	assert_int_equal(kt_await_op(ctx, kio_sendmsg(ctx, a, &wm, 0, CB(&r)), &r), 5);
	assert_int_equal(kt_await_op(ctx, kio_recvmsg(ctx, s, &rm, 0, CB(&r)), &r), 5);
	assert_memory_equal(r1, "hel", 3);
	assert_memory_equal(r2, "lo", 2);

	/* send_zc: one callback once the buffer is free */
	static unsigned char zc[1000], zin[1000];
	kt_fill(zc, sizeof(zc), 0, 5);
	assert_int_equal(kt_await_op(ctx, kio_send_zc(ctx, s, zc, sizeof(zc), 0, CB(&r)), &r), (int)sizeof(zc));
	kt_read_exact(a, zin, sizeof(zin));
	assert_memory_equal(zin, zc, sizeof(zc));

	/* sendfile, at an offset and at the file position */
	char *dir = kt_tmpdir();
	int f = make_file(dir, "sf", 20000, 9, O_RDONLY);
	static unsigned char sfin[10000];
	assert_int_equal(kt_await_op(ctx, kio_sendfile(ctx, s, f, 100, 10000, CB(&r)), &r), 10000);
	kt_read_exact(a, sfin, 10000);
	assert_true(kt_check(sfin, 10000, 100, 9));
	assert_int_equal(lseek(f, 500, SEEK_SET), 500);
	assert_int_equal(kt_await_op(ctx, kio_sendfile(ctx, s, f, KIO_OFFSET_CURRENT, 1000, CB(&r)), &r), 1000);
	assert_int_equal(lseek(f, 0, SEEK_CUR), 1500);
	kt_read_exact(a, sfin, 1000);
	assert_true(kt_check(sfin, 1000, 500, 9));
	assert_int_equal(close(f), 0);
	kt_tmpdir_remove(dir);

	/* recv_multishot with a buffer ring, ended by kio_shutdown of the peer */
	kio_buf_ring *ring = kt_make_ring(ctx, 9, 4, 64);
	struct ms m;
	ms_init(&m, ring, 64, 256, 1);
	id = kio_recv_multishot(ctx, a, ring, 0, ms_cb, &m);
	assert_true(id >= 0);
	assert_int_equal(write(s, "abc", 3), 3);
	run_until_bytes(ctx, &m, 3);
	assert_int_equal(m.more, 1);
	assert_memory_equal(m.got, "abc", 3);
	assert_int_equal(kt_await_op(ctx, kio_shutdown(ctx, s, SHUT_WR, CB(&r)), &r), 0);
	kt_run_until(ctx, &m.finals, WAIT_MS);
	assert_int_equal(m.final_res, 0);
	assert_int_equal(m.final_flags & (KIO_F_MORE | KIO_F_BUFFER), 0);
	assert_int_equal(m.bad + m.after_final, 0);
	free(m.got);
	kio_buf_ring_destroy(ring);

	/* accept_multishot: two connections, then a cancel */
	ms_init(&m, NULL, 0, 0, 0);
	id = kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, ms_cb, &m);
	assert_true(id >= 0);
	int c1 = tcp_connect(&addr), c2 = tcp_connect(&addr);
	run_until_more(ctx, &m, 2);
	assert_int_equal(m.more, 2);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &m.finals, WAIT_MS);
	assert_int_equal(m.final_res, -ECANCELED);
	assert_int_equal(m.bad + m.after_final, 0);
	ms_close_fds(&m);

	assert_int_equal(close(c1), 0);
	assert_int_equal(close(c2), 0);
	assert_int_equal(kt_await_op(ctx, kio_close(ctx, s, CB(&r)), &r), 0);
	assert_int_equal(kt_await_op(ctx, kio_close(ctx, a, CB(&r)), &r), 0);
	assert_int_equal(close(lfd), 0);
}

static int answer_42(void *ud)
{
	(void)ud;
	return 42;
}

static void smoke_time_misc(kio_ctx *ctx)
{
	struct kt_rec r, m;
	char buf[8];

	/* timers */
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kt_await_op(ctx, kio_sleep(ctx, 2 * KT_MS, CB(&r)), &r), 0);
	assert_true(kt_now_ns() - t0 >= 2 * KT_MS);
	uint64_t at = kt_now_ns() + 3 * KT_MS;
	assert_int_equal(kt_await_op(ctx, kio_sleep_until(ctx, CLOCK_MONOTONIC, at, CB(&r)), &r), 0);
	assert_true(kt_now_ns() >= at);
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t rat = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec + 2 * KT_MS;
	assert_int_equal(kt_await_op(ctx, kio_sleep_until(ctx, CLOCK_REALTIME, rat, CB(&r)), &r), 0);
	int64_t id = kio_timer_periodic(ctx, 1 * KT_MS, CB(&m));
	assert_true(id >= 0);
	run_until_count(ctx, &m.calls, 3);
	assert_int_equal(m.finals, 0);
	assert_int_equal(m.res, 0);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &m.done, WAIT_MS);
	assert_int_equal(m.res, -ECANCELED);
	assert_int_equal(m.finals, 1);

	/* op timeout, kio_cancel_fd, kio_ctx_post */
	int p[2];
	kt_pipe(p);
	id = kio_poll(ctx, p[0], POLLIN, CB(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 5 * KT_MS), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ETIMEDOUT);
	struct kt_rec r1, r2;
	assert_true(kio_read(ctx, p[0], buf, 1, KIO_OFFSET_CURRENT, CB(&r1)) >= 0);
	assert_true(kio_read(ctx, p[0], buf + 1, 1, KIO_OFFSET_CURRENT, CB(&r2)) >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(kio_cancel_fd(ctx, p[0]), 2);
	kt_run_until(ctx, &r1.done, WAIT_MS);
	kt_run_until(ctx, &r2.done, WAIT_MS);
	assert_int_equal(r1.res, -ECANCELED);
	assert_int_equal(r2.res, -ECANCELED);
	kt_close_pipe(p);
	assert_int_equal(kio_ctx_post(ctx, CB(&r)), 0);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.res, 0);

	/* the blocking pool and name resolution */
	kio_pool *pool = NULL;
	assert_int_equal(kio_pool_create(&pool, 1), 0);
	assert_int_equal(kt_await_op(ctx, kio_pool_submit(ctx, pool, answer_42, CB(&r)), &r), 42);
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	assert_int_equal(kt_await_op(ctx, kio_resolve(ctx, pool, "127.0.0.1", "80", &hints, &ai, CB(&r)), &r), 0);
	assert_non_null(ai);
	assert_int_equal(ai->ai_family, AF_INET);
	freeaddrinfo(ai);
	kio_pool_destroy(pool);

	/* signals (a poll of the set's signalfd) */
	kio_signal_set *set = NULL;
	int sig = SIGUSR2;
	assert_int_equal(kio_signal_set_create(&set, &sig, 1), 0);
	id = kio_signal_wait(ctx, set, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 2);
	assert_int_equal(raise(SIGUSR2), 0);
	kt_run_until(ctx, &r.done, WAIT_MS);
	assert_int_equal(r.res, SIGUSR2);
	kio_signal_set_destroy(set);
}

static void test_backend_probe_epoll(void **state)
{
	(void)state;
	kio_ctx *ctx = epoll_ctx();
	for (int op = 0; op < 256; op++) {
		int got = kio_ctx_probe(ctx, op);
		if (got != is_served(op))
			fail_msg("kio_ctx_probe(epoll, %d) = %d, want %d", op, got, is_served(op));
	}
	assert_int_equal(kio_ctx_probe(ctx, IORING_OP_TIMEOUT), 0);
	assert_int_equal(kio_ctx_probe(ctx, IORING_OP_LINK_TIMEOUT), 0);
	assert_int_equal(kio_ctx_probe(ctx, IORING_OP_TEE), 0);
	assert_int_equal(kio_ctx_probe(ctx, 100000), 0);
	assert_int_equal(kio_ctx_probe(ctx, INT_MAX), 0);
	assert_int_equal(kio_ctx_probe(ctx, -1), -EINVAL);
	assert_int_equal(kio_ctx_probe(ctx, INT_MIN), -EINVAL);
	assert_int_equal(kio_ctx_probe(NULL, IORING_OP_NOP), -EINVAL);

	smoke_files(ctx);
	smoke_net(ctx);
	smoke_time_misc(ctx);
	kio_stats st;
	assert_int_equal(kio_ctx_stats(ctx, &st, sizeof(st)), 0);
	assert_int_equal(st.ops_submitted, st.ops_completed);
	kt_drain_destroy(ctx);
}

/* ---- 4. fd numbers reused under a registration --------------------------- */

/* Starts a recv on fd, lets it park, writes msg from peer, and expects
 * exactly msg within the bounded wait. */
static void recv_after_park(kio_ctx *ctx, int fd, int peer, const char *msg)
{
	struct kt_rec r;
	char buf[64];
	size_t n = strlen(msg);
	memset(buf, 0, sizeof(buf));
	int64_t id = kio_recv(ctx, fd, buf, sizeof(buf), 0, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(peer, msg, n), (ssize_t)n);
	assert_int_equal(kt_await_op(ctx, id, &r), (int)n);
	assert_memory_equal(buf, msg, n);
}

static void fd_reuse_recv(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct plug pl;
	int A[2], B[2];

	/* A gets registered by a recv that completes. */
	kt_unix_pair(A);
	recv_after_park(ctx, A[0], A[1], "one");
	int old = A[0];
	plug_below(&pl, old);
	assert_int_equal(close(A[0]), 0);
	assert_int_equal(close(A[1]), 0);
	/* A new socket under A's number: the old registration is gone with
	 * the old file, and must not be trusted. */
	kt_unix_pair(B);
	assert_int_equal(B[0], old);
	unplug(&pl);
	recv_after_park(ctx, B[0], B[1], "two");
	/* Data already there when the op starts. */
	struct kt_rec r;
	char buf[16];
	assert_int_equal(write(B[1], "three", 5), 5);
	assert_int_equal(kt_await_op(ctx, kio_recv(ctx, B[0], buf, sizeof(buf), 0, CB(&r)), &r), 5);
	assert_memory_equal(buf, "three", 5);

	/* The old file kept alive by a dup: its registration stays in the
	 * epoll set under the old number and fires for the old file; the new
	 * socket's recv must neither complete from that nor miss its data. */
	old = B[0];
	int keep = fcntl(B[0], F_DUPFD_CLOEXEC, 200);
	assert_true(keep >= 200);
	plug_below(&pl, old);
	assert_int_equal(close(B[0]), 0);
	kt_unix_pair(A);
	assert_int_equal(A[0], old);
	unplug(&pl);
	int64_t id = kio_recv(ctx, A[0], buf, sizeof(buf), 0, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(write(B[1], "stale", 5), 5); /* into the old file */
	kt_run_for(ctx, 20);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(A[1], "fresh", 5), 5);
	assert_int_equal(kt_await_op(ctx, id, &r), 5);
	assert_memory_equal(buf, "fresh", 5);
	kt_read_exact(keep, buf, 5);
	assert_memory_equal(buf, "stale", 5);
	assert_int_equal(close(keep), 0);
	assert_int_equal(close(B[1]), 0);
	assert_int_equal(close(A[0]), 0);
	assert_int_equal(close(A[1]), 0);
	kt_drain_destroy(ctx);
}

static void fd_reuse_connect_accept(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct plug pl;
	struct kt_rec r;
	struct sockaddr_in addr;
	char buf[8];
	int lfd = kt_tcp_listener(&addr);

	/* X is registered (for output too) by a connect through kio. */
	int x = tcp_socket();
	assert_int_equal(kt_await_op(ctx, kio_connect(ctx, x, (struct sockaddr *)&addr, sizeof(addr), CB(&r)), &r), 0);
	int sx = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(sx >= 0);
	int old = x;
	plug_below(&pl, old);
	assert_int_equal(close(x), 0);
	assert_int_equal(close(sx), 0);
	/* A new TCP socket, made with socket(2), under X's number. */
	int y = tcp_socket();
	assert_int_equal(y, old);
	unplug(&pl);
	assert_int_equal(kt_await_op(ctx, kio_connect(ctx, y, (struct sockaddr *)&addr, sizeof(addr), CB(&r)), &r), 0);
	int sy = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(sy >= 0);
	assert_int_equal(peer_port(sy), local_port(y));
	assert_int_equal(kt_await_op(ctx, kio_send(ctx, y, "via-y", 5, 0, CB(&r)), &r), 5);
	kt_read_exact(sy, buf, 5);
	assert_memory_equal(buf, "via-y", 5);
	assert_int_equal(close(y), 0);
	assert_int_equal(close(sy), 0);

	/* A listener registered by an accept, closed, and a new listener
	 * under its number. */
	int c = tcp_connect(&addr);
	int a = kt_await_op(ctx, kio_accept(ctx, lfd, NULL, NULL, SOCK_CLOEXEC, CB(&r)), &r);
	assert_true(a >= 0);
	assert_int_equal(close(a), 0);
	assert_int_equal(close(c), 0);
	old = lfd;
	plug_below(&pl, old);
	assert_int_equal(close(lfd), 0);
	lfd = kt_tcp_listener(&addr);
	assert_int_equal(lfd, old);
	unplug(&pl);
	int64_t id = kio_accept(ctx, lfd, NULL, NULL, SOCK_CLOEXEC, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(r.calls, 0);
	c = tcp_connect(&addr);
	a = kt_await_op(ctx, id, &r);
	assert_true(a >= 0);
	assert_int_equal(peer_port(a), local_port(c));
	assert_int_equal(close(a), 0);
	assert_int_equal(close(c), 0);
	assert_int_equal(close(lfd), 0);
	kt_drain_destroy(ctx);
}

static void fd_reuse_other_fd(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct kt_rec pr, r;
	char pbuf[8];
	int P[2], Q[2], R[2];
	kt_unix_pair(P);
	kt_unix_pair(Q);

	/* A recv parked on P all along. */
	int64_t pid = kio_recv(ctx, P[0], pbuf, sizeof(pbuf), 0, CB(&pr));
	assert_true(pid >= 0);
	kt_run_for(ctx, 5);
	/* Q registered, closed with close(2), its number reused, used, and
	 * closed again through kio. */
	recv_after_park(ctx, Q[0], Q[1], "q");
	int old = Q[0];
	struct plug pl;
	plug_below(&pl, old);
	assert_int_equal(close(Q[0]), 0);
	assert_int_equal(close(Q[1]), 0);
	kt_unix_pair(R);
	assert_int_equal(R[0], old);
	unplug(&pl);
	recv_after_park(ctx, R[0], R[1], "r");
	assert_int_equal(kt_await_op(ctx, kio_close(ctx, R[0], CB(&r)), &r), 0);
	assert_int_equal(close(R[1]), 0);
	kt_run_for(ctx, 10);
	assert_int_equal(pr.calls, 0);
	/* P's recv still waits, and gets its data. */
	assert_int_equal(write(P[1], "p", 1), 1);
	assert_int_equal(kt_await_op(ctx, pid, &pr), 1);
	assert_int_equal(pbuf[0], 'p');
	kt_close_pipe(P);
	kt_drain_destroy(ctx);
}

static void test_backend_fd_reuse(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(fd_reuse_recv);
	FOR_EACH_BACKEND(fd_reuse_connect_accept);
	FOR_EACH_BACKEND(fd_reuse_other_fd);
}

/* ---- 5. blocking sockets -------------------------------------------------- */

static void blocking_sockets(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct kt_rec r;
	struct sockaddr_in addr;
	char buf[8];
	int lfd = kt_tcp_listener(&addr);
	assert_false(nonblocking(lfd));

	/* accept, parked first, then with the connection already queued */
	int64_t id = kio_accept(ctx, lfd, NULL, NULL, SOCK_CLOEXEC, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(r.calls, 0);
	assert_false(nonblocking(lfd));
	int c = tcp_connect(&addr);
	int a = kt_await_op(ctx, id, &r);
	assert_true(a >= 0);
	assert_false(nonblocking(lfd));
	assert_false(nonblocking(a)); /* the temporary flag is not inherited */
	assert_int_equal(peer_port(a), local_port(c));
	assert_int_equal(close(a), 0);
	assert_int_equal(close(c), 0);
	c = tcp_connect(&addr);
	a = kt_await_op(ctx, kio_accept(ctx, lfd, NULL, NULL, SOCK_CLOEXEC, CB(&r)), &r);
	assert_true(a >= 0);
	assert_false(nonblocking(lfd));
	assert_int_equal(close(a), 0);
	assert_int_equal(close(c), 0);

	/* accept_multishot */
	struct ms m;
	ms_init(&m, NULL, 0, 0, 0);
	id = kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, ms_cb, &m);
	assert_true(id >= 0);
	int cs[3];
	for (int i = 0; i < 3; i++)
		cs[i] = tcp_connect(&addr);
	run_until_more(ctx, &m, 3);
	assert_int_equal(m.more, 3);
	assert_false(nonblocking(lfd));
	for (int i = 0; i < 3; i++)
		assert_false(nonblocking(m.fds[i]));
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &m.finals, WAIT_MS);
	assert_int_equal(m.final_res, -ECANCELED);
	assert_false(nonblocking(lfd));
	ms_close_fds(&m);
	for (int i = 0; i < 3; i++)
		assert_int_equal(close(cs[i]), 0);

	/* connect on a blocking socket */
	int s = tcp_socket();
	assert_false(nonblocking(s));
	assert_int_equal(kt_await_op(ctx, kio_connect(ctx, s, (struct sockaddr *)&addr, sizeof(addr), CB(&r)), &r), 0);
	assert_false(nonblocking(s));
	a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a >= 0);
	/* recv and read on a blocking socket do not block the loop */
	id = kio_recv(ctx, s, buf, sizeof(buf), 0, CB(&r));
	assert_true(id >= 0);
	uint64_t t0 = kt_now_ns();
	for (int i = 0; i < 3; i++)
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_true(kt_now_ns() - t0 < 1000 * KT_MS);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(a, "blk", 3), 3);
	assert_int_equal(kt_await_op(ctx, id, &r), 3);
	assert_memory_equal(buf, "blk", 3);
	id = kio_read(ctx, s, buf, sizeof(buf), KIO_OFFSET_CURRENT, CB(&r));
	assert_true(id >= 0);
	t0 = kt_now_ns();
	for (int i = 0; i < 3; i++)
		assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_true(kt_now_ns() - t0 < 1000 * KT_MS);
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(a, "rd", 2), 2);
	assert_int_equal(kt_await_op(ctx, id, &r), 2);
	assert_memory_equal(buf, "rd", 2);
	assert_false(nonblocking(s));
	assert_int_equal(close(s), 0);
	assert_int_equal(close(a), 0);

	/* a refused connect on a blocking socket: the error, flag restored */
	struct sockaddr_in gone;
	int g = kt_tcp_listener(&gone);
	assert_int_equal(close(g), 0);
	s = tcp_socket();
	assert_int_equal(kt_await_op(ctx, kio_connect(ctx, s, (struct sockaddr *)&gone, sizeof(gone), CB(&r)), &r),
			 -ECONNREFUSED);
	assert_false(nonblocking(s));
	assert_int_equal(close(s), 0);
	assert_int_equal(close(lfd), 0);
	kt_drain_destroy(ctx);
}

static void test_backend_blocking_sockets(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(blocking_sockets);
}

/*
 * A Unix stream connect to a listener whose backlog is full waits, and
 * completes once the listener accepted and made room, as a blocking
 * connect(2) would. (Its socket's own readiness never changes meanwhile.)
 */
static void connect_unix_full_backlog(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct kt_rec r;
	struct sockaddr_un addr;
	socklen_t len;
	int lfd = kt_unix_listener(&addr, &len);
	assert_int_equal(listen(lfd, 0), 0);
	int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c1 >= 0);
	assert_int_equal(connect(c1, (struct sockaddr *)&addr, len), 0); /* fills the backlog */
	int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c2 >= 0);
	int64_t id = kio_connect(ctx, c2, (struct sockaddr *)&addr, len, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 50);
	int early = r.calls;
	int a1 = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(a1 >= 0);
	int done = run_until_soft(ctx, &r.done, 3000);
	int32_t res = r.res;
	if (!done) {
		assert_int_equal(kio_op_cancel(ctx, id), 0);
		kt_run_until(ctx, &r.done, WAIT_MS);
	}
	struct pollfd lp = {lfd, POLLIN, 0};
	int a2 = poll(&lp, 1, 0) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	if (a2 >= 0)
		assert_int_equal(close(a2), 0);
	assert_int_equal(close(a1), 0);
	assert_int_equal(close(c1), 0);
	assert_int_equal(close(c2), 0);
	assert_int_equal(close(lfd), 0);
	kt_drain_destroy(ctx);
	assert_int_equal(early, 0);
	if (!done)
		fail_msg("%s: kio_connect to a Unix listener did not complete within 3 s after the "
			 "listener made room in its backlog (cancelled: %d)",
			 be_name(flags), r.res);
	assert_int_equal(res, 0);
	assert_true(a2 >= 0);
}

static void test_backend_connect_unix_full_backlog(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(connect_unix_full_backlog);
}

/* ---- 6. MSG_DONTWAIT ----------------------------------------------------- */

static void dontwait(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct kt_rec r;
	char buf[16];
	int c, s;
	kt_tcp_pair(&c, &s);

	/* Nothing to read: -EAGAIN at once, not parked (nothing ever comes,
	 * so a parked op would fail the bounded wait). */
	assert_int_equal(kt_await_op(ctx, kio_recv(ctx, s, buf, sizeof(buf), MSG_DONTWAIT, CB(&r)), &r), -EAGAIN);
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	assert_int_equal(kt_await_op(ctx, kio_recvmsg(ctx, s, &mh, MSG_DONTWAIT, CB(&r)), &r), -EAGAIN);

	/* Without it, the recv waits; a timeout ends it. */
	uint64_t t0 = kt_now_ns();
	int64_t id = kio_recv(ctx, s, buf, sizeof(buf), 0, CB(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 30 * KT_MS), 0);
	assert_int_equal(kt_await_op(ctx, id, &r), -ETIMEDOUT);
	assert_true(kt_now_ns() - t0 >= 30 * KT_MS);

	/* Data there: MSG_DONTWAIT gets it. */
	assert_int_equal(write(c, "dw", 2), 2);
	struct pollfd pfd = {s, POLLIN, 0};
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(kt_await_op(ctx, kio_recv(ctx, s, buf, sizeof(buf), MSG_DONTWAIT, CB(&r)), &r), 2);
	assert_memory_equal(buf, "dw", 2);

	/* After an -EAGAIN, a plain recv still hears the next data, whether
	 * it came before the op started or after. */
	assert_int_equal(kt_await_op(ctx, kio_recv(ctx, s, buf, sizeof(buf), MSG_DONTWAIT, CB(&r)), &r), -EAGAIN);
	assert_int_equal(write(c, "before", 6), 6);
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(kt_await_op(ctx, kio_recv(ctx, s, buf, sizeof(buf), 0, CB(&r)), &r), 6);
	assert_memory_equal(buf, "before", 6);
	assert_int_equal(kt_await_op(ctx, kio_recv(ctx, s, buf, sizeof(buf), MSG_DONTWAIT, CB(&r)), &r), -EAGAIN);
	recv_after_park(ctx, s, c, "after");

	/* A send with MSG_DONTWAIT into a full socket: -EAGAIN too. */
	int small = 4096;
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	static unsigned char fill[65536];
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (send(c, fill, sizeof(fill), MSG_DONTWAIT) > 0)
		assert_true(kt_now_ns() < deadline);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(kt_await_op(ctx, kio_send(ctx, c, fill, sizeof(fill), MSG_DONTWAIT, CB(&r)), &r), -EAGAIN);

	assert_int_equal(close(c), 0);
	assert_int_equal(close(s), 0);
	kt_drain_destroy(ctx);
}

static void test_backend_msg_dontwait(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(dontwait);
}

/* ---- 7. file paths -------------------------------------------------------- */

enum { BIG = 1 << 20 };

static void file_paths(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct kt_rec r;
	char *dir = kt_tmpdir();
	unsigned char *buf = malloc(BIG);
	assert_non_null(buf);
	int fd = make_file(dir, "big", BIG, 11, O_RDONLY);

	/* cached, at an offset */
	assert_int_equal(pread(fd, buf, BIG, 0), BIG);
	memset(buf, 0, BIG);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 5000, 1000, CB(&r)), &r), 5000);
	assert_true(kt_check(buf, 5000, 1000, 11));
	/* at and past the end */
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 100, BIG, CB(&r)), &r), 0);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 100, BIG + 4096, CB(&r)), &r), 0);
	struct iovec one = {buf, 100};
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, fd, &one, 1, BIG, CB(&r)), &r), 0);
	/* the tail of the file: a short count */
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 8192, BIG - 3000, CB(&r)), &r), 3000);
	assert_true(kt_check(buf, 3000, BIG - 3000, 11));

	int shortf = make_file(dir, "short", 100, 12, O_RDONLY);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, shortf, buf, 4096, 50, CB(&r)), &r), 50);
	assert_true(kt_check(buf, 50, 50, 12));
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, shortf, buf, 4096, 0, CB(&r)), &r), 100);
	assert_true(kt_check(buf, 100, 0, 12));
	assert_int_equal(close(shortf), 0);

	/* dropped from the page cache (it may stay cached: only the data is
	 * checked): whole, and partly cached, where a page-cache attempt gets
	 * a part and the rest must follow */
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	memset(buf, 0, BIG);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 256 * 1024, 4096, CB(&r)), &r), 256 * 1024);
	assert_true(kt_check(buf, 256 * 1024, 4096, 11));
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	assert_int_equal(pread(fd, buf, 65536, 0), 65536);
	memset(buf, 0, BIG);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, BIG, 0, CB(&r)), &r), BIG);
	assert_true(kt_check(buf, BIG, 0, 11));
	/* the same at the file position, which ends where the read did */
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	assert_int_equal(pread(fd, buf, 8192, 4096), 8192);
	assert_int_equal(lseek(fd, 4096, SEEK_SET), 4096);
	memset(buf, 0, BIG);
	assert_int_equal(kt_await_op(ctx, kio_read(ctx, fd, buf, 300000, KIO_OFFSET_CURRENT, CB(&r)), &r), 300000);
	assert_true(kt_check(buf, 300000, 4096, 11));
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 4096 + 300000);
	assert_int_equal(close(fd), 0);

	/* readv/writev with several iovecs at the file position */
	fd = make_file(dir, "vec", 0, 0, O_RDWR);
	unsigned char w[64];
	kt_fill(w, sizeof(w), 0, 13);
	struct iovec wv1[3] = {{w, 3}, {w + 3, 5}, {w + 8, 7}};
	struct iovec wv2[4] = {{w + 15, 1}, {w + 16, 10}, {w + 26, 2}, {w + 28, 12}};
	assert_int_equal(kt_await_op(ctx, kio_writev(ctx, fd, wv1, 3, KIO_OFFSET_CURRENT, CB(&r)), &r), 15);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 15);
	assert_int_equal(kt_await_op(ctx, kio_writev(ctx, fd, wv2, 4, KIO_OFFSET_CURRENT, CB(&r)), &r), 25);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 40);
	/* an op at an offset leaves the position alone */
	assert_int_equal(kt_await_op(ctx, kio_write(ctx, fd, w + 40, 4, 40, CB(&r)), &r), 4);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 40);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	unsigned char r1[4], r2[6], r3[100];
	struct iovec rv[3] = {{r1, 4}, {r2, 6}, {r3, 10}};
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, fd, rv, 3, KIO_OFFSET_CURRENT, CB(&r)), &r), 20);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 20);
	assert_true(kt_check(r1, 4, 0, 13));
	assert_true(kt_check(r2, 6, 4, 13));
	assert_true(kt_check(r3, 10, 10, 13));
	rv[2].iov_len = sizeof(r3);
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, fd, rv, 3, KIO_OFFSET_CURRENT, CB(&r)), &r), 24);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 44);
	assert_true(kt_check(r1, 4, 20, 13));
	assert_true(kt_check(r2, 6, 24, 13));
	assert_true(kt_check(r3, 14, 30, 13));
	assert_int_equal(kt_await_op(ctx, kio_readv(ctx, fd, rv, 3, KIO_OFFSET_CURRENT, CB(&r)), &r), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 44);
	assert_int_equal(close(fd), 0);

	free(buf);
	kt_tmpdir_remove(dir);
	kt_drain_destroy(ctx);
}

static void test_backend_file_paths(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(file_paths);
}

/* ---- 8. a CQ smaller than the burst --------------------------------------- */

static void count_cb(void *ud, int32_t res, uint32_t flags)
{
	int *c = ud;
	/* a wrong res or flags shows as a count no test expects */
	*c += (res == 0 && flags == 0) ? 1 : 1000;
}

static void small_cq(uint32_t flags)
{
	enum { NOPS = 200, CONNS = 50, MSGS = 500, MSGLEN = 8 };
	kio_ctx *ctx = bt_ctx(flags, 4, 8);

	/* 200 NOPs: each called back once */
	static int nops[NOPS];
	memset(nops, 0, sizeof(nops));
	for (int i = 0; i < NOPS; i++)
		assert_true(kio_nop(ctx, count_cb, &nops[i]) >= 0);
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	for (;;) {
		int total = 0;
		for (int i = 0; i < NOPS; i++)
			total += nops[i];
		if (total >= NOPS || kt_now_ns() >= deadline)
			break;
		assert_true(kio_ctx_run_once(ctx, 50 * (int64_t)KT_MS) >= 0);
	}
	kt_run_for(ctx, 5);
	for (int i = 0; i < NOPS; i++)
		if (nops[i] != 1)
			fail_msg("nop %d: count %d", i, nops[i]);
	assert_int_equal(kio_ctx_pending(ctx), 0);

	/*
	 * A multishot recv of many small messages: every byte once, in order,
	 * KIO_F_MORE on every callback but each op's last. A final callback
	 * may carry data (kio_recv_multishot(3)): an op that ends so before
	 * everything came is started again, as a careful user would. The
	 * stream's end is test_backend_eof_after_data's business: a cancel
	 * ends the last op here.
	 */
	int c, s;
	kt_tcp_pair(&c, &s);
	kio_buf_ring *ring = kt_make_ring(ctx, 3, 16, 32);
	static unsigned char out[MSGS * MSGLEN];
	kt_fill(out, sizeof(out), 0, 17);
	struct ms m;
	ms_init(&m, ring, 32, sizeof(out), 1);
	for (int i = 0; i < MSGS / 2; i++)
		assert_int_equal(write(c, out + i * MSGLEN, MSGLEN), MSGLEN);
	int64_t id = kio_recv_multishot(ctx, s, ring, 0, ms_cb, &m);
	assert_true(id >= 0);
	for (int i = MSGS / 2; i < MSGS; i++) {
		assert_int_equal(write(c, out + i * MSGLEN, MSGLEN), MSGLEN);
		if (i % 50 == 0)
			assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	}
	int restarts = 0;
	deadline = kt_now_ns() + WAIT_MS * KT_MS;
	for (;;) {
		if (m.finals) {
			/* ended on its own: only with data, never lost */
			assert_true(m.final_res > 0);
			assert_true(m.final_flags & KIO_F_BUFFER);
			assert_int_equal(m.bad + m.after_final, 0);
			assert_int_equal(m.calls, m.more + 1);
			if (m.n == sizeof(out))
				break;
			restarts++;
			m.calls = m.more = m.finals = 0;
			id = kio_recv_multishot(ctx, s, ring, 0, ms_cb, &m);
			assert_true(id >= 0);
		}
		if (m.n == sizeof(out)) {
			assert_int_equal(kio_op_cancel(ctx, id), 0);
			kt_run_until(ctx, &m.finals, WAIT_MS);
			assert_int_equal(m.final_res, -ECANCELED);
			assert_int_equal(m.final_flags & (KIO_F_MORE | KIO_F_BUFFER), 0);
			break;
		}
		if (kt_now_ns() >= deadline)
			fail_msg("%s: %zu of %zu bytes within %d ms", be_name(flags), m.n, sizeof(out), WAIT_MS);
		assert_true(kio_ctx_run_once(ctx, 50 * (int64_t)KT_MS) >= 0);
	}
	if (restarts)
		print_message("  %s: the multishot recv ended %d times with data, and was started again\n",
			      be_name(flags), restarts);
	assert_int_equal(m.n, sizeof(out));
	assert_memory_equal(m.got, out, sizeof(out));
	assert_int_equal(m.bad + m.after_final, 0);
	assert_int_equal(m.calls, m.more + 1);
	free(m.got);
	assert_int_equal(close(c), 0);
	assert_int_equal(close(s), 0);

	/*
	 * A multishot accept with 50 connections waiting: 50 callbacks with
	 * KIO_F_MORE, each connection once, then the final one (the cancel),
	 * which carries no connection (kio_accept_multishot(3)).
	 */
	struct sockaddr_in addr;
	int lfd = kt_tcp_listener(&addr);
	int cs[CONNS];
	for (int i = 0; i < CONNS; i++)
		cs[i] = tcp_connect(&addr);
	ms_init(&m, NULL, 0, 0, 0);
	id = kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, ms_cb, &m);
	assert_true(id >= 0);
	run_until_more(ctx, &m, CONNS);
	kt_run_for(ctx, 5);
	int early = m.finals;
	int32_t early_res = m.final_res;
	int early_more = m.more;
	if (!early) {
		assert_int_equal(kio_op_cancel(ctx, id), 0);
		kt_run_until(ctx, &m.finals, WAIT_MS);
	}
	/* Every connection was delivered at most once (the early final's fd
	 * counted too); cleanup comes before the verdict. */
	int seen[CONNS], twice = 0, missing = 0;
	memset(seen, 0, sizeof(seen));
	if (early && early_res >= 0 && m.nfds < 64)
		m.fds[m.nfds++] = early_res;
	for (int i = 0; i < m.nfds; i++) {
		uint16_t port = peer_port(m.fds[i]);
		for (int j = 0; j < CONNS; j++)
			if (local_port(cs[j]) == port)
				seen[j]++;
	}
	for (int j = 0; j < CONNS; j++) {
		twice += seen[j] > 1;
		missing += seen[j] == 0;
	}
	ms_close_fds(&m);
	for (int i = 0; i < CONNS; i++)
		assert_int_equal(close(cs[i]), 0);
	assert_int_equal(close(lfd), 0);
	kt_drain_destroy(ctx);
	kio_buf_ring_destroy(ring);

	assert_int_equal(twice, 0);
	if (early)
		fail_msg("%s: with an 8-entry CQ the multishot accept ended on its own after %d callbacks "
			 "with KIO_F_MORE; its final callback had res %d%s",
			 be_name(flags), early_more, early_res,
			 early_res >= 0 ? " (a connection: the final callback must carry none)" : "");
	assert_int_equal(missing, 0);
	assert_int_equal(m.more, CONNS);
	assert_int_equal(m.final_res, -ECANCELED);
	assert_int_equal(m.final_flags & KIO_F_MORE, 0);
	assert_int_equal(m.bad + m.after_final, 0);
	assert_int_equal(m.calls, CONNS + 1);
}

static void test_backend_small_cq(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(small_cq);
}

/* ---- 9. cancel and timeout racing readiness -------------------------------- */

/* One round's end: exactly one callback; data (all of msg, maybe split
 * between the op and the socket) or `cancelled`, the bytes then still in
 * the socket. Returns 1 when the op got data. */
static int race_outcome(kio_ctx *ctx, int s, struct kt_rec *r, int64_t id, const char *buf, const char *msg,
			size_t n, int32_t cancelled)
{
	kt_run_until(ctx, &r->done, WAIT_MS);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0);
	assert_int_equal(r->calls, 1);
	assert_int_equal(kio_op_cancel(ctx, id), -ENOENT);
	char rest[16];
	size_t got = 0;
	if (r->res > 0) {
		assert_true((size_t)r->res <= n);
		assert_memory_equal(buf, msg, (size_t)r->res);
		got = (size_t)r->res;
	} else if (r->res != cancelled) {
		fail_msg("racing op: res %d, want data or %d", r->res, cancelled);
	}
	if (got < n) {
		kt_read_exact(s, rest, n - got);
		assert_memory_equal(rest, msg + got, n - got);
	}
	return r->res > 0;
}

static void cancel_race(uint32_t flags)
{
	enum { ROUNDS = 200 };
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct kt_rec r;
	char buf[16], msg[16];
	int c, s, data = 0, cancelled = 0, timed = 0;
	kt_tcp_pair(&c, &s);

	for (int i = 0; i < ROUNDS; i++) {
		size_t n = 1 + (size_t)(i % 8);
		for (size_t k = 0; k < n; k++)
			msg[k] = (char)('a' + (i + (int)k) % 26);
		int64_t id = kio_recv(ctx, s, buf, sizeof(buf), 0, CB(&r));
		assert_true(id >= 0);
		if (i % 2)
			assert_true(kio_ctx_run_once(ctx, 0) >= 0); /* parked first */
		assert_int_equal(r.calls, 0);
		assert_int_equal(write(c, msg, n), (ssize_t)n);
		assert_int_equal(kio_op_cancel(ctx, id), 0); /* the loop did not run since */
		if (race_outcome(ctx, s, &r, id, buf, msg, n, -ECANCELED))
			data++;
		else
			cancelled++;
	}
	print_message("  cancel race: %d data, %d cancelled\n", data, cancelled);

	/* The same with a deadline of 0 (disarmed), 1 ns ... 1 ms */
	const uint64_t tmo[] = {0, 1, 1000, 250000, 1000000};
	data = 0;
	for (int i = 0; i < ROUNDS; i++) {
		size_t n = 1 + (size_t)(i % 8);
		for (size_t k = 0; k < n; k++)
			msg[k] = (char)('A' + (i + (int)k) % 26);
		uint64_t t = tmo[i % 5];
		int64_t id = kio_recv(ctx, s, buf, sizeof(buf), 0, CB(&r));
		assert_true(id >= 0);
		assert_int_equal(kio_op_timeout(ctx, id, t), 0);
		if (i % 2)
			assert_true(kio_ctx_run_once(ctx, 0) >= 0);
		/* (a 1 ns deadline may have ended it already: the bytes then wait) */
		assert_int_equal(write(c, msg, n), (ssize_t)n);
		int got = race_outcome(ctx, s, &r, id, buf, msg, n, -ETIMEDOUT);
		if (t == 0 && !got)
			fail_msg("round %d: a disarmed timeout (0) ended the recv: %d", i, r.res);
		data += got;
		timed += !got;
	}
	print_message("  timeout race: %d data, %d timed out\n", data, timed);
	assert_int_equal(close(c), 0);
	assert_int_equal(close(s), 0);

	/* An op that waits inside a call (a splice from an empty pipe; on
	 * io_uring it blocks in a kernel worker) ends with the contract's
	 * results too: -ECANCELED, -ETIMEDOUT. */
	int a[2], b[2];
	kt_pipe(a);
	kt_pipe(b);
	int64_t id = kio_splice(ctx, a[0], -1, b[1], -1, 64, 0, CB(&r));
	assert_true(id >= 0);
	kt_run_for(ctx, 10);
	assert_int_equal(kio_op_cancel(ctx, id), 0);
	kt_run_until(ctx, &r.done, WAIT_MS);
	int32_t cancel_res = r.res;
	id = kio_splice(ctx, a[0], -1, b[1], -1, 64, 0, CB(&r));
	assert_true(id >= 0);
	assert_int_equal(kio_op_timeout(ctx, id, 10 * KT_MS), 0);
	kt_run_until(ctx, &r.done, WAIT_MS);
	int32_t timeout_res = r.res;
	kt_close_pipe(a);
	kt_close_pipe(b);
	kt_drain_destroy(ctx);
	if (cancel_res != -ECANCELED || timeout_res != -ETIMEDOUT)
		fail_msg("%s: a splice waiting on an empty pipe: cancelled %d (want %d), timed out %d (want %d)",
			 be_name(flags), cancel_res, -ECANCELED, timeout_res, -ETIMEDOUT);
}

static void test_backend_cancel_race(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(cancel_race);
}

/* ---- 10. destroy with every kind of op in flight --------------------------- */

enum {
	D_RECV,      /* parked recv */
	D_ACCEPT,    /* parked accept */
	D_ACCEPT_MS, /* multishot accept, nothing accepted */
	D_POLL,      /* parked poll */
	D_POLL_MS,   /* multishot poll after one edge */
	D_CONNECT,   /* connect to a listener with a full backlog */
	D_FSYNC,     /* on the thread pool */
	D_SLEEP,     /* timer */
	D_PERIODIC,  /* multishot timer */
	D_RECV_MS,   /* multishot recv after one piece of data */
	D_SPLICE,    /* waiting for its input */
	D_SEND,      /* into a full socket */
	D_READ,      /* parked read on a pipe */
	D_TIMED,     /* parked recv with a deadline */
	D_LATE_RECV, /* started just before destroy: not submitted yet */
	D_LATE_NOP,
	D_COUNT
};

static void destroy_in_flight(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	kio_buf_ring *ring = kt_make_ring(ctx, 5, 4, 256);
	struct kt_rec r[D_COUNT];
	struct ms mrecv, macc;
	memset(r, 0, sizeof(r));
	char *dir = kt_tmpdir();
	char rbuf[8], tbuf[8], lbuf[8], pbuf[8];

	int c, s, mc, msd, bc, bs;
	kt_tcp_pair(&c, &s);
	kt_tcp_pair(&mc, &msd);
	kt_tcp_pair(&bc, &bs);
	struct sockaddr_in a1, a2, a3;
	int l1 = kt_tcp_listener(&a1), l2 = kt_tcp_listener(&a2), l3 = kt_tcp_listener(&a3);
	assert_int_equal(listen(l3, 0), 0);
	int filler = tcp_connect(&a3); /* the backlog of l3 is now full */
	int cx = tcp_socket();
	int p[2], pm[2], si[2], so[2], rp[2];
	kt_pipe(p);
	kt_pipe(pm);
	kt_pipe(si);
	kt_pipe(so);
	kt_pipe(rp);
	int f = make_file(dir, "dirty", 0, 0, O_RDWR);
	static unsigned char junk[4 << 20];
	assert_int_equal(write(f, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	int small = 4096;
	assert_int_equal(setsockopt(bc, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	uint64_t deadline = kt_now_ns() + WAIT_MS * KT_MS;
	while (send(bc, junk, 65536, MSG_DONTWAIT) > 0)
		assert_true(kt_now_ns() < deadline);

	assert_true(kio_recv(ctx, c, rbuf, sizeof(rbuf), 0, kt_rec_cb, &r[D_RECV]) >= 0);
	assert_true(kio_accept(ctx, l1, NULL, NULL, SOCK_CLOEXEC, kt_rec_cb, &r[D_ACCEPT]) >= 0);
	ms_init(&macc, NULL, 0, 0, 0);
	assert_true(kio_accept_multishot(ctx, l2, SOCK_CLOEXEC, ms_cb, &macc) >= 0);
	assert_true(kio_poll(ctx, p[0], POLLIN, kt_rec_cb, &r[D_POLL]) >= 0);
	assert_true(kio_poll_multishot(ctx, pm[0], POLLIN, kt_rec_cb, &r[D_POLL_MS]) >= 0);
	assert_true(kio_connect(ctx, cx, (struct sockaddr *)&a3, sizeof(a3), kt_rec_cb, &r[D_CONNECT]) >= 0);
	assert_true(kio_sleep(ctx, 10000 * KT_MS, kt_rec_cb, &r[D_SLEEP]) >= 0);
	assert_true(kio_timer_periodic(ctx, 1 * KT_MS, kt_rec_cb, &r[D_PERIODIC]) >= 0);
	ms_init(&mrecv, ring, 256, 4096, 1);
	assert_true(kio_recv_multishot(ctx, msd, ring, 0, ms_cb, &mrecv) >= 0);
	assert_true(kio_splice(ctx, si[0], -1, so[1], -1, 64, 0, kt_rec_cb, &r[D_SPLICE]) >= 0);
	assert_true(kio_send(ctx, bc, junk, 65536, 0, kt_rec_cb, &r[D_SEND]) >= 0);
	assert_true(kio_read(ctx, rp[0], pbuf, sizeof(pbuf), KIO_OFFSET_CURRENT, kt_rec_cb, &r[D_READ]) >= 0);
	int64_t tid = kio_recv(ctx, c, tbuf, sizeof(tbuf), 0, kt_rec_cb, &r[D_TIMED]);
	assert_true(tid >= 0);
	assert_int_equal(kio_op_timeout(ctx, tid, 10000 * KT_MS), 0);
	assert_int_equal(write(pm[1], "e", 1), 1);
	assert_int_equal(write(mc, "hello", 5), 5);
	kt_run_for(ctx, 20);
	run_until_more(ctx, &mrecv, 1);
	run_until_count(ctx, &r[D_POLL_MS].calls, 1);
	assert_true(kio_fsync(ctx, f, 0, kt_rec_cb, &r[D_FSYNC]) >= 0);
	assert_true(kio_ctx_run_once(ctx, 0) >= 0); /* the fsync goes to the pool */
	assert_true(kio_recv(ctx, c, lbuf, sizeof(lbuf), 0, kt_rec_cb, &r[D_LATE_RECV]) >= 0);
	assert_true(kio_nop(ctx, kt_rec_cb, &r[D_LATE_NOP]) >= 0);
	/* Nothing ended on its own; but an fsync may, where the file system
	 * has nothing to write back (tmpfs, as in a VM without a disk). */
	for (int i = 0; i < D_COUNT; i++)
		if (r[i].finals && !(i == D_FSYNC && r[i].res == 0))
			fail_msg("op %d ended before destroy: %d", i, r[i].res);
	assert_int_equal(macc.calls, 0);
	assert_int_equal(mrecv.finals, 0);

	uint64_t t0 = kt_now_ns();
	kio_ctx_destroy(ctx);
	uint64_t took = kt_now_ns() - t0;

	/* The verdict after the cleanup, with every mismatch named. */
	static const char *const names[D_COUNT] = {
		"recv", "accept", "accept_multishot", "poll", "poll_multishot", "connect", "fsync",
		"sleep", "timer_periodic", "recv_multishot", "splice", "send", "read", "recv+timeout",
		"late recv", "late nop",
	};
	char bad[1024] = "";
#define BAD(...) snprintf(bad + strlen(bad), sizeof(bad) - strlen(bad), __VA_ARGS__)
	if (took >= 5000 * KT_MS)
		BAD(" destroy took %llu ms;", (unsigned long long)(took / KT_MS));
	for (int i = 0; i < D_COUNT; i++) {
		if (i == D_ACCEPT_MS || i == D_RECV_MS)
			continue; /* their own records: macc, mrecv */
		int32_t res = r[i].res;
		int ok;
		switch (i) {
		case D_FSYNC:
		case D_LATE_NOP:
			ok = res == 0 || res == -ECANCELED;
			break;
		case D_SEND:
			ok = res == -ECANCELED || (res > 0 && res <= 65536);
			break;
		default:
			ok = res == -ECANCELED;
		}
		int multi = i == D_PERIODIC || i == D_POLL_MS;
		if (r[i].finals != 1 || (r[i].flags & KIO_F_MORE) || (!multi && r[i].calls != 1))
			BAD(" %s: %d callbacks, %d final;", names[i], r[i].calls, r[i].finals);
		else if (!ok)
			BAD(" %s: res %d (%s);", names[i], res, kio_strerror(res));
	}
	if (macc.finals != 1 || macc.calls != 1 || macc.final_res != -ECANCELED)
		BAD(" accept_multishot: %d callbacks, final res %d;", macc.calls, macc.final_res);
	if (mrecv.finals != 1 || mrecv.final_res != -ECANCELED || mrecv.after_final + mrecv.bad ||
	    mrecv.n != 5 || memcmp(mrecv.got, "hello", 5))
		BAD(" recv_multishot: %d finals, final res %d, %zu bytes;", mrecv.finals, mrecv.final_res, mrecv.n);
#undef BAD
	free(mrecv.got);
	kio_buf_ring_destroy(ring);

	const int fds[] = {c, s, mc, msd, bc, bs, l1, l2, l3, filler, cx, f};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		assert_int_equal(close(fds[i]), 0);
	kt_close_pipe(p);
	kt_close_pipe(pm);
	kt_close_pipe(si);
	kt_close_pipe(so);
	kt_close_pipe(rp);
	kt_tmpdir_remove(dir);
	if (bad[0])
		fail_msg("%s: destroy with ops in flight:%s", be_name(flags), bad);
}

static void test_backend_destroy_in_flight(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(destroy_in_flight);
}

/*
 * A file op blocked in the kernel on a pool thread: an openat of a FIFO
 * that has no writer. On io_uring the kernel does not let it hold a worker
 * (its open is tried non-blocking first, and a blocked io-wq worker is
 * interrupted by cancel); kio's contract wants the same of the epoll
 * backend's pool: other file ops are not starved by it, and destroy does
 * not wait for it. A watchdog child opens the FIFOs after 6 s so that a
 * failing run ends cleanly.
 */
enum { FIFOS = 5 }; /* one more than the epoll backend's pool threads */

static char fifo_paths[FIFOS][512];

static int watchdog_child(int fd)
{
	/* fd: readable (or closed) when the parent no longer needs us */
	struct pollfd p = {fd, POLLIN, 0};
	if (poll(&p, 1, 6000) != 0)
		return 0;
	for (int i = 0; i < FIFOS; i++) {
		int w = open(fifo_paths[i], O_RDWR | O_CLOEXEC); /* a writer: blocked readers go on */
		(void)w;
	}
	/* Keep them open until the parent is done. */
	p.revents = 0;
	poll(&p, 1, 20000);
	return 1;
}

static void pool_blocked_call(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	char *dir = kt_tmpdir();
	for (int i = 0; i < FIFOS; i++) {
		snprintf(fifo_paths[i], sizeof(fifo_paths[i]), "%s/fifo%d", dir, i);
		assert_int_equal(mkfifo(fifo_paths[i], 0600), 0);
	}
	int f = make_file(dir, "plain", 4096, 1, O_RDWR);
	int wd[2];
	kt_pipe(wd);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(wd[1]);
		_exit(watchdog_child(wd[0]));
	}

	struct kt_rec opens[FIFOS], fs, st;
	for (int i = 0; i < FIFOS; i++)
		assert_true(kio_openat(ctx, AT_FDCWD, fifo_paths[i], O_RDONLY | O_CLOEXEC, 0, CB(&opens[i])) >= 0);
	kt_run_for(ctx, 20);
	/* Other file ops still run. */
	uint64_t t0 = kt_now_ns();
	assert_true(kio_fsync(ctx, f, 0, CB(&fs)) >= 0);
	int fsync_done = run_until_soft(ctx, &fs.done, 2000);
	uint64_t fsync_ms = (kt_now_ns() - t0) / KT_MS;
	struct statx stx;
	t0 = kt_now_ns();
	assert_true(kio_statx(ctx, AT_FDCWD, fifo_paths[0], 0, STATX_TYPE, &stx, CB(&st)) >= 0);
	int statx_done = run_until_soft(ctx, &st.done, 1000);
	uint64_t statx_ms = (kt_now_ns() - t0) / KT_MS;
	/* Destroy does not wait for the blocked opens. */
	t0 = kt_now_ns();
	kio_ctx_destroy(ctx);
	uint64_t destroy_ms = (kt_now_ns() - t0) / KT_MS;

	assert_int_equal(write(wd[1], "x", 1), 1);
	assert_int_equal(close(wd[1]), 0);
	assert_int_equal(close(wd[0]), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	int watchdog_fired = WIFEXITED(status) && WEXITSTATUS(status) == 1;
	for (int i = 0; i < FIFOS; i++) {
		assert_int_equal(opens[i].calls, 1);
		if (opens[i].res >= 0)
			assert_int_equal(close(opens[i].res), 0);
		else
			assert_int_equal(opens[i].res, -ECANCELED);
	}
	assert_int_equal(fs.calls, 1);
	assert_int_equal(st.calls, 1);
	assert_int_equal(close(f), 0);
	kt_tmpdir_remove(dir);
	print_message("  %s: fsync %llu ms, statx %llu ms, destroy %llu ms, watchdog %s\n", be_name(flags),
		      (unsigned long long)fsync_ms, (unsigned long long)statx_ms, (unsigned long long)destroy_ms,
		      watchdog_fired ? "fired" : "idle");
	if (!fsync_done || !statx_done)
		fail_msg("%s: a file op waited behind openat calls blocked on FIFOs (fsync %s, statx %s)",
			 be_name(flags), fsync_done ? "ran" : "stuck 2 s", statx_done ? "ran" : "stuck 1 s");
	assert_int_equal(fs.res, 0);
	assert_int_equal(st.res, 0);
	if (destroy_ms >= 5000 || watchdog_fired)
		fail_msg("%s: kio_ctx_destroy waited %llu ms for openat calls blocked on FIFOs", be_name(flags),
			 (unsigned long long)destroy_ms);
}

static void test_backend_pool_blocked_call(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(pool_blocked_call);
}

/* ---- 11. EMFILE on accept -------------------------------------------------- */

/* Leaves exactly `room` fd numbers free under a lowered RLIMIT_NOFILE
 * (bt_teardown restores it). The plugs fill the holes below. */
static void limit_fds(struct plug *pl, int room)
{
	int highest = -1;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			highest = fd;
	plug_below(pl, highest);
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)(highest + 1 + room);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static uint64_t loop_iterations(kio_ctx *ctx)
{
	kio_stats st;
	assert_int_equal(kio_ctx_stats(ctx, &st, sizeof(st)), 0);
	return st.loop_iterations;
}

static void emfile(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct kt_rec r;
	struct sockaddr_in addr;
	struct plug pl;
	int lfd = kt_tcp_listener(&addr);
	int cs[4];
	for (int i = 0; i < 4; i++)
		cs[i] = tcp_socket();
	struct rlimit saved;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);

	limit_fds(&pl, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(connect(cs[i], (struct sockaddr *)&addr, sizeof(addr)), 0);
	uint64_t it0 = loop_iterations(ctx);
	/* single shot */
	assert_int_equal(kt_await_op(ctx, kio_accept(ctx, lfd, NULL, NULL, SOCK_CLOEXEC, CB(&r)), &r), -EMFILE);
	/* multishot: a final -EMFILE, and no spinning after it while the
	 * connections wait in the backlog */
	struct ms m;
	ms_init(&m, NULL, 0, 0, 0);
	assert_true(kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, ms_cb, &m) >= 0);
	kt_run_until(ctx, &m.finals, WAIT_MS);
	assert_int_equal(m.final_res, -EMFILE);
	assert_int_equal(m.final_flags & KIO_F_MORE, 0);
	assert_int_equal(m.more, 0);
	struct kt_rec sl;
	assert_int_equal(kt_await_op(ctx, kio_sleep(ctx, 200 * KT_MS, CB(&sl)), &sl), 0);
	uint64_t spins = loop_iterations(ctx) - it0;
	print_message("  %s: %llu loop iterations over the EMFILE waits\n", be_name(flags), (unsigned long long)spins);
	assert_true(spins < 1000);

	/* Room for two: a multishot accept takes two, then ends with -EMFILE. */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	unplug(&pl);
	limit_fds(&pl, 2);
	ms_init(&m, NULL, 0, 0, 0);
	assert_true(kio_accept_multishot(ctx, lfd, SOCK_CLOEXEC, ms_cb, &m) >= 0);
	kt_run_until(ctx, &m.finals, WAIT_MS);
	assert_int_equal(m.more, 2);
	assert_int_equal(m.final_res, -EMFILE);
	assert_int_equal(m.bad + m.after_final, 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	ms_close_fds(&m);
	unplug(&pl);

	/* The limit back: the connections still waiting are accepted. */
	for (int i = 0; i < 2; i++) {
		int a = kt_await_op(ctx, kio_accept(ctx, lfd, NULL, NULL, SOCK_CLOEXEC, CB(&r)), &r);
		assert_true(a >= 0);
		assert_int_equal(close(a), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(close(cs[i]), 0);
	assert_int_equal(close(lfd), 0);
	kt_drain_destroy(ctx);
}

static void test_backend_emfile(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(emfile);
}

/* ---- 12. peer reset mid-recv ----------------------------------------------- */

static void peer_reset(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	struct kt_rec r, pr, sr;
	char buf[16];
	int c, s;
	kt_tcp_pair(&c, &s);
	int64_t id = kio_recv(ctx, s, buf, sizeof(buf), 0, CB(&r));
	int64_t pid = kio_poll(ctx, s, POLLIN | POLLRDHUP, CB(&pr));
	assert_true(id >= 0 && pid >= 0);
	kt_run_for(ctx, 10);
	assert_int_equal(r.calls + pr.calls, 0);
	struct linger lg = {1, 0};
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	assert_int_equal(close(c), 0); /* RST */
	int32_t res = kt_await_op(ctx, id, &r);
	if (res != -ECONNRESET && res != 0)
		fail_msg("%s: recv after a reset: %d, want -ECONNRESET or 0", be_name(flags), res);
	kt_run_until(ctx, &pr.done, WAIT_MS);
	assert_true(pr.res & (POLLIN | POLLERR | POLLHUP | POLLRDHUP));
	/* Afterwards: end of stream, and a send fails without SIGPIPE. */
	res = kt_await_op(ctx, kio_recv(ctx, s, buf, sizeof(buf), 0, CB(&r)), &r);
	assert_true(res == 0 || res == -ECONNRESET);
	res = kt_await_op(ctx, kio_send(ctx, s, "x", 1, 0, CB(&sr)), &sr);
	assert_true(res == -EPIPE || res == -ECONNRESET);
	kt_assert_sigpipe_default();
	assert_int_equal(close(s), 0);
	kt_drain_destroy(ctx);
}

static void test_backend_peer_reset(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(peer_reset);
}

/* ---- end of stream arriving with the last data ------------------------------ */

/*
 * Data and the end of the stream that come together (one readiness edge
 * for both, as when a peer writes its last bytes and closes before the
 * loop looks): every op waiting on the fd must hear both, as recv(2) and
 * read(2) would. A short read does not mean that nothing more will come:
 * the end of stream may already be there. Each case waits 2 s at most;
 * a case that hangs is cancelled, cleaned up and named at the end.
 */
struct eof_report {
	char hung[256];
};

static void eof_hung(kio_ctx *ctx, struct eof_report *rep, const char *name, int64_t id1, int64_t id2)
{
	strncat(rep->hung, name, sizeof(rep->hung) - strlen(rep->hung) - 1);
	kio_op_cancel(ctx, id1);
	if (id2 >= 0)
		kio_op_cancel(ctx, id2);
}

static void eof_after_data(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	kio_buf_ring *ring = kt_make_ring(ctx, 8, 4, 64);
	struct eof_report rep;
	rep.hung[0] = 0;
	struct ms m;
	struct kt_rec r1, r2;
	char b1[16], b2[16];
	int sv[2], p[2], c, s;

	/* A: a multishot recv, parked; then "abc" and the end */
	kt_unix_pair(sv);
	ms_init(&m, ring, 64, 256, 1);
	int64_t id = kio_recv_multishot(ctx, sv[1], ring, 0, ms_cb, &m);
	assert_true(id >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(write(sv[0], "abc", 3), 3);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	if (!run_until_soft(ctx, &m.finals, 2000))
		eof_hung(ctx, &rep, " multishot-recv", id, -1);
	else
		assert_int_equal(m.final_res, 0);
	kt_run_until(ctx, &m.finals, WAIT_MS);
	assert_int_equal(m.n, 3);
	assert_memory_equal(m.got, "abc", 3);
	assert_int_equal(m.bad + m.after_final, 0);
	free(m.got);
	kt_close_pipe(sv);

	/* B: MSG_WAITALL for 8 bytes; 4 come, then the end: the 4 */
	kt_unix_pair(sv);
	id = kio_recv(ctx, sv[1], b1, 8, MSG_WAITALL, CB(&r1));
	assert_true(id >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(write(sv[0], "1234", 4), 4);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	if (!run_until_soft(ctx, &r1.done, 2000))
		eof_hung(ctx, &rep, " waitall-recv", id, -1);
	kt_run_until(ctx, &r1.done, WAIT_MS);
	assert_int_equal(r1.res, 4);
	assert_memory_equal(b1, "1234", 4);
	kt_close_pipe(sv);

	/* C: two recvs parked: one gets the data, the other the end */
	kt_unix_pair(sv);
	id = kio_recv(ctx, sv[1], b1, sizeof(b1), 0, CB(&r1));
	int64_t id2 = kio_recv(ctx, sv[1], b2, sizeof(b2), 0, CB(&r2));
	assert_true(id >= 0 && id2 >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(write(sv[0], "abc", 3), 3);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	if (!run_until_soft(ctx, &r1.done, 2000) || !run_until_soft(ctx, &r2.done, 2000))
		eof_hung(ctx, &rep, " second-recv", id, id2);
	kt_run_until(ctx, &r1.done, WAIT_MS);
	kt_run_until(ctx, &r2.done, WAIT_MS);
	assert_true((r1.res == 3 && !memcmp(b1, "abc", 3)) || (r2.res == 3 && !memcmp(b2, "abc", 3)));
	kt_close_pipe(sv);

	/* D: the same with two reads on a pipe whose writer closes */
	kt_pipe(p);
	id = kio_read(ctx, p[0], b1, sizeof(b1), KIO_OFFSET_CURRENT, CB(&r1));
	id2 = kio_read(ctx, p[0], b2, sizeof(b2), KIO_OFFSET_CURRENT, CB(&r2));
	assert_true(id >= 0 && id2 >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(write(p[1], "xyz", 3), 3);
	assert_int_equal(close(p[1]), 0);
	p[1] = -1;
	int d1 = run_until_soft(ctx, &r1.done, 2000), d2 = run_until_soft(ctx, &r2.done, 2000);
	if (!d1 || !d2)
		eof_hung(ctx, &rep, " second-pipe-read", id, id2);
	else
		assert_true((r1.res == 3 && r2.res == 0) || (r1.res == 0 && r2.res == 3));
	kt_run_until(ctx, &r1.done, WAIT_MS);
	kt_run_until(ctx, &r2.done, WAIT_MS);
	kt_close_pipe(p);

	/* E: a multishot recv on TCP; the peer writes and shuts down */
	kt_tcp_pair(&c, &s);
	ms_init(&m, ring, 64, 256, 1);
	id = kio_recv_multishot(ctx, s, ring, 0, ms_cb, &m);
	assert_true(id >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(write(c, "tcp-end", 7), 7);
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	if (!run_until_soft(ctx, &m.finals, 2000))
		eof_hung(ctx, &rep, " tcp-multishot-recv", id, -1);
	else
		assert_int_equal(m.final_res, 0);
	kt_run_until(ctx, &m.finals, WAIT_MS);
	assert_int_equal(m.n, 7);
	assert_memory_equal(m.got, "tcp-end", 7);
	free(m.got);
	assert_int_equal(close(c), 0);
	assert_int_equal(close(s), 0);

	/* F: a recv, and a poll for input behind it: the recv takes the
	 * data, the poll sees the end (readable) */
	kt_unix_pair(sv);
	id = kio_recv(ctx, sv[1], b1, sizeof(b1), 0, CB(&r1));
	id2 = kio_poll(ctx, sv[1], POLLIN, CB(&r2));
	assert_true(id >= 0 && id2 >= 0);
	kt_run_for(ctx, 5);
	assert_int_equal(write(sv[0], "abc", 3), 3);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	if (!run_until_soft(ctx, &r1.done, 2000) || !run_until_soft(ctx, &r2.done, 2000))
		eof_hung(ctx, &rep, " poll-behind-recv", id, id2);
	else
		assert_true(r2.res & POLLIN);
	kt_run_until(ctx, &r1.done, WAIT_MS);
	kt_run_until(ctx, &r2.done, WAIT_MS);
	assert_int_equal(r1.res, 3);
	kt_close_pipe(sv);

	kt_drain_destroy(ctx);
	kio_buf_ring_destroy(ring);
	if (rep.hung[0])
		fail_msg("%s: the end of stream that came with the last data never reached:%s", be_name(flags),
			 rep.hung);
}

static void test_backend_eof_after_data(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(eof_after_data);
}

/* ---- 13. a starved buffer ring ---------------------------------------------- */

static void starved_ring(uint32_t flags)
{
	kio_ctx *ctx = bt_ctx(flags, 0, 0);
	kio_buf_ring *ring = kt_make_ring(ctx, 6, 2, 64);
	int c, s;
	kt_tcp_pair(&c, &s);
	struct ms m;
	ms_init(&m, ring, 64, 4096, 0); /* the slow reader holds every buffer */
	assert_true(kio_recv_multishot(ctx, s, ring, 0, ms_cb, &m) >= 0);
	const char *msgs[] = {"first", "second", "third!", "fourth"};
	assert_int_equal(write(c, msgs[0], 5), 5);
	run_until_bytes(ctx, &m, 5);
	assert_int_equal(write(c, msgs[1], 6), 6);
	run_until_bytes(ctx, &m, 11);
	assert_int_equal(m.more, 2);
	assert_int_equal(m.nheld, 2);
	assert_int_equal(write(c, msgs[2], 6), 6);
	assert_int_equal(write(c, msgs[3], 6), 6);
	kt_run_until(ctx, &m.finals, WAIT_MS);
	assert_int_equal(m.final_res, -ENOBUFS);
	assert_int_equal(m.final_flags & (KIO_F_MORE | KIO_F_BUFFER), 0);
	assert_int_equal(m.more, 2);
	assert_int_equal(m.bad + m.after_final, 0);
	assert_int_equal(m.n, 11);
	assert_memory_equal(m.got, "firstsecond", 11);
	assert_true(m.held[0] != m.held[1]);
	/* Nothing was lost: the rest waits in the socket. */
	char rest[12];
	kt_read_exact(s, rest, 12);
	assert_memory_equal(rest, "third!fourth", 12);
	kt_run_for(ctx, 5);
	assert_int_equal(m.calls, 3);
	free(m.got);
	assert_int_equal(close(c), 0);
	assert_int_equal(close(s), 0);
	kt_drain_destroy(ctx);
	kio_buf_ring_destroy(ring);
}

static void test_backend_starved_ring(void **state)
{
	(void)state;
	FOR_EACH_BACKEND(starved_ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BT_TEST(test_backend_selection),
		BT_TEST(test_backend_seccomp_fallback),
		BT_TEST(test_backend_probe_epoll),
		BT_TEST(test_backend_fd_reuse),
		BT_TEST(test_backend_blocking_sockets),
		BT_TEST(test_backend_connect_unix_full_backlog),
		BT_TEST(test_backend_msg_dontwait),
		BT_TEST(test_backend_file_paths),
		BT_TEST(test_backend_small_cq),
		BT_TEST(test_backend_cancel_race),
		BT_TEST(test_backend_destroy_in_flight),
		BT_TEST(test_backend_pool_blocked_call),
		BT_TEST(test_backend_emfile),
		BT_TEST(test_backend_peer_reset),
		BT_TEST(test_backend_eof_after_data),
		BT_TEST(test_backend_starved_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
