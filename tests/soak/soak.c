/* SPDX-License-Identifier: MIT */
/*
 * soak - a bounded churn run on one kio context that checks nothing
 * accumulates. Public API only; the backend is whatever kio_ctx_create()
 * picks (KIO_BACKEND, or io_uring with the epoll fallback): this program
 * never forces one.
 *
 *   soak [--interval S] [--warmup S] [--rss-tolerance KIB]
 *        [--heap-tolerance KIB] [--seed N] [--verbose] [SECONDS]
 *
 * SECONDS (or KIO_SOAK_SECONDS; default 20) is the churn time. The run is
 * cut into rounds of --interval seconds (KIO_SOAK_INTERVAL; default 2).
 * During a round every generator below keeps a fixed number of activities
 * going, starting a new one as soon as one ends. At the end of a round
 * nothing new starts, everything in flight ends (at most 20 s: more is a
 * hang), and a checkpoint compares the process with its baseline, taken at
 * the checkpoint that ends the warm-up (--warmup, default 10% of the run,
 * at least one round, at most 60 s):
 *
 *   - kio_ctx_pending() is 0 (and, after every loop round, equals the
 *     number of ops this program started whose final callback has not run);
 *   - open fds (/proc/self/fd) equal the baseline;
 *   - threads (/proc/self/task, leaving out "kio-log") equal the baseline,
 *     except the kernel's io_uring workers (iou-wrk-*, iou-sqp-*), which
 *     exit on the kernel's schedule and are checked after the teardown
 *     instead, and the epoll backend's file threads (kio-io), which start on
 *     demand and stay: at most 4 (kio(7));
 *   - RSS (/proc/self/statm) is within --rss-tolerance KiB of the baseline
 *     (default 2048: see tests/soak/README.md for why), and the bytes
 *     malloc() has handed out (mallinfo2) within --heap-tolerance KiB
 *     (default 256) - not under AddressSanitizer, whose allocator and
 *     quarantine make both meaningless;
 *   - the buffer ring has every buffer back, the temporary directory is
 *     empty, and every kio_ctx_post() made from a pool job ran once.
 *
 * Every op is started through a token whose generation is encoded in the
 * user_data: a callback for a token not in flight (a second final callback,
 * or one after a call that returned an error) is a violation, and so is a
 * callback that runs inside the call that started its op or on another
 * thread. After every loop round, each op that finished is checked to give
 * -ENOENT to kio_op_cancel() and kio_op_timeout() (op ids carry a
 * generation). A final callback that never comes shows as a drain that does
 * not finish.
 *
 * The mix (every generator runs all the time):
 *   tcp     48 client connections over loopback against a server on the same
 *           ctx: kio_accept_multishot(), and a kio_recv_multishot() per
 *           connection into one shared buffer ring (small enough to run dry:
 *           -ENOBUFS, receive started again once buffers come back), echoed
 *           with kio_send(). Each client connection plays one scenario:
 *             echo        1-4 verified echoes, shutdown(SHUT_WR), read to EOF
 *             reset       an echo, then SO_LINGER {1,0} and close: RST
 *             peer-reset  the server resets the connection under a pending recv
 *             peer-close  the server closes it (kio_close) under a pending recv
 *             timeout     a recv with a 1-20 ms kio_op_timeout (-ETIMEDOUT),
 *                         an echo, then kio_close() under a pending recv
 *             cancel      a recv cancelled with kio_op_cancel(), an echo,
 *                         shutdown, EOF
 *             abandon     16 KiB sent, then RST without reading the echo
 *             refused     kio_connect() to a port nobody listens on
 *           Both sides close with kio_close() or close(2), alternately.
 *   files   4 chains in a temporary directory: openat, write, fsync or
 *           fdatasync, read back (verified), statx (size), renameat, close,
 *           unlinkat; also mkdirat + unlinkat(AT_REMOVEDIR), and an openat
 *           that must fail with -ENOENT.
 *   timers  8 slots: kio_sleep (never early), kio_sleep_until (wall clock),
 *           a sleep cancelled at once, kio_timer_periodic cancelled from its
 *           own callback after 1-5 ticks, a periodic timer ended by
 *           kio_op_timeout (-ETIMEDOUT), a sleep with a timeout that does not
 *           fire, kio_nop.
 *   pool    8 slots on a 2-thread kio_pool: jobs checked for their result,
 *           jobs cancelled at once, jobs with a 1 ms timeout, jobs that call
 *           kio_ctx_post() from the pool thread; and jobs on a 1-thread pool
 *           created at the start of every round and destroyed at its end.
 *   sampler a 100 ms periodic timer that records the peaks of fds, threads
 *           and RSS.
 *
 * Prints one line per checkpoint and a summary (ops per kind, peak and
 * final fds, threads, RSS). Exit status: 0 no violation, 1 a violation,
 * 2 usage, 77 no usable backend (KIO_BACKEND=io_uring where io_uring is
 * refused, or a kernel without buffer rings).
 */
#define _GNU_SOURCE
#include <kio/kio.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif

#define MS 1000000ull
#define SEC 1000000000ull

#define NCLIENT 48          /* client connections at once */
#define NSERVER 256         /* server-side connection slots */
#define MSG_MAX 16384       /* largest echo message */
#define RING_BUFS 64        /* buffers in the shared ring: it runs dry at times */
#define RING_SIZE 4096
#define NFILE 4
#define FILE_MAX 32768
#define NTIMER 8
#define NPOOL 8
#define NTOKS 8192          /* ops in flight at most (far more than used) */
#define GUARD_NS (10 * SEC) /* a recv/connect that should finish at once */
#define DRAIN_NS (20 * SEC) /* the end of a round: everything ends by then */
#define KIO_IO_MAX 4        /* kio(7): the epoll backend's file threads */

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint64_t g_start_ns;
static unsigned long g_violations;
static int g_verbose;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	va_list ap;
	g_violations++;
	if (g_violations > 100)
		return; /* counted; the first ones say enough */
	fprintf(stderr, "soak: VIOLATION at %.3f s: ", (double)(now_ns() - g_start_ns) / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (g_violations == 100)
		fprintf(stderr, "soak: further violations are counted, not printed\n");
}

/* ---- process measurements ----------------------------------------------- */

struct sample {
	int fds;
	int threads;   /* strict: every thread but kio-log, kio-io, iou-* */
	int kio_io;    /* the epoll backend's file threads */
	int iou;       /* the kernel's io_uring workers (iou-wrk-*, iou-sqp-*) */
	long rss_kib;
	long heap_kib; /* malloc'd bytes in use, KiB (-1 under ASan) */
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* opendir's own */
}

static void count_threads(struct sample *s)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	s->threads = s->kio_io = s->iou = 0;
	if (!d) {
		s->threads = -1;
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char path[300], comm[64] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* it exited meanwhile */
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		comm[strcspn(comm, "\n")] = 0;
		if (strcmp(comm, "kio-log") == 0)
			continue;
		if (strcmp(comm, "kio-io") == 0)
			s->kio_io++;
		else if (strncmp(comm, "iou-", 4) == 0)
			s->iou++;
		else
			s->threads++;
	}
	closedir(d);
}

/* Every thread but kio-log: what kt_count_threads() counts. */
static int all_threads(const struct sample *s)
{
	return s->threads + s->kio_io + s->iou;
}

static long rss_kib(void)
{
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

static long heap_kib(void)
{
#ifdef SOAK_ASAN
	return -1;
#else
	struct mallinfo2 mi = mallinfo2();
	return (long)((mi.uordblks + mi.hblkhd) / 1024);
#endif
}

static void measure(struct sample *s)
{
	s->fds = count_fds();
	count_threads(s);
	s->rss_kib = rss_kib();
	s->heap_kib = heap_kib();
}

static struct sample g_peak;

static void note_peak(const struct sample *s)
{
	if (s->fds > g_peak.fds)
		g_peak.fds = s->fds;
	if (all_threads(s) > all_threads(&g_peak)) {
		g_peak.threads = s->threads;
		g_peak.kio_io = s->kio_io;
		g_peak.iou = s->iou;
	}
	if (s->rss_kib > g_peak.rss_kib)
		g_peak.rss_kib = s->rss_kib;
	if (s->heap_kib > g_peak.heap_kib)
		g_peak.heap_kib = s->heap_kib;
}

/* ---- op tokens: exactly one final callback per op ------------------------ */

enum kind {
	K_ACCEPT,
	K_SOCKET,
	K_CONNECT,
	K_SEND,
	K_RECV,
	K_RECV_MULTI,
	K_SHUTDOWN,
	K_CLOSE,
	K_OPENAT,
	K_WRITE,
	K_FSYNC,
	K_READ,
	K_STATX,
	K_RENAMEAT,
	K_UNLINKAT,
	K_MKDIRAT,
	K_SLEEP,
	K_SLEEP_UNTIL,
	K_PERIODIC,
	K_NOP,
	K_POOL,
	K_SAMPLER,
	K_N
};

static const char *const kind_name[K_N] = {
	"accept_multishot", "socket", "connect", "send", "recv", "recv_multishot",
	"shutdown", "close", "openat", "write", "fsync", "read", "statx", "renameat",
	"unlinkat", "mkdirat", "sleep", "sleep_until", "timer_periodic", "nop",
	"pool_submit", "timer_periodic (sampler)",
};

struct kind_stats {
	unsigned long long started;    /* calls that returned an op id */
	unsigned long long start_errs; /* calls that returned an error */
	unsigned long long finals;     /* final callbacks */
	unsigned long long more;       /* callbacks with KIO_F_MORE */
	unsigned long long errors;     /* final callbacks with res < 0 */
};

static struct kind_stats g_ks[K_N];

/* Every struct that starts ops begins with this: ops in flight for it. */
struct owner {
	int nops;
};

typedef void (*tok_fn)(struct owner *o, int32_t res, uint32_t flags, int64_t id);

struct tok {
	uint32_t gen;
	uint8_t armed;
	uint8_t kind;
	struct owner *owner;
	tok_fn fn;
	int64_t id;
	uint64_t t0;
};

#define TOK_IDX_BITS 16
static struct tok g_toks[NTOKS];
static uint32_t g_tok_free[NTOKS];
static uint32_t g_tok_nfree;
static uint32_t g_armed;   /* ops started whose final callback has not run */
static int g_starting;     /* inside a call that starts an op */
static pthread_t g_main;
static kio_ctx *g_ctx;

/* Finished op ids, checked for -ENOENT after the loop round. */
#define DONE_IDS 8192
static int64_t g_done_ids[DONE_IDS];
static unsigned g_ndone_ids;
static unsigned long long g_enoent_checked;

static void tok_init(void)
{
	for (uint32_t i = 0; i < NTOKS; i++)
		g_tok_free[g_tok_nfree++] = NTOKS - 1 - i;
}

static struct tok *tok_get(enum kind kind, struct owner *o, tok_fn fn)
{
	if (g_tok_nfree == 0) {
		fprintf(stderr, "soak: out of op tokens (%u in flight)\n", g_armed);
		abort();
	}
	struct tok *t = &g_toks[g_tok_free[--g_tok_nfree]];
	t->armed = 1;
	t->kind = (uint8_t)kind;
	t->owner = o;
	t->fn = fn;
	t->id = -1;
	t->t0 = now_ns();
	o->nops++;
	g_starting = 1;
	return t;
}

static void *tok_ud(const struct tok *t)
{
	return (void *)(((uintptr_t)t->gen << TOK_IDX_BITS) | (uintptr_t)(t - g_toks));
}

static void tok_put(struct tok *t)
{
	t->armed = 0;
	t->gen++;
	g_tok_free[g_tok_nfree++] = (uint32_t)(t - g_toks);
}

/* id: what the op call returned. */
static int64_t tok_arm(struct tok *t, int64_t id)
{
	g_starting = 0;
	if (id < 0) {
		g_ks[t->kind].start_errs++;
		t->owner->nops--;
		tok_put(t); /* its callback must never run (contract 1) */
		return id;
	}
	t->id = id;
	g_ks[t->kind].started++;
	g_armed++;
	return id;
}

static void on_op(void *user_data, int32_t res, uint32_t flags)
{
	uintptr_t v = (uintptr_t)user_data;
	uint32_t idx = (uint32_t)(v & ((1u << TOK_IDX_BITS) - 1));
	uint32_t gen = (uint32_t)(v >> TOK_IDX_BITS);
	struct tok *t = idx < NTOKS ? &g_toks[idx] : NULL;

	if (!t || !t->armed || t->gen != gen) {
		violation("a callback (res %d, flags %#x) for an op that is not in flight "
			  "(token %u, generation %u, now %u): a second final callback, or one "
			  "for a call that returned an error",
			  res, flags, idx, gen, t ? t->gen : 0);
		return;
	}
	if (g_starting)
		violation("a %s callback ran inside the call that started an op",
			  kind_name[t->kind]);
	if (!pthread_equal(pthread_self(), g_main))
		violation("a %s callback ran on another thread", kind_name[t->kind]);
	if (flags & KIO_F_MORE) {
		g_ks[t->kind].more++;
		t->fn(t->owner, res, flags, t->id);
		return;
	}
	struct owner *o = t->owner;
	tok_fn fn = t->fn;
	int64_t id = t->id;
	g_ks[t->kind].finals++;
	if (res < 0)
		g_ks[t->kind].errors++;
	g_armed--;
	tok_put(t);
	o->nops--;
	if (g_ndone_ids < DONE_IDS)
		g_done_ids[g_ndone_ids++] = id;
	fn(o, res, flags, id);
}

/* Outside callbacks: every op that finished is gone for good (contract 6). */
static void check_done_ids(void)
{
	for (unsigned i = 0; i < g_ndone_ids; i++) {
		int r1 = kio_op_cancel(g_ctx, g_done_ids[i]);
		int r2 = kio_op_timeout(g_ctx, g_done_ids[i], 1);
		if (r1 != -ENOENT || r2 != -ENOENT)
			violation("finished op %#llx: kio_op_cancel gives %d, kio_op_timeout %d, "
				  "expected -ENOENT",
				  (unsigned long long)g_done_ids[i], r1, r2);
	}
	g_enoent_checked += g_ndone_ids;
	g_ndone_ids = 0;
}

static void dump_tokens(void)
{
	uint64_t now = now_ns();
	unsigned shown = 0;
	for (uint32_t i = 0; i < NTOKS; i++) {
		if (!g_toks[i].armed)
			continue;
		if (shown++ < 40)
			fprintf(stderr, "soak:   still in flight: %s op %#llx, started %.3f s ago\n",
				kind_name[g_toks[i].kind], (unsigned long long)g_toks[i].id,
				(double)(now - g_toks[i].t0) / 1e9);
	}
	if (shown > 40)
		fprintf(stderr, "soak:   ... %u in all\n", shown);
}

/* ---- the state all generators share -------------------------------------- */

static bool g_launching;       /* start new activities */
static kio_buf_ring *g_ring;
static kio_pool *g_pool;       /* for the whole run */
static kio_pool *g_tpool;      /* made and destroyed every round */
static int g_lfd = -1;         /* the listener */
static int g_refuse_fd = -1;   /* bound, never listening: connects are refused */
static struct sockaddr_in g_laddr, g_raddr;
static int g_dirfd = -1;
static char g_dir[PATH_MAX];
static uint32_t g_seq;

/* Counters for the summary. */
static unsigned long long g_scen_done[16];
static unsigned long long g_echoes, g_echo_bytes, g_accepted, g_server_full, g_restarts,
	g_sync_closes, g_files_done, g_timers_done, g_jobs_done;
static atomic_ulong g_posts_sent;
static unsigned long g_posts_run;

/* ---- TCP: the server side ------------------------------------------------ */

struct sconn {
	struct owner o;
	int idx;
	int fd;
	bool used, recv_active, send_active, starved, eof, closing;
	int kill;     /* 'R' reset or 'X' close, asked by the client */
	int32_t head, tail;
	uint32_t off;
	uint32_t seq;
	int64_t recv_id;
};

static struct sconn g_srv[NSERVER];
static int g_srv_free[NSERVER];
static int g_srv_nfree;
static int g_servers_active;
static int g_nstarved;
static int32_t g_next_buf[RING_BUFS];
static uint32_t g_buf_len[RING_BUFS];
static int g_bufs_held;

struct accept_state {
	struct owner o;
	bool active;
	bool wanted; /* keep accepting (until every client connection ended) */
	int64_t id;
};
static struct accept_state g_acc;

static void ss_send_next(struct sconn *s);
static void ss_maybe_close(struct sconn *s);
static void start_accept(void);

static void buf_release(uint16_t id)
{
	int rc = kio_buf_ring_release(g_ring, id);
	if (rc != 0)
		violation("kio_buf_ring_release(%u): %s", id, kio_strerror(rc));
	g_bufs_held--;
}

static void ss_drop_queue(struct sconn *s)
{
	while (s->head >= 0) {
		int32_t id = s->head;
		s->head = g_next_buf[id];
		buf_release((uint16_t)id);
	}
	s->tail = -1;
	s->off = 0;
}

static void ss_maybe_end(struct sconn *s)
{
	if (!s->closing || s->fd >= 0 || s->o.nops || s->recv_active || s->send_active)
		return;
	s->used = false;
	g_srv_free[g_srv_nfree++] = s->idx;
	g_servers_active--;
}

static void ss_on_close(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct sconn *s = (struct sconn *)o;
	(void)flags;
	(void)id;
	if (res != 0)
		violation("server kio_close: %s", kio_strerror(res));
	ss_maybe_end(s);
}

static void ss_close(struct sconn *s, bool use_kio)
{
	s->closing = true;
	if (s->starved) {
		s->starved = false;
		g_nstarved--;
	}
	if (use_kio) {
		struct tok *t = tok_get(K_CLOSE, &s->o, ss_on_close);
		int64_t id = tok_arm(t, kio_close(g_ctx, s->fd, on_op, tok_ud(t)));
		if (id >= 0) {
			s->fd = -1;
			return;
		}
		violation("server kio_close: %s", kio_strerror((int)id));
	}
	if (close(s->fd) < 0)
		violation("server close(2): %s", strerror(errno));
	g_sync_closes++;
	s->fd = -1;
	ss_maybe_end(s);
}

static void ss_on_recv(struct owner *o, int32_t res, uint32_t flags, int64_t id);

static void ss_start_recv(struct sconn *s)
{
	if (s->starved) {
		s->starved = false;
		g_nstarved--;
	}
	struct tok *t = tok_get(K_RECV_MULTI, &s->o, ss_on_recv);
	int64_t id = tok_arm(t, kio_recv_multishot(g_ctx, s->fd, g_ring, 0, on_op, tok_ud(t)));
	if (id < 0) {
		violation("kio_recv_multishot: %s", kio_strerror((int)id));
		s->eof = true;
		ss_maybe_close(s);
		return;
	}
	s->recv_active = true;
	s->recv_id = id;
}

/* A buffer came home: connections whose receive ran dry go on. */
static void restart_starved(void)
{
	for (int i = 0; i < NSERVER && g_nstarved > 0; i++) {
		struct sconn *s = &g_srv[i];
		if (s->used && s->starved && !s->eof && !s->closing) {
			g_restarts++;
			ss_start_recv(s);
		}
	}
}

static void ss_maybe_close(struct sconn *s)
{
	if (!s->eof || s->recv_active || s->send_active || s->closing)
		return;
	ss_drop_queue(s);
	restart_starved();
	ss_close(s, s->seq & 1);
}

/* The client asked: reset ('R', SO_LINGER {1,0}) or close ('X') now, with
 * the multishot receive (and maybe a send) still pending: kio_close()
 * cancels them. */
static void ss_kill(struct sconn *s, int how)
{
	s->kill = how;
	s->eof = true;
	if (how == 'R') {
		struct linger lg = {1, 0};
		if (setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
			violation("SO_LINGER: %s", strerror(errno));
	}
	ss_drop_queue(s);
	restart_starved();
	ss_close(s, true);
}

static void ss_on_recv(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct sconn *s = (struct sconn *)o;
	(void)id;

	if (res > 0 && (flags & KIO_F_BUFFER)) {
		int32_t bid = (int32_t)(flags >> 16);
		const char *data = kio_buf_ring_data(g_ring, (uint16_t)bid);
		g_bufs_held++;
		if (!data || bid >= RING_BUFS) {
			violation("recv_multishot: buffer id %d has no memory", bid);
		} else if (s->closing || s->eof) {
			buf_release((uint16_t)bid); /* nobody to echo to */
		} else if (data[0] == 'R' || data[0] == 'X') {
			if (res != 1)
				violation("a command arrived with %d bytes", res);
			buf_release((uint16_t)bid);
			ss_kill(s, data[0]);
		} else {
			g_buf_len[bid] = (uint32_t)res;
			g_next_buf[bid] = -1;
			if (s->tail >= 0)
				g_next_buf[s->tail] = bid;
			else
				s->head = bid;
			s->tail = bid;
			if (!s->send_active)
				ss_send_next(s);
		}
	} else if (res > 0) {
		violation("recv_multishot: %d bytes without KIO_F_BUFFER", res);
	}
	if (flags & KIO_F_MORE)
		return;
	/* The receive ended. */
	s->recv_active = false;
	if (s->closing) {
		ss_maybe_end(s);
		return;
	}
	if (res == -ENOBUFS && !s->eof) {
		s->starved = true; /* restart_starved() goes on */
		g_nstarved++;
		return;
	}
	if (res > 0 && !s->eof) {
		ss_start_recv(s); /* a final callback that carried data */
		return;
	}
	/* -ENOBUFS too: a send error ended the connection (and cancelled this
	 * receive) while the ring was dry. */
	if (res < 0 && res != -ECONNRESET && res != -ECANCELED && res != -ENOBUFS)
		violation("server recv_multishot ended with %s", kio_strerror(res));
	s->eof = true;
	ss_maybe_close(s);
}

static void ss_on_sent(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct sconn *s = (struct sconn *)o;
	(void)flags;
	(void)id;
	s->send_active = false;
	if (s->closing) {
		ss_maybe_end(s);
		return;
	}
	if (res <= 0) {
		/* The client reset the connection (abandon, reset scenarios). */
		if (res != -EPIPE && res != -ECONNRESET)
			violation("server send: %s", res == 0 ? "0 bytes" : kio_strerror(res));
		s->eof = true;
		if (s->recv_active) {
			int rc = kio_op_cancel(g_ctx, s->recv_id);
			if (rc != 0)
				violation("cancel of a pending recv_multishot: %s", kio_strerror(rc));
		}
		ss_drop_queue(s);
		restart_starved();
		ss_maybe_close(s);
		return;
	}
	g_echo_bytes += (unsigned)res;
	s->off += (uint32_t)res;
	if (s->off == g_buf_len[s->head]) {
		int32_t bid = s->head;
		s->head = g_next_buf[bid];
		if (s->head < 0)
			s->tail = -1;
		s->off = 0;
		buf_release((uint16_t)bid);
		restart_starved();
	}
	ss_send_next(s);
	ss_maybe_close(s);
}

static void ss_send_next(struct sconn *s)
{
	if (s->head < 0 || s->send_active || s->closing)
		return;
	const char *data = kio_buf_ring_data(g_ring, (uint16_t)s->head);
	struct tok *t = tok_get(K_SEND, &s->o, ss_on_sent);
	int64_t id = tok_arm(t, kio_send(g_ctx, s->fd, data + s->off, g_buf_len[s->head] - s->off,
					 0, on_op, tok_ud(t)));
	if (id < 0) {
		violation("server kio_send: %s", kio_strerror((int)id));
		s->eof = true;
		ss_drop_queue(s);
		return;
	}
	s->send_active = true;
}

static void new_server_conn(int fd)
{
	g_accepted++;
	if (g_srv_nfree == 0) {
		g_server_full++;
		close(fd);
		return;
	}
	struct sconn *s = &g_srv[g_srv_free[--g_srv_nfree]];
	int idx = s->idx;
	memset(s, 0, sizeof(*s));
	s->idx = idx;
	s->used = true;
	s->fd = fd;
	s->head = s->tail = -1;
	s->seq = ++g_seq;
	g_servers_active++;
	ss_start_recv(s);
}

static void on_accept_retry(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	(void)o;
	(void)res;
	(void)flags;
	(void)id;
	if (g_acc.wanted && !g_acc.active)
		start_accept();
}

static void on_accept(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	(void)o;
	(void)id;
	if (res >= 0)
		new_server_conn(res); /* a final callback may carry one too */
	if (flags & KIO_F_MORE)
		return;
	g_acc.active = false;
	if (!g_acc.wanted) {
		if (res < 0 && res != -ECANCELED)
			violation("accept_multishot ended with %s", kio_strerror(res));
		return;
	}
	if (res == -EMFILE || res == -ENFILE) {
		struct tok *t = tok_get(K_SLEEP, &g_acc.o, on_accept_retry);
		if (tok_arm(t, kio_sleep(g_ctx, 50 * MS, on_op, tok_ud(t))) >= 0)
			return;
	} else if (res < 0) {
		violation("accept_multishot ended with %s", kio_strerror(res));
	}
	start_accept();
}

static void start_accept(void)
{
	struct tok *t = tok_get(K_ACCEPT, &g_acc.o, on_accept);
	int64_t id = tok_arm(t, kio_accept_multishot(g_ctx, g_lfd, SOCK_CLOEXEC, on_op, tok_ud(t)));
	if (id < 0) {
		violation("kio_accept_multishot: %s", kio_strerror((int)id));
		return;
	}
	g_acc.active = true;
	g_acc.id = id;
}

/* ---- TCP: the client side ------------------------------------------------ */

enum cscen {
	CS_ECHO,
	CS_RESET,
	CS_PEER_RESET,
	CS_PEER_CLOSE,
	CS_TIMEOUT,
	CS_CANCEL,
	CS_ABANDON,
	CS_REFUSED,
	CS_N
};

static const char *const cscen_name[CS_N] = {
	"echo + half-close", "reset (RST)", "peer resets under recv", "peer closes under recv",
	"recv timeout + kio_close under recv", "recv cancelled", "abandoned (RST mid-echo)",
	"connect refused",
};

/* Weights: echo most of the time. */
static const unsigned cscen_weight[CS_N] = {30, 10, 10, 10, 10, 10, 10, 10};

enum cphase {
	CP_IDLE,
	CP_SOCKET,
	CP_CONNECT,
	CP_ECHO,
	CP_SHUT,
	CP_EOF,
	CP_CMD,
	CP_TIMEOUT_RECV,
	CP_CANCEL_RECV,
	CP_ABANDON,
	CP_CLOSING
};

struct cconn {
	struct owner o;
	int idx;
	int fd;
	enum cscen scen;
	enum cphase phase;
	uint32_t seq;
	unsigned msgs, msgno;
	size_t len, sent, got;
	bool send_busy, recv_busy, cmd_sent, cmd_recvd, aborted;
	int64_t recv_id;
	uint64_t t0, tmo;
	unsigned char out[MSG_MAX], in[MSG_MAX];
};

static struct cconn g_cli[NCLIENT];
static int g_clients_active;

static unsigned char pattern(uint32_t seq, unsigned msg, size_t i)
{
	/* Lower-case letters only: the commands 'R' and 'X' never appear. */
	unsigned v = seq * 7u + msg * 13u + (unsigned)i * 31u + (unsigned)(i >> 9);
	return (unsigned char)('a' + (v & 15u));
}

static void cc_echo_begin(struct cconn *c);
static void cc_after_echo(struct cconn *c);

static void cc_maybe_end(struct cconn *c)
{
	if (c->phase != CP_CLOSING || c->fd >= 0 || c->o.nops)
		return;
	g_scen_done[c->scen]++;
	c->phase = CP_IDLE;
	g_clients_active--;
}

static void cc_on_close(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct cconn *c = (struct cconn *)o;
	(void)flags;
	(void)id;
	if (res != 0)
		violation("client kio_close: %s", kio_strerror(res));
	cc_maybe_end(c);
}

/* close(2) only when no op of ours is pending on the fd. */
static void cc_close(struct cconn *c, bool use_kio)
{
	c->phase = CP_CLOSING;
	if (c->fd < 0) {
		cc_maybe_end(c);
		return;
	}
	if (use_kio || c->o.nops) {
		struct tok *t = tok_get(K_CLOSE, &c->o, cc_on_close);
		int64_t id = tok_arm(t, kio_close(g_ctx, c->fd, on_op, tok_ud(t)));
		if (id >= 0) {
			c->fd = -1;
			return;
		}
		violation("client kio_close: %s", kio_strerror((int)id));
	}
	if (close(c->fd) < 0)
		violation("client close(2): %s", strerror(errno));
	g_sync_closes++;
	c->fd = -1;
	cc_maybe_end(c);
}

/* Something went wrong (already reported): end this connection with RST. */
static void cc_abort(struct cconn *c)
{
	if (c->phase == CP_CLOSING)
		return;
	c->aborted = true;
	if (c->fd >= 0) {
		struct linger lg = {1, 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	cc_close(c, true); /* cancels what is pending */
}

static void cviol(struct cconn *c, const char *what, int32_t res)
{
	violation("client #%u (%s): %s: %s", c->seq, cscen_name[c->scen], what,
		  res > 0 ? "unexpected bytes" : kio_strerror(res));
}

static void set_linger0(int fd)
{
	struct linger lg = {1, 0};
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		violation("SO_LINGER: %s", strerror(errno));
}

static void cc_on_recv(struct owner *o, int32_t res, uint32_t flags, int64_t id);
static void cc_on_send(struct owner *o, int32_t res, uint32_t flags, int64_t id);

/* A recv into in[off..off+len), with a timeout (0: none). */
static void cc_recv(struct cconn *c, size_t off, size_t len, uint64_t tmo)
{
	struct tok *t = tok_get(K_RECV, &c->o, cc_on_recv);
	int64_t id = tok_arm(t, kio_recv(g_ctx, c->fd, c->in + off, len, 0, on_op, tok_ud(t)));
	if (id < 0) {
		cviol(c, "kio_recv", (int32_t)id);
		cc_abort(c);
		return;
	}
	c->recv_busy = true;
	c->recv_id = id;
	c->t0 = now_ns();
	c->tmo = tmo;
	if (tmo) {
		int rc = kio_op_timeout(g_ctx, id, tmo);
		if (rc != 0)
			violation("kio_op_timeout on a pending recv: %s", kio_strerror(rc));
	}
}

static void cc_send(struct cconn *c, size_t off, size_t len)
{
	struct tok *t = tok_get(K_SEND, &c->o, cc_on_send);
	int64_t id = tok_arm(t, kio_send(g_ctx, c->fd, c->out + off, len, 0, on_op, tok_ud(t)));
	if (id < 0) {
		cviol(c, "kio_send", (int32_t)id);
		cc_abort(c);
		return;
	}
	c->send_busy = true;
}

static void cc_on_shutdown(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct cconn *c = (struct cconn *)o;
	(void)flags;
	(void)id;
	if (c->phase == CP_CLOSING) {
		cc_maybe_end(c);
		return;
	}
	if (res != 0) {
		cviol(c, "shutdown(SHUT_WR)", res);
		cc_abort(c);
		return;
	}
	c->phase = CP_EOF;
	cc_recv(c, 0, MSG_MAX, GUARD_NS);
}

static void cc_shutdown(struct cconn *c)
{
	c->phase = CP_SHUT;
	struct tok *t = tok_get(K_SHUTDOWN, &c->o, cc_on_shutdown);
	int64_t id = tok_arm(t, kio_shutdown(g_ctx, c->fd, SHUT_WR, on_op, tok_ud(t)));
	if (id < 0) {
		cviol(c, "kio_shutdown", (int32_t)id);
		cc_abort(c);
	}
}

static void cc_echo_step(struct cconn *c)
{
	if (c->sent < c->len || c->got < c->len || c->send_busy || c->recv_busy)
		return;
	g_echoes++;
	c->msgno++;
	if (--c->msgs > 0)
		cc_echo_begin(c);
	else
		cc_after_echo(c);
}

static void cc_echo_begin(struct cconn *c)
{
	c->phase = CP_ECHO;
	/* Mostly small messages, some up to 16 KiB (many ring buffers). */
	c->len = (rnd() & 1) ? 1 + rnd() % 512 : 1 + rnd() % MSG_MAX;
	c->sent = c->got = 0;
	for (size_t i = 0; i < c->len; i++)
		c->out[i] = pattern(c->seq, c->msgno, i);
	cc_recv(c, 0, c->len, GUARD_NS);
	if (c->phase == CP_ECHO)
		cc_send(c, 0, c->len);
}

static void cc_after_echo(struct cconn *c)
{
	switch (c->scen) {
	case CS_ECHO:
	case CS_CANCEL:
		cc_shutdown(c);
		return;
	case CS_RESET:
		set_linger0(c->fd);
		cc_close(c, c->seq & 2);
		return;
	case CS_PEER_RESET:
	case CS_PEER_CLOSE:
		c->phase = CP_CMD;
		c->cmd_sent = c->cmd_recvd = false;
		c->out[0] = c->scen == CS_PEER_RESET ? 'R' : 'X';
		cc_recv(c, 0, MSG_MAX, GUARD_NS);
		if (c->phase == CP_CMD)
			cc_send(c, 0, 1);
		return;
	case CS_TIMEOUT:
		/* A receive nobody will answer, then kio_close(): it must cancel it. */
		cc_recv(c, 0, MSG_MAX, 0);
		if (c->phase != CP_CLOSING)
			cc_close(c, true);
		return;
	default:
		violation("client #%u: no echo in scenario %s", c->seq, cscen_name[c->scen]);
		cc_abort(c);
	}
}

static void cc_on_recv(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct cconn *c = (struct cconn *)o;
	uint64_t waited = now_ns() - c->t0;
	(void)flags;
	(void)id;
	c->recv_busy = false;

	switch (c->phase) {
	case CP_ECHO:
		if (res <= 0) {
			cviol(c, res == -ETIMEDOUT ? "echo stalled for 10 s" : "echo recv", res);
			cc_abort(c);
			return;
		}
		for (size_t i = c->got; i < c->got + (size_t)res; i++) {
			if (c->in[i] != pattern(c->seq, c->msgno, i)) {
				violation("client #%u: echo differs at byte %zu of message %u", c->seq,
					  i, c->msgno);
				cc_abort(c);
				return;
			}
		}
		c->got += (size_t)res;
		if (c->got < c->len)
			cc_recv(c, c->got, c->len - c->got, GUARD_NS);
		else
			cc_echo_step(c);
		return;
	case CP_EOF:
		if (res != 0)
			cviol(c, "end of stream expected after shutdown", res);
		cc_close(c, c->seq & 2);
		return;
	case CP_CMD:
		if (res > 0 || (res < 0 && res != -ECONNRESET))
			cviol(c, c->scen == CS_PEER_RESET ? "waiting for the peer's reset" :
							     "waiting for the peer's close",
			      res);
		c->cmd_recvd = true;
		if (c->cmd_sent)
			cc_close(c, c->seq & 2);
		return;
	case CP_TIMEOUT_RECV:
		if (res != -ETIMEDOUT) {
			cviol(c, "recv with a short timeout", res);
			cc_abort(c);
			return;
		}
		if (waited < c->tmo)
			violation("client #%u: a %llu ns recv timeout fired after %llu ns", c->seq,
				  (unsigned long long)c->tmo, (unsigned long long)waited);
		c->msgs = 1;
		cc_echo_begin(c);
		return;
	case CP_CANCEL_RECV:
		if (res != -ECANCELED) {
			cviol(c, "cancelled recv", res);
			cc_abort(c);
			return;
		}
		c->msgs = 1;
		cc_echo_begin(c);
		return;
	case CP_CLOSING:
		/* The receive kio_close() had to cancel (timeout scenario). */
		if (!c->aborted && res != -ECANCELED)
			cviol(c, "recv pending at kio_close", res);
		cc_maybe_end(c);
		return;
	default:
		violation("client #%u: recv callback in phase %d", c->seq, c->phase);
	}
}

static void cc_on_send(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct cconn *c = (struct cconn *)o;
	(void)flags;
	(void)id;
	c->send_busy = false;

	switch (c->phase) {
	case CP_ECHO:
		if (res <= 0) {
			cviol(c, "echo send", res);
			cc_abort(c);
			return;
		}
		c->sent += (size_t)res;
		if (c->sent < c->len)
			cc_send(c, c->sent, c->len - c->sent); /* a short send: the rest */
		else
			cc_echo_step(c);
		return;
	case CP_CMD:
		if (res != 1 && res != -EPIPE && res != -ECONNRESET)
			cviol(c, "sending the command", res);
		c->cmd_sent = true;
		if (c->cmd_recvd)
			cc_close(c, c->seq & 2);
		return;
	case CP_ABANDON:
		if (res <= 0) {
			cviol(c, "send", res);
			cc_abort(c);
			return;
		}
		c->sent += (size_t)res;
		if (c->sent < c->len) {
			cc_send(c, c->sent, c->len - c->sent);
			return;
		}
		/* Gone before the echo: the server's sends meet a reset. */
		set_linger0(c->fd);
		cc_close(c, c->seq & 2);
		return;
	case CP_CLOSING:
		cc_maybe_end(c);
		return;
	default:
		violation("client #%u: send callback in phase %d", c->seq, c->phase);
	}
}

static void cc_on_connect(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct cconn *c = (struct cconn *)o;
	(void)flags;
	(void)id;
	if (c->phase == CP_CLOSING) {
		cc_maybe_end(c);
		return;
	}
	if (c->scen == CS_REFUSED) {
		if (res != -ECONNREFUSED)
			cviol(c, "connect to a port nobody listens on", res);
		cc_close(c, c->seq & 2);
		return;
	}
	if (res != 0) {
		cviol(c, res == -ETIMEDOUT ? "connect stalled for 10 s" : "connect", res);
		cc_abort(c);
		return;
	}
	switch (c->scen) {
	case CS_ECHO:
		c->msgs = 1 + rnd() % 4;
		cc_echo_begin(c);
		return;
	case CS_RESET:
		c->msgs = 1;
		cc_echo_begin(c);
		return;
	case CS_PEER_RESET:
	case CS_PEER_CLOSE:
		c->msgs = rnd() % 2;
		if (c->msgs)
			cc_echo_begin(c);
		else
			cc_after_echo(c);
		return;
	case CS_TIMEOUT:
		c->phase = CP_TIMEOUT_RECV;
		cc_recv(c, 0, MSG_MAX, (1 + rnd() % 20) * MS);
		return;
	case CS_CANCEL: {
		c->phase = CP_CANCEL_RECV;
		cc_recv(c, 0, MSG_MAX, 0);
		if (c->phase != CP_CANCEL_RECV)
			return;
		int rc = kio_op_cancel(g_ctx, c->recv_id);
		if (rc != 0)
			violation("kio_op_cancel of a pending recv: %s", kio_strerror(rc));
		return;
	}
	case CS_ABANDON:
		c->phase = CP_ABANDON;
		c->len = MSG_MAX;
		c->sent = 0;
		for (size_t i = 0; i < c->len; i++)
			c->out[i] = pattern(c->seq, 0, i);
		cc_send(c, 0, c->len);
		return;
	default:
		break;
	}
}

static void cc_on_socket(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct cconn *c = (struct cconn *)o;
	(void)flags;
	(void)id;
	if (res < 0) {
		cviol(c, "kio_socket", res);
		c->phase = CP_CLOSING;
		cc_maybe_end(c);
		return;
	}
	c->fd = res;
	c->phase = CP_CONNECT;
	const struct sockaddr_in *to = c->scen == CS_REFUSED ? &g_raddr : &g_laddr;
	struct tok *t = tok_get(K_CONNECT, &c->o, cc_on_connect);
	int64_t cid = tok_arm(t, kio_connect(g_ctx, c->fd, (const struct sockaddr *)to, sizeof(*to),
					     on_op, tok_ud(t)));
	if (cid < 0) {
		cviol(c, "kio_connect", (int32_t)cid);
		cc_abort(c);
		return;
	}
	int rc = kio_op_timeout(g_ctx, cid, GUARD_NS);
	if (rc != 0)
		violation("kio_op_timeout on a pending connect: %s", kio_strerror(rc));
}

static void cc_start(struct cconn *c)
{
	unsigned total = 0, pick;
	for (int i = 0; i < CS_N; i++)
		total += cscen_weight[i];
	pick = rnd() % total;
	c->scen = 0;
	while (pick >= cscen_weight[c->scen])
		pick -= cscen_weight[c->scen++];
	c->seq = ++g_seq;
	c->fd = -1;
	c->msgs = c->msgno = 0;
	c->send_busy = c->recv_busy = c->aborted = false;
	c->phase = CP_SOCKET;
	g_clients_active++;
	struct tok *t = tok_get(K_SOCKET, &c->o, cc_on_socket);
	int64_t id = tok_arm(t, kio_socket(g_ctx, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, on_op,
					   tok_ud(t)));
	if (id < 0) {
		cviol(c, "kio_socket", (int32_t)id);
		c->phase = CP_CLOSING;
		cc_maybe_end(c);
	}
}

/* ---- files ---------------------------------------------------------------- */

enum fstep { FS_IDLE, FS_OPEN, FS_WRITE, FS_FSYNC, FS_READ, FS_STATX, FS_RENAME, FS_CLOSE,
	     FS_UNLINK, FS_MKDIR, FS_RMDIR, FS_MISSING };

struct fslot {
	struct owner o;
	int idx;
	enum fstep step;
	int fd;
	uint32_t seq;
	size_t len, done;
	char name[64], name2[64];
	struct statx stx;
	unsigned char wbuf[FILE_MAX], rbuf[FILE_MAX];
};

static struct fslot g_files[NFILE];
static int g_files_active;

static void fs_next(struct fslot *f, int32_t res);

static void fs_on_op(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	(void)flags;
	(void)id;
	fs_next((struct fslot *)o, res);
}

static void fs_fail(struct fslot *f, const char *what, int32_t res)
{
	violation("file chain #%u: %s: %s", f->seq, what,
		  res >= 0 ? "unexpected result" : kio_strerror(res));
}

static void fs_end(struct fslot *f)
{
	f->step = FS_IDLE;
	g_files_active--;
	g_files_done++;
}

/* Starts the op for f->step. */
static void fs_issue(struct fslot *f)
{
	struct tok *t;
	int64_t id;
	switch (f->step) {
	case FS_OPEN:
		t = tok_get(K_OPENAT, &f->o, fs_on_op);
		id = kio_openat(g_ctx, g_dirfd, f->name, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600,
				on_op, tok_ud(t));
		break;
	case FS_MISSING:
		t = tok_get(K_OPENAT, &f->o, fs_on_op);
		id = kio_openat(g_ctx, g_dirfd, "no-such-file", O_RDONLY | O_CLOEXEC, 0, on_op,
				tok_ud(t));
		break;
	case FS_WRITE:
		t = tok_get(K_WRITE, &f->o, fs_on_op);
		id = kio_write(g_ctx, f->fd, f->wbuf + f->done, f->len - f->done, f->done, on_op,
			       tok_ud(t));
		break;
	case FS_FSYNC:
		t = tok_get(K_FSYNC, &f->o, fs_on_op);
		id = kio_fsync(g_ctx, f->fd, (f->seq & 1) ? KIO_FSYNC_DATASYNC : 0, on_op, tok_ud(t));
		break;
	case FS_READ:
		t = tok_get(K_READ, &f->o, fs_on_op);
		id = kio_read(g_ctx, f->fd, f->rbuf + f->done, f->len - f->done, f->done, on_op,
			      tok_ud(t));
		break;
	case FS_STATX:
		t = tok_get(K_STATX, &f->o, fs_on_op);
		id = kio_statx(g_ctx, g_dirfd, f->name, 0, STATX_SIZE, &f->stx, on_op, tok_ud(t));
		break;
	case FS_RENAME:
		t = tok_get(K_RENAMEAT, &f->o, fs_on_op);
		id = kio_renameat(g_ctx, g_dirfd, f->name, g_dirfd, f->name2, 0, on_op, tok_ud(t));
		break;
	case FS_CLOSE:
		if (f->seq & 2) {
			if (close(f->fd) < 0)
				fs_fail(f, "close(2)", -errno);
			g_sync_closes++;
			f->fd = -1;
			f->step = FS_UNLINK;
			fs_issue(f);
			return;
		}
		t = tok_get(K_CLOSE, &f->o, fs_on_op);
		id = kio_close(g_ctx, f->fd, on_op, tok_ud(t));
		break;
	case FS_UNLINK:
		t = tok_get(K_UNLINKAT, &f->o, fs_on_op);
		id = kio_unlinkat(g_ctx, g_dirfd, f->name2, 0, on_op, tok_ud(t));
		break;
	case FS_MKDIR:
		t = tok_get(K_MKDIRAT, &f->o, fs_on_op);
		id = kio_mkdirat(g_ctx, g_dirfd, f->name, 0700, on_op, tok_ud(t));
		break;
	case FS_RMDIR:
		t = tok_get(K_UNLINKAT, &f->o, fs_on_op);
		id = kio_unlinkat(g_ctx, g_dirfd, f->name, AT_REMOVEDIR, on_op, tok_ud(t));
		break;
	default:
		return;
	}
	if (tok_arm(t, id) < 0) {
		fs_fail(f, "starting an op", (int32_t)id);
		if (f->fd >= 0)
			close(f->fd);
		f->fd = -1;
		fs_end(f);
	}
}

static void fs_next(struct fslot *f, int32_t res)
{
	switch (f->step) {
	case FS_OPEN:
		if (res < 0) {
			fs_fail(f, "openat", res);
			fs_end(f);
			return;
		}
		f->fd = res;
		f->done = 0;
		f->step = FS_WRITE;
		break;
	case FS_MISSING:
		if (res != -ENOENT) {
			fs_fail(f, "openat of a missing file", res);
			if (res >= 0)
				close(res);
		}
		fs_end(f);
		return;
	case FS_WRITE:
		if (res <= 0) {
			fs_fail(f, "write", res);
			f->step = FS_CLOSE;
			break;
		}
		f->done += (size_t)res;
		if (f->done < f->len)
			break; /* short write: the rest */
		f->step = FS_FSYNC;
		break;
	case FS_FSYNC:
		if (res != 0)
			fs_fail(f, "fsync", res);
		f->done = 0;
		f->step = FS_READ;
		break;
	case FS_READ:
		if (res <= 0) {
			fs_fail(f, "read", res);
			f->step = FS_CLOSE;
			break;
		}
		f->done += (size_t)res;
		if (f->done < f->len)
			break;
		if (memcmp(f->wbuf, f->rbuf, f->len) != 0)
			fs_fail(f, "read back differs from what was written", 0);
		f->step = FS_STATX;
		break;
	case FS_STATX:
		if (res != 0)
			fs_fail(f, "statx", res);
		else if (f->stx.stx_size != f->len)
			violation("file chain #%u: statx size %llu, wrote %zu", f->seq,
				  (unsigned long long)f->stx.stx_size, f->len);
		f->step = FS_RENAME;
		break;
	case FS_RENAME:
		if (res != 0) {
			fs_fail(f, "renameat", res);
			memcpy(f->name2, f->name, sizeof(f->name2));
		}
		f->step = FS_CLOSE;
		break;
	case FS_CLOSE:
		if (res != 0)
			fs_fail(f, "kio_close", res);
		f->fd = -1;
		f->step = FS_UNLINK;
		break;
	case FS_UNLINK:
		if (res != 0)
			fs_fail(f, "unlinkat", res);
		fs_end(f);
		return;
	case FS_MKDIR:
		if (res != 0) {
			fs_fail(f, "mkdirat", res);
			fs_end(f);
			return;
		}
		f->step = FS_RMDIR;
		break;
	case FS_RMDIR:
		if (res != 0)
			fs_fail(f, "unlinkat(AT_REMOVEDIR)", res);
		fs_end(f);
		return;
	default:
		violation("file chain callback in step %d", f->step);
		return;
	}
	fs_issue(f);
}

static void fs_start(struct fslot *f)
{
	uint32_t r = rnd() % 100;
	f->seq = ++g_seq;
	f->fd = -1;
	snprintf(f->name, sizeof(f->name), "f-%d-%u", f->idx, f->seq);
	snprintf(f->name2, sizeof(f->name2), "g-%d-%u", f->idx, f->seq);
	g_files_active++;
	if (r < 12) {
		f->step = FS_MISSING;
	} else if (r < 25) {
		f->step = FS_MKDIR;
	} else {
		f->len = 1 + rnd() % FILE_MAX;
		for (size_t i = 0; i < f->len; i += 4) {
			uint32_t v = rnd();
			memcpy(f->wbuf + i, &v, f->len - i < 4 ? f->len - i : 4);
		}
		memset(f->rbuf, 0, f->len);
		f->step = FS_OPEN;
	}
	fs_issue(f);
}

/* ---- timers --------------------------------------------------------------- */

enum tscen { TS_SLEEP, TS_SLEEP_CANCEL, TS_SLEEP_UNTIL, TS_PERIODIC, TS_PERIODIC_TIMEOUT,
	     TS_TIMEOUT_UNUSED, TS_NOP, TS_N };

struct tslot {
	struct owner o;
	bool busy;
	enum tscen scen;
	uint64_t t0, ns;
	int ticks, want;
	bool cancelled;
	int64_t id;
};

static struct tslot g_timers[NTIMER];
static int g_timers_active;

static void ts_end(struct tslot *s)
{
	s->busy = false;
	g_timers_active--;
	g_timers_done++;
}

static void ts_on(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct tslot *s = (struct tslot *)o;
	uint64_t now = now_ns();
	(void)id;

	if (flags & KIO_F_MORE) {
		if (res != 0)
			violation("periodic tick with res %d", res);
		s->ticks++;
		if (now - s->t0 < (uint64_t)s->ticks * s->ns)
			violation("periodic tick %d of %llu ns came after %llu ns", s->ticks,
				  (unsigned long long)s->ns, (unsigned long long)(now - s->t0));
		if (s->scen == TS_PERIODIC && s->ticks == s->want && !s->cancelled) {
			s->cancelled = true;
			int rc = kio_op_cancel(g_ctx, s->id);
			if (rc != 0)
				violation("cancelling a periodic timer from its tick: %s",
					  kio_strerror(rc));
		}
		return;
	}
	switch (s->scen) {
	case TS_SLEEP:
	case TS_TIMEOUT_UNUSED:
		if (res != 0)
			violation("kio_sleep: %s", kio_strerror(res));
		else if (now - s->t0 < s->ns)
			violation("a %llu ns sleep fired after %llu ns", (unsigned long long)s->ns,
				  (unsigned long long)(now - s->t0));
		break;
	case TS_SLEEP_CANCEL:
		if (res != -ECANCELED)
			violation("a cancelled 1 s sleep ended with %s", kio_strerror(res));
		break;
	case TS_SLEEP_UNTIL:
		/* Converted to a monotonic deadline at the call: a few µs of slack. */
		if (res != 0)
			violation("kio_sleep_until: %s", kio_strerror(res));
		else if (wall_ns() + 2 * MS < s->t0)
			violation("kio_sleep_until fired %lld ns early",
				  (long long)(s->t0 - wall_ns()));
		break;
	case TS_PERIODIC:
		if (res != -ECANCELED || s->ticks < s->want)
			violation("periodic timer cancelled after %d ticks: %d ticks, final %s",
				  s->want, s->ticks, kio_strerror(res));
		break;
	case TS_PERIODIC_TIMEOUT:
		if (res != -ETIMEDOUT)
			violation("periodic timer with a 10 ms timeout ended with %s",
				  kio_strerror(res));
		break;
	case TS_NOP:
		if (res != 0)
			violation("kio_nop: %s", kio_strerror(res));
		break;
	default:
		break;
	}
	ts_end(s);
}

static void ts_start(struct tslot *s)
{
	struct tok *t;
	int64_t id;
	s->busy = true;
	s->scen = (enum tscen)(rnd() % TS_N);
	s->ticks = 0;
	s->cancelled = false;
	s->t0 = now_ns();
	g_timers_active++;
	switch (s->scen) {
	case TS_SLEEP:
		s->ns = (rnd() % 20000) * 1000ull;
		t = tok_get(K_SLEEP, &s->o, ts_on);
		id = tok_arm(t, kio_sleep(g_ctx, s->ns, on_op, tok_ud(t)));
		break;
	case TS_TIMEOUT_UNUSED:
		s->ns = 3 * MS;
		t = tok_get(K_SLEEP, &s->o, ts_on);
		id = tok_arm(t, kio_sleep(g_ctx, s->ns, on_op, tok_ud(t)));
		if (id >= 0 && kio_op_timeout(g_ctx, id, 500 * MS) != 0)
			violation("kio_op_timeout on a pending sleep failed");
		break;
	case TS_SLEEP_CANCEL:
		t = tok_get(K_SLEEP, &s->o, ts_on);
		id = tok_arm(t, kio_sleep(g_ctx, SEC, on_op, tok_ud(t)));
		if (id >= 0 && kio_op_cancel(g_ctx, id) != 0)
			violation("kio_op_cancel on a pending sleep failed");
		break;
	case TS_SLEEP_UNTIL:
		s->t0 = wall_ns() + (rnd() % 10000) * 1000ull; /* the deadline */
		t = tok_get(K_SLEEP_UNTIL, &s->o, ts_on);
		id = tok_arm(t, kio_sleep_until(g_ctx, CLOCK_REALTIME, s->t0, on_op, tok_ud(t)));
		break;
	case TS_PERIODIC:
		s->ns = (1 + rnd() % 5) * MS;
		s->want = 1 + (int)(rnd() % 5);
		t = tok_get(K_PERIODIC, &s->o, ts_on);
		id = tok_arm(t, kio_timer_periodic(g_ctx, s->ns, on_op, tok_ud(t)));
		break;
	case TS_PERIODIC_TIMEOUT:
		s->ns = 2 * MS;
		t = tok_get(K_PERIODIC, &s->o, ts_on);
		id = tok_arm(t, kio_timer_periodic(g_ctx, s->ns, on_op, tok_ud(t)));
		if (id >= 0 && kio_op_timeout(g_ctx, id, 10 * MS) != 0)
			violation("kio_op_timeout on a periodic timer failed");
		break;
	case TS_NOP:
	default:
		t = tok_get(K_NOP, &s->o, ts_on);
		id = tok_arm(t, kio_nop(g_ctx, on_op, tok_ud(t)));
		break;
	}
	s->id = id;
	if (id < 0) {
		violation("starting a timer: %s", kio_strerror((int)id));
		ts_end(s);
	}
}

/* ---- the blocking pool ---------------------------------------------------- */

enum pscen { PS_JOB, PS_CANCEL, PS_TIMEOUT, PS_POST, PS_TRANSIENT, PS_N };

struct pslot {
	struct owner o;
	bool busy;
	enum pscen scen;
	int expect;
	unsigned us;
};

static struct pslot g_pools[NPOOL];
static int g_pools_active;

static void on_post(void *user_data, int32_t res, uint32_t flags)
{
	(void)user_data;
	(void)flags;
	if (!pthread_equal(pthread_self(), g_main))
		violation("a kio_ctx_post callback ran on another thread");
	if (res != 0)
		violation("a kio_ctx_post callback with res %d", res);
	g_posts_run++;
}

/* On a pool thread. user_data is the op's token (the callback's too); the
 * token and its slot stay untouched by the loop thread until the job's
 * callback. */
static int job_fn(void *user_data)
{
	uint32_t idx = (uint32_t)((uintptr_t)user_data & ((1u << TOK_IDX_BITS) - 1));
	struct pslot *p = (struct pslot *)g_toks[idx].owner;
	if (p->us) {
		struct timespec ts = {0, (long)p->us * 1000};
		nanosleep(&ts, NULL);
	}
	if (p->scen == PS_POST) {
		atomic_fetch_add(&g_posts_sent, 1);
		if (kio_ctx_post(g_ctx, on_post, NULL) != 0) {
			atomic_fetch_sub(&g_posts_sent, 1);
			return -1;
		}
	}
	return p->expect;
}

static void ps_on(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	struct pslot *p = (struct pslot *)o;
	(void)flags;
	(void)id;
	switch (p->scen) {
	case PS_CANCEL:
		if (res != -ECANCELED && res != p->expect)
			violation("a cancelled pool job gave %d", res);
		break;
	case PS_TIMEOUT:
		if (res != -ETIMEDOUT && res != p->expect)
			violation("a pool job with a 1 ms timeout gave %d", res);
		break;
	default:
		if (res != p->expect)
			violation("a pool job gave %d, expected %d", res, p->expect);
		break;
	}
	p->busy = false;
	g_pools_active--;
	g_jobs_done++;
}

static void ps_start(struct pslot *p)
{
	p->busy = true;
	p->scen = (enum pscen)(rnd() % PS_N);
	p->expect = (int)(rnd() % 100000);
	p->us = rnd() % 4 ? rnd() % 300 : 0;
	if (p->scen == PS_TIMEOUT)
		p->us = 3000;
	kio_pool *pool = p->scen == PS_TRANSIENT && g_tpool ? g_tpool : g_pool;
	g_pools_active++;
	struct tok *t = tok_get(K_POOL, &p->o, ps_on);
	int64_t id = tok_arm(t, kio_pool_submit(g_ctx, pool, job_fn, on_op, tok_ud(t)));
	if (id < 0) {
		violation("kio_pool_submit: %s", kio_strerror((int)id));
		p->busy = false;
		g_pools_active--;
		return;
	}
	if (p->scen == PS_CANCEL) {
		int rc = kio_op_cancel(g_ctx, id);
		if (rc != 0)
			violation("kio_op_cancel of a queued pool job: %s", kio_strerror(rc));
	} else if (p->scen == PS_TIMEOUT) {
		int rc = kio_op_timeout(g_ctx, id, MS);
		if (rc != 0)
			violation("kio_op_timeout on a pool job: %s", kio_strerror(rc));
	}
}

/* ---- the sampler ----------------------------------------------------------- */

static struct owner g_sampler_owner;
static int64_t g_sampler_id = -1;

static void on_sample(struct owner *o, int32_t res, uint32_t flags, int64_t id)
{
	(void)o;
	(void)id;
	if (flags & KIO_F_MORE) {
		struct sample s;
		measure(&s);
		note_peak(&s);
		return;
	}
	if (res != -ECANCELED)
		violation("the sampler ended with %s", kio_strerror(res));
	g_sampler_id = -1;
}

/* ---- the run ---------------------------------------------------------------- */

static void refill(void)
{
	if (!g_launching)
		return;
	for (int i = 0; i < NCLIENT; i++)
		if (g_cli[i].phase == CP_IDLE)
			cc_start(&g_cli[i]);
	for (int i = 0; i < NFILE; i++)
		if (g_files[i].step == FS_IDLE)
			fs_start(&g_files[i]);
	for (int i = 0; i < NTIMER; i++)
		if (!g_timers[i].busy)
			ts_start(&g_timers[i]);
	for (int i = 0; i < NPOOL; i++)
		if (!g_pools[i].busy)
			ps_start(&g_pools[i]);
}

static bool g_fatal;
static bool g_print_all; /* a line per checkpoint (short runs) */

/* One loop round, then the checks that hold between rounds. */
static void turn(uint64_t timeout_ns)
{
	int rc = kio_ctx_run_once(g_ctx, (int64_t)timeout_ns);
	if (rc < 0) {
		violation("kio_ctx_run_once: %s", kio_strerror(rc));
		g_fatal = true;
		return;
	}
	uint32_t pending = kio_ctx_pending(g_ctx);
	if (pending != g_armed) {
		static unsigned long reported;
		if (reported++ < 5)
			violation("kio_ctx_pending() is %u, but %u ops are in flight", pending,
				  g_armed);
	}
	check_done_ids();
}

static int dir_entries(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Ends the round: nothing new starts, everything in flight ends. */
static bool drain(void)
{
	uint64_t deadline = now_ns() + DRAIN_NS;
	g_launching = false;
	/* Clients first, with the accept still running (a connection still in
	 * the backlog needs it), then the server side and the rest. */
	while ((g_clients_active || g_files_active || g_timers_active || g_pools_active) &&
	       now_ns() < deadline && !g_fatal)
		turn(100 * MS);
	g_acc.wanted = false;
	if (g_acc.active) {
		int rc = kio_op_cancel(g_ctx, g_acc.id);
		if (rc != 0)
			violation("cancelling the accept: %s", kio_strerror(rc));
	}
	if (g_sampler_id >= 0) {
		int rc = kio_op_cancel(g_ctx, g_sampler_id);
		if (rc != 0)
			violation("cancelling the sampler: %s", kio_strerror(rc));
	}
	while ((g_servers_active || g_armed ||
		g_posts_run != atomic_load(&g_posts_sent)) &&
	       now_ns() < deadline && !g_fatal)
		turn(20 * MS);
	if (g_armed || g_clients_active || g_servers_active || g_files_active || g_timers_active ||
	    g_pools_active || g_posts_run != atomic_load(&g_posts_sent)) {
		violation("the round did not drain in %llu s: %u ops in flight (kio_ctx_pending %u); "
			  "connections %d client, %d server; files %d, timers %d, jobs %d; "
			  "posts %lu of %lu ran",
			  DRAIN_NS / SEC, g_armed, kio_ctx_pending(g_ctx), g_clients_active,
			  g_servers_active, g_files_active, g_timers_active, g_pools_active,
			  g_posts_run, atomic_load(&g_posts_sent));
		dump_tokens();
		return false;
	}
	if (g_tpool) {
		kio_pool_destroy(g_tpool);
		g_tpool = NULL;
	}
	return true;
}

struct limits {
	long rss_tol_kib;
	long heap_tol_kib;
};

static unsigned long long total_ops(void)
{
	unsigned long long n = 0;
	for (int k = 0; k < K_N; k++)
		n += g_ks[k].finals;
	return n;
}

/* Between rounds, everything drained. Returns the measurement. */
static void checkpoint(int round, const struct sample *base, const struct limits *lim,
		       struct sample *out)
{
	struct sample s;
	measure(&s);
	note_peak(&s);
	uint32_t pending = kio_ctx_pending(g_ctx);
	if (pending != 0)
		violation("checkpoint %d: kio_ctx_pending() is %u with nothing in flight", round,
			  pending);
	if (g_bufs_held != 0)
		violation("checkpoint %d: %d ring buffers still held", round, g_bufs_held);
	for (uint16_t id = 0; id < RING_BUFS; id++) {
		int rc = kio_buf_ring_release(g_ring, id);
		if (rc != -EALREADY)
			violation("checkpoint %d: ring buffer %u is not home (release gives %s)",
				  round, id, kio_strerror(rc));
	}
	/* The library's own count of ops started and final callbacks run. */
	kio_stats st;
	unsigned long long started = 0;
	for (int k = 0; k < K_N; k++)
		started += g_ks[k].started;
	if (kio_ctx_stats(g_ctx, &st, sizeof(st)) != 0)
		violation("kio_ctx_stats failed");
	else if (st.ops_submitted != started || st.ops_completed != total_ops())
		violation("checkpoint %d: kio_ctx_stats counts %llu ops started, %llu completed; "
			  "this program %llu and %llu",
			  round, (unsigned long long)st.ops_submitted,
			  (unsigned long long)st.ops_completed, started, total_ops());
	int left = dir_entries();
	if (left != 0)
		violation("checkpoint %d: %d entries left in %s", round, left, g_dir);
	if (base) {
		if (s.fds != base->fds)
			violation("checkpoint %d: %d fds open, baseline %d", round, s.fds, base->fds);
		/* pthread_join() returns once the kernel cleared the thread's
		 * tid, a moment before the thread leaves /proc/self/task: the
		 * round's pool thread, just joined, may still be listed. Count
		 * again until it is gone (a thread that stays is a leak). */
		for (int i = 0; i < 1000 && s.threads > base->threads; i++) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
			count_threads(&s);
		}
		if (s.threads != base->threads)
			violation("checkpoint %d: %d threads (besides kio-log, kio-io, iou-*), "
				  "baseline %d",
				  round, s.threads, base->threads);
		if (s.kio_io > KIO_IO_MAX)
			violation("checkpoint %d: %d kio-io threads, at most %d", round, s.kio_io,
				  KIO_IO_MAX);
		if (lim->rss_tol_kib >= 0 && s.rss_kib > base->rss_kib + lim->rss_tol_kib)
			violation("checkpoint %d: RSS %ld KiB, baseline %ld KiB + %ld KiB tolerance",
				  round, s.rss_kib, base->rss_kib, lim->rss_tol_kib);
		if (lim->heap_tol_kib >= 0 && s.heap_kib >= 0 &&
		    s.heap_kib > base->heap_kib + lim->heap_tol_kib)
			violation("checkpoint %d: malloc in use %ld KiB, baseline %ld KiB + %ld KiB "
				  "tolerance",
				  round, s.heap_kib, base->heap_kib, lim->heap_tol_kib);
	}
	if (g_verbose || !base || g_print_all || round % 30 == 0)
		printf("soak: %s %d at %6.1f s: fds %d, threads %d (+%d kio-io, +%d iou-*), "
		       "RSS %ld KiB, malloc %ld KiB, pending %u, %llu ops so far\n",
		       base ? "check" : "baseline", round, (double)(now_ns() - g_start_ns) / 1e9,
		       s.fds, s.threads, s.kio_io, s.iou, s.rss_kib, s.heap_kib, pending,
		       total_ops());
	fflush(stdout);
	*out = s;
}

static atomic_ulong g_log_warn, g_log_error;

/* On kio's log thread: shown, and counted (an error is a violation). */
static void log_handler(void *user_data, int level, const char *msg, size_t len)
{
	(void)user_data;
	if (level >= KIO_LOG_ERROR)
		atomic_fetch_add(&g_log_error, 1);
	else if (level == KIO_LOG_WARN)
		atomic_fetch_add(&g_log_warn, 1);
	fprintf(stderr, "soak: kio log (level %d): %.*s\n", level, (int)len, msg);
}

static int usage(FILE *to, int status)
{
	fprintf(to,
		"usage: soak [--interval S] [--warmup S] [--rss-tolerance KIB]\n"
		"            [--heap-tolerance KIB] [--seed N] [--verbose] [SECONDS]\n"
		"  SECONDS              how long to churn (KIO_SOAK_SECONDS; 20)\n"
		"  --interval S         seconds between checkpoints (KIO_SOAK_INTERVAL; 2)\n"
		"  --warmup S           churn before the baseline (10%% of the run, 1 round..60 s)\n"
		"  --rss-tolerance KIB  RSS growth allowed over the baseline (2048; -1: off)\n"
		"  --heap-tolerance KIB malloc growth allowed over the baseline (256; -1: off)\n"
		"  --seed N             random seed (KIO_SOAK_SEED; from the clock)\n"
		"  --verbose            a line per checkpoint\n"
		"The backend is kio's choice (KIO_BACKEND=io_uring|epoll picks one).\n"
		"Exit status: 0 no violation, 1 a violation, 2 usage, 77 no usable backend.\n");
	return status;
}

static bool parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"warmup", required_argument, NULL, 'w'},
		{"rss-tolerance", required_argument, NULL, 'r'},
		{"heap-tolerance", required_argument, NULL, 'm'},
		{"seed", required_argument, NULL, 's'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double seconds = 20, interval = 2, warmup = -1, v;
	struct limits lim = {2048, 256};
	uint64_t seed = 0;
	const char *env;
	int opt, rc;

	if ((env = getenv("KIO_SOAK_SECONDS")) && *env && !parse_num(env, 1, 1e7, &seconds)) {
		fprintf(stderr, "soak: bad KIO_SOAK_SECONDS=%s\n", env);
		return 2;
	}
	if ((env = getenv("KIO_SOAK_INTERVAL")) && *env && !parse_num(env, 0.2, 3600, &interval)) {
		fprintf(stderr, "soak: bad KIO_SOAK_INTERVAL=%s\n", env);
		return 2;
	}
	if ((env = getenv("KIO_SOAK_SEED")) && *env)
		seed = strtoull(env, NULL, 0);
	while ((opt = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (!parse_num(optarg, 0.2, 3600, &interval))
				return usage(stderr, 2);
			break;
		case 'w':
			if (!parse_num(optarg, 0, 1e6, &warmup))
				return usage(stderr, 2);
			break;
		case 'r':
			if (!parse_num(optarg, -1, 1e9, &v))
				return usage(stderr, 2);
			lim.rss_tol_kib = (long)v;
			break;
		case 'm':
			if (!parse_num(optarg, -1, 1e9, &v))
				return usage(stderr, 2);
			lim.heap_tol_kib = (long)v;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'v':
			g_verbose = 1;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (argc - optind > 1 || (argc - optind == 1 && !parse_num(argv[optind], 1, 1e7, &seconds)))
		return usage(stderr, 2);
	if (warmup < 0)
		warmup = seconds / 10 > 60 ? 60 : seconds / 10;
	g_print_all = seconds <= 120;
#ifdef SOAK_ASAN
	/* ASan's allocator keeps freed memory in quarantine and its shadow
	 * grows with it: RSS and mallinfo say nothing here. */
	lim.rss_tol_kib = lim.heap_tol_kib = -1;
#endif
	if (!seed)
		seed = now_ns() ^ ((uint64_t)getpid() << 32);
	rng_state = seed ? seed : 1;

	g_main = pthread_self();
	g_start_ns = now_ns();

	/* Before anything of kio exists: what the teardown must come back to. */
	struct sample start;
	measure(&start);

	/* The static buffers are written once now, so their pages count in
	 * the baseline already and never show up as growth. */
	memset(g_cli, 0, sizeof(g_cli));
	memset(g_files, 0, sizeof(g_files));
	memset(g_srv, 0, sizeof(g_srv));
	memset(g_toks, 0, sizeof(g_toks));
	memset(g_done_ids, 0, sizeof(g_done_ids));
	tok_init();
	for (int i = 0; i < NCLIENT; i++)
		g_cli[i].idx = i;
	for (int i = 0; i < NFILE; i++)
		g_files[i].idx = i;
	for (int i = NSERVER - 1; i >= 0; i--) {
		g_srv[i].idx = i;
		g_srv_free[g_srv_nfree++] = i;
	}

	kio_log_set_handler(log_handler, NULL);

	rc = kio_ctx_create(&g_ctx, NULL, 0);
	if (rc < 0) {
		fprintf(stderr, "soak: kio_ctx_create: %s\n", kio_strerror(rc));
		return rc == -EPERM || rc == -ENOSYS || rc == -EACCES ? 77 : 1;
	}
	const char *backend = kio_ctx_backend(g_ctx) == KIO_BACKEND_EPOLL ? "epoll" : "io_uring";
	rc = kio_buf_ring_create(&g_ring, g_ctx, 0, RING_BUFS, RING_SIZE);
	if (rc < 0) {
		fprintf(stderr, "soak: kio_buf_ring_create: %s\n", kio_strerror(rc));
		kio_ctx_destroy(g_ctx);
		return rc == -EOPNOTSUPP ? 77 : 1;
	}
	rc = kio_pool_create(&g_pool, 2);
	if (rc < 0) {
		fprintf(stderr, "soak: kio_pool_create: %s\n", kio_strerror(rc));
		return 1;
	}

	/* The listener, and a bound socket that never listens (refusals). */
	socklen_t len = sizeof(g_laddr);
	g_laddr.sin_family = AF_INET;
	g_laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_raddr = g_laddr;
	g_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_refuse_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g_lfd < 0 || g_refuse_fd < 0 || bind(g_lfd, (struct sockaddr *)&g_laddr, len) < 0 ||
	    listen(g_lfd, 1024) < 0 || getsockname(g_lfd, (struct sockaddr *)&g_laddr, &len) < 0 ||
	    bind(g_refuse_fd, (struct sockaddr *)&g_raddr, sizeof(g_raddr)) < 0 ||
	    getsockname(g_refuse_fd, (struct sockaddr *)&g_raddr, &len) < 0) {
		perror("soak: sockets");
		return 1;
	}

	const char *tmp = getenv("TMPDIR");
	snprintf(g_dir, sizeof(g_dir), "%s/kio-soak.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(g_dir)) {
		perror("soak: mkdtemp");
		return 1;
	}
	g_dirfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g_dirfd < 0) {
		perror("soak: open the temporary directory");
		return 1;
	}

	printf("soak: %.0f s on the %s backend, checkpoints every %.1f s after %.1f s of warm-up, "
	       "seed %llu (KIO_SOAK_SEED)\n",
	       seconds, backend, interval, warmup, (unsigned long long)seed);
	printf("soak: tolerances: RSS %ld KiB, malloc %ld KiB%s\n", lim.rss_tol_kib, lim.heap_tol_kib,
#ifdef SOAK_ASAN
	       " (off under AddressSanitizer)"
#else
	       ""
#endif
	);
	fflush(stdout);

	uint64_t run_end = g_start_ns + (uint64_t)(seconds * 1e9);
	uint64_t warm_end = g_start_ns + (uint64_t)(warmup * 1e9);
	struct sample base = {0}, last = {0};
	bool have_base = false;
	int round = 0, checks = 0;

	while (!g_fatal) {
		uint64_t now = now_ns();
		uint64_t round_end = now + (uint64_t)(interval * 1e9);
		if (round_end > run_end)
			round_end = run_end;
		round++;
		/* A new pool every round: its thread must be gone at the check. */
		rc = kio_pool_create(&g_tpool, 1);
		if (rc < 0) {
			violation("kio_pool_create: %s", kio_strerror(rc));
			g_tpool = NULL;
		}
		g_launching = true;
		g_acc.wanted = true;
		start_accept();
		struct tok *t = tok_get(K_SAMPLER, &g_sampler_owner, on_sample);
		g_sampler_id = tok_arm(t, kio_timer_periodic(g_ctx, 100 * MS, on_op, tok_ud(t)));
		refill();
		while ((now = now_ns()) < round_end && !g_fatal) {
			uint64_t wait = round_end - now;
			turn(wait < 50 * MS ? wait : 50 * MS);
			refill();
		}
		if (!drain()) {
			g_fatal = true;
			break;
		}
		now = now_ns();
		if (!have_base) {
			if (now >= warm_end || now >= run_end) {
				checkpoint(round, NULL, &lim, &base);
				last = base;
				have_base = true;
			}
		} else {
			checkpoint(round, &base, &lim, &last);
			checks++;
		}
		if (now >= run_end)
			break;
	}

	/* The summary, before the teardown's checks. */
	printf("soak: %s backend, %d rounds, %d checkpoints after the baseline, %.1f s\n", backend,
	       round, checks, (double)(now_ns() - g_start_ns) / 1e9);
	printf("soak: %-26s %12s %12s %12s %10s %8s\n", "op", "started", "final cbs", "more cbs",
	       "res < 0", "refused");
	for (int k = 0; k < K_N; k++)
		if (g_ks[k].started || g_ks[k].start_errs)
			printf("soak: %-26s %12llu %12llu %12llu %10llu %8llu\n", kind_name[k],
			       g_ks[k].started, g_ks[k].finals, g_ks[k].more, g_ks[k].errors,
			       g_ks[k].start_errs);
	printf("soak: %llu ops, every final callback exactly once: %s; %llu finished ids gave "
	       "-ENOENT\n",
	       total_ops(), g_violations ? "see violations" : "yes", g_enoent_checked);
	for (int i = 0; i < CS_N; i++)
		printf("soak: connections %-38s %10llu\n", cscen_name[i], g_scen_done[i]);
	printf("soak: %llu accepted (%llu turned away), %llu echoes (%llu bytes), %llu receives "
	       "restarted after -ENOBUFS, %llu close(2)\n",
	       g_accepted, g_server_full, g_echoes, g_echo_bytes, g_restarts, g_sync_closes);
	printf("soak: %llu file chains, %llu timers, %llu pool jobs, %lu posts from pool threads\n",
	       g_files_done, g_timers_done, g_jobs_done, g_posts_run);
	printf("soak: fds      start %d, baseline %d, peak %d, final %d\n", start.fds, base.fds,
	       g_peak.fds, last.fds);
	printf("soak: threads  start %d, baseline %d+%d+%d, peak %d+%d+%d, final %d+%d+%d "
	       "(others + kio-io + iou-*; kio-log not counted)\n",
	       all_threads(&start), base.threads, base.kio_io, base.iou, g_peak.threads,
	       g_peak.kio_io, g_peak.iou, last.threads, last.kio_io, last.iou);
	printf("soak: RSS      start %ld KiB, baseline %ld KiB, peak %ld KiB, final %ld KiB "
	       "(%+ld KiB)\n",
	       start.rss_kib, base.rss_kib, g_peak.rss_kib, last.rss_kib,
	       last.rss_kib - base.rss_kib);
	printf("soak: malloc   start %ld KiB, baseline %ld KiB, peak %ld KiB, final %ld KiB "
	       "(%+ld KiB)\n",
	       start.heap_kib, base.heap_kib, g_peak.heap_kib, last.heap_kib,
	       last.heap_kib - base.heap_kib);
	fflush(stdout);

	/* Teardown: everything kio made must go, threads included. */
	kio_buf_ring_destroy(g_ring);
	close(g_lfd);
	close(g_refuse_fd);
	kio_ctx_destroy(g_ctx); /* after a failed drain: every callback runs now */
	if (g_armed)
		violation("kio_ctx_destroy returned with %u ops whose final callback never ran",
			  g_armed);
	if (g_tpool)
		kio_pool_destroy(g_tpool);
	kio_pool_destroy(g_pool);
	close(g_dirfd);
	if (!g_fatal && rmdir(g_dir) < 0)
		violation("rmdir %s: %s", g_dir, strerror(errno));
	kio_log_flush(2 * SEC);
	kio_log_set_handler(NULL, NULL);
	if (atomic_load(&g_log_error))
		violation("kio logged %lu errors", atomic_load(&g_log_error));
	if (atomic_load(&g_log_warn))
		printf("soak: kio logged %lu warnings (shown above)\n", atomic_load(&g_log_warn));

	struct sample end;
	uint64_t deadline = now_ns() + 10 * SEC;
	do {
		measure(&end); /* the kernel's io_uring workers leave in their own time */
		if (end.fds == start.fds && all_threads(&end) == all_threads(&start))
			break;
		usleep(10000);
	} while (now_ns() < deadline);
	if (end.fds != start.fds)
		violation("after the teardown: %d fds open, %d before kio started", end.fds,
			  start.fds);
	if (all_threads(&end) != all_threads(&start))
		violation("after the teardown: %d threads (%d kio-io, %d iou-*), %d before kio started",
			  all_threads(&end), end.kio_io, end.iou, all_threads(&start));
	printf("soak: after the teardown: fds %d, threads %d (before kio: %d, %d)\n", end.fds,
	       all_threads(&end), start.fds, all_threads(&start));
	if (g_fatal && g_violations == 0)
		violation("the run stopped early");
	printf("soak: %s: %lu violation%s\n", g_violations ? "FAIL" : "PASS", g_violations,
	       g_violations == 1 ? "" : "s");
	return g_violations ? 1 : 0;
}
