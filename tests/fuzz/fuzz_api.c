/* SPDX-License-Identifier: MIT */
/*
 * fuzz_api: a stateful fuzzer of kio's C API.
 *
 * The input is a program. Its first byte sets up one or two contexts (each
 * on io_uring or epoll, queue sizes, DEFER_TASKRUN); every following
 * command starts an op (nop, sleeps, timers, polls, socket, pipe and file
 * I/O, accept/connect on loopback TCP, multishot ops with a buffer ring,
 * splice, sendfile, zero-copy send, pool jobs, opens, closes...), cancels
 * or times an op by a live, finished, foreign or made-up id, cancels an
 * fd, runs a loop round (never blocking for long), writes to, drains or
 * closes the peer ends, or destroys a context in the middle (a new one
 * takes its place on the next use). Callbacks may start, cancel, post,
 * stop, destroy, or try to run the loop they are in.
 *
 * The harness keeps a record of every op it started and checks the
 * contract of kio(7) as it goes; a violation aborts with the steps that
 * led to it:
 *   - an op that returned an id is called back exactly once (multishot:
 *     until a call without KIO_F_MORE), and never after that; an op whose
 *     start failed is never called back;
 *   - callbacks run only inside kio_ctx_run/run_once/destroy of their own
 *     context: never inside the call that started the op, nor inside a
 *     cancel, a timeout, a post or another context's loop;
 *   - an id is never handed out twice while its op is alive;
 *   - kio_op_cancel()/kio_op_timeout() give 0 exactly for the ids of live
 *     ops of that context, and -ENOENT for finished, foreign or made-up ones;
 *   - -ECANCELED only after a cancel (op, fd, close, ring, destroy),
 *     -ETIMEDOUT only after kio_op_timeout(); no EINTR, no restart codes,
 *     no EAGAIN on a blocking fd; results within what was asked (bytes <=
 *     len, poll bits among those asked, a sleep not early, a job's value);
 *   - kio_ctx_pending() is the number of live ops; ops started from
 *     callbacks run by destroy fail with -ESHUTDOWN, as do posts;
 *   - kio_ctx_run_once()/kio_ctx_run() from a callback give -EBUSY;
 *   - provided buffers are never handed out twice; release() gives 0 for
 *     held ones and -EALREADY for the others;
 *   - after kio_ctx_destroy() every op of the context has had its final
 *     callback;
 *   - buffers the kernel writes into (reads, recvs, accept addresses) are
 *     not written after their op's final callback;
 *   - each input ends with as many fds open as it started with (fds that
 *     ops returned are closed by the harness).
 *
 * Every input is bounded in time: loop rounds wait at most a millisecond,
 * kio_ctx_run() is stopped by a sleep of at most 2 ms, the program has at
 * most 192 commands and 384 ops.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/falloc.h>

#include "fuzz_common.h"

#define FAIL(...) fz_fail("fuzz_api", __FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...)                    \
	do {                                \
		if (!(cond))                \
			FAIL(__VA_ARGS__);  \
	} while (0)

enum {
	NCTX = 2,
	MAX_OPS = 384,
	MAX_CMDS = 192,
	MAX_RINGS = 8,
	MAX_EXTRA_FDS = 64,
	DATA_LEN = 192,
	SRC_LEN = 1 << 18,
	QUARANTINE = 0xa5,
};

/* The fd table the program picks from (kio's ends and the harness's). */
enum {
	S0_KIO,  /* socketpair 0, kio's end */
	S0_PEER, /* socketpair 0, the harness's end (O_NONBLOCK) */
	S1_KIO,
	S1_PEER,
	PA_RD,   /* pipe A: kio reads */
	PA_WR,   /* pipe A: the harness writes (O_NONBLOCK) */
	PB_RD,   /* pipe B: the harness reads (O_NONBLOCK) */
	PB_WR,   /* pipe B: kio writes */
	FILE_FD, /* a regular file in the temporary directory */
	LISTEN,  /* a TCP listener on 127.0.0.1 */
	CLIENT0, /* TCP sockets for kio_connect() */
	CLIENT1,
	DUP0,    /* dups of the above, for close(2) and kio_close() */
	DUP1,
	ACC0,    /* fds that accepts, opens and sockets returned */
	ACC1,
	NSLOTS
};

static const char *const slot_name[NSLOTS] = {
	"s0", "s0peer", "s1", "s1peer", "pa_rd", "pa_wr", "pb_rd", "pb_wr",
	"file", "listen", "client0", "client1", "dup0", "dup1", "acc0", "acc1",
};

enum kind {
	K_NOP,
	K_SLEEP,
	K_SLEEP_UNTIL,
	K_PERIODIC,
	K_POLL,
	K_POLL_MS,
	K_RECV,
	K_SEND,
	K_READ,
	K_WRITE,
	K_READV,
	K_WRITEV,
	K_RECVMSG,
	K_SENDMSG,
	K_ACCEPT,
	K_ACCEPT_MS,
	K_CONNECT,
	K_RECV_MS,
	K_SHUTDOWN,
	K_SPLICE,
	K_SENDFILE,
	K_SEND_ZC,
	K_FSYNC,
	K_FTRUNCATE,
	K_FALLOCATE,
	K_OPENAT,
	K_STATX,
	K_CLOSE,
	K_POOL,
	K_SOCKET,
	NKINDS,
	K_POST = NKINDS, /* kio_ctx_post(): a callback, but no op */
};

static const char *const kind_name[] = {
	"nop", "sleep", "sleep_until", "periodic", "poll", "poll_ms", "recv", "send",
	"read", "write", "readv", "writev", "recvmsg", "sendmsg", "accept", "accept_ms",
	"connect", "recv_ms", "shutdown", "splice", "sendfile", "send_zc", "fsync",
	"ftruncate", "fallocate", "openat", "statx", "close", "pool", "socket", "post",
};

/* What a callback does besides being checked (chosen when the op starts). */
enum chain {
	C_NONE,
	C_NOP,          /* start a nop on the same ctx */
	C_NOP_OTHER,    /* start a nop on the other ctx */
	C_CANCEL_LIVE,  /* cancel another live op of the same ctx */
	C_RUN_SELF,     /* kio_ctx_run_once()/run() on its own ctx: -EBUSY */
	C_RESTART,      /* start an op of the same kind again (final callback) */
	C_RELEASE,      /* release the buffer just received at once */
	C_POST,         /* kio_ctx_post() on the same ctx */
	C_DESTROY_SELF, /* kio_ctx_destroy() of its own ctx (deferred) */
	C_DESTROY_OTHER,
	C_STOP,         /* kio_ctx_stop() of its own ctx */
	C_TIMEOUT_LIVE, /* kio_op_timeout() on another live op */
	NCHAINS
};

enum rstate {
	R_UNUSED,
	R_STARTING, /* inside the call that starts it */
	R_LIVE,
	R_DONE,
	R_FAILED, /* the start call returned an error */
};

struct fring {
	kio_buf_ring *r;
	int ci;
	uint32_t gen; /* of the ctx it belongs to */
	uint32_t count, size;
	uint64_t held; /* buffers handed to the harness (count <= 64) */
	int dead;      /* kio_buf_ring_destroy() called */
};

struct rec {
	int state;
	int kind;
	int ci;
	uint32_t cgen;
	int64_t id;
	int fd, fd2;     /* fds the op works on (-2: none) */
	int nonblock;    /* an fd had O_NONBLOCK when it started */
	int multishot;
	int cancel_req;  /* a cancel of any kind may have reached it */
	int timeout_armed;
	int chain;
	int chain_done;
	int protect;     /* the stopper of a bounded kio_ctx_run() */
	int in_cb;       /* its callback is running */
	uint32_t calls;
	uint64_t t_start, ns;
	uint32_t events;
	size_t len;
	int job_value;
	int job_ran;  /* set by the pool thread when the job starts */
	int job_late; /* ... and it started after the op's final callback */
	struct fring *ring;
	struct iovec iov[2];
	struct msghdr msg;
	struct sockaddr_in addr;
	socklen_t addrlen;
	struct statx stx;
	int kernel_writes; /* data/addr/stx are the kernel's until the callback */
	unsigned char data[DATA_LEN];
};

struct fctx {
	kio_ctx *ctx;
	uint32_t gen;       /* bumped at each create */
	int epoll;          /* backend asked for */
	int backend;
	int destroying;     /* inside kio_ctx_destroy() */
	int destroy_deferred; /* destroy called from one of its callbacks */
	int embed_fd;       /* kio_ctx_fd(), or -1 */
	struct fring *ring; /* the ring its recv_ms ops use */
	uint32_t live;      /* ops without their final callback (no posts) */
	int64_t stale[16];  /* ids of finished ops */
	unsigned nstale;
};

/* Per process. */
static char g_dir[256];
static int g_dirfd = -1;
static kio_pool *g_pool;
static unsigned char g_src[SRC_LEN];

/* Per input. */
static struct fctx g_ctx[NCTX];
static struct rec g_recs[MAX_OPS];
static unsigned g_nrecs;
static struct fring g_rings[MAX_RINGS];
static unsigned g_nrings;
static int g_slot[NSLOTS];
/* Pipe C: only ever a splice's output, outside the slot table. A splice
 * from a socket into a pipe waits for the socket in a kernel worker while
 * holding the pipe's lock, so any write(2), read(2) or kio write on that
 * pipe from the loop's thread would sleep in the kernel until the socket
 * has data (a kernel behaviour, kio_splice(3) NOTES). */
static int g_pc[2] = {-1, -1};
static int g_nb[NSLOTS]; /* O_NONBLOCK set on the slot's fd */
static int g_extra[MAX_EXTRA_FDS]; /* more fds to close at the end */
static unsigned g_nextra;
static struct sockaddr_in g_listen_addr;
static uint8_t g_cfg;
static int g_nctx;
static uint32_t g_ctx_extra_flags, g_sq, g_cq;

/* Whose callbacks may run now: a bit per ctx slot, set only inside a loop
 * call of that ctx (run, run_once, destroy). */
static unsigned g_allowed;
static unsigned g_inloop; /* a bit per ctx slot inside one of its loop calls */
static int g_cb_depth;
static struct fz_in *g_in;

static const char *slot_of(int fd)
{
	for (int i = 0; i < NSLOTS; i++)
		if (g_slot[i] == fd && fd >= 0)
			return slot_name[i];
	return "?";
}

/* ---- fds the harness owns ---------------------------------------------- */

static void close_fd(int fd)
{
	if (fd < 0)
		return;
	/* TCP: reset instead of TIME_WAIT, so ports never run out. */
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	CHECK(close(fd) == 0, "close(%d): %s", fd, strerror(errno));
}

static void own_extra(int fd)
{
	if (g_nextra < MAX_EXTRA_FDS) {
		g_extra[g_nextra++] = fd;
		return;
	}
	close_fd(fd);
}

/* An fd an op returned: into a free ACC slot, else kept to close later. */
static void own_result_fd(int fd)
{
	for (int s = ACC0; s <= ACC1; s++) {
		if (g_slot[s] < 0) {
			g_slot[s] = fd;
			g_nb[s] = 0;
			return;
		}
	}
	own_extra(fd);
}

/* Whether any op that has not had its final callback uses fd. */
static int fd_busy(int fd)
{
	if (fd < 0)
		return 0;
	for (unsigned i = 0; i < g_nrecs; i++) {
		struct rec *r = &g_recs[i];
		if ((r->state == R_LIVE || r->state == R_STARTING) && (r->fd == fd || r->fd2 == fd))
			return 1;
	}
	return 0;
}

/* Closes slot s's fd when nothing waits on it (closing under a pending op
 * is a documented mistake, not something kio must survive). */
static void close_slot(int s)
{
	if (g_slot[s] < 0 || fd_busy(g_slot[s]))
		return;
	fz_trace("close %s (fd %d)", slot_name[s], g_slot[s]);
	close_fd(g_slot[s]);
	g_slot[s] = -1;
	g_nb[s] = 0;
}

/* ---- op records --------------------------------------------------------- */

static struct rec *rec_of(void *user_data)
{
	struct rec *r = user_data;
	CHECK(r >= g_recs && r < g_recs + MAX_OPS &&
		      (size_t)((char *)r - (char *)g_recs) % sizeof(*r) == 0,
	      "callback with a user_data that no op was given: %p", user_data);
	return r;
}

static int live_id(int ci, int64_t id)
{
	for (unsigned i = 0; i < g_nrecs; i++) {
		struct rec *r = &g_recs[i];
		if (r->state == R_LIVE && r->kind != K_POST && r->ci == ci &&
		    r->cgen == g_ctx[ci].gen && r->id == id)
			return 1;
	}
	return 0;
}

static void mark_cancel_fd(int ci, int fd)
{
	for (unsigned i = 0; i < g_nrecs; i++) {
		struct rec *r = &g_recs[i];
		if ((r->state == R_LIVE || r->state == R_STARTING) && r->ci == ci &&
		    r->cgen == g_ctx[ci].gen && (r->fd == fd || r->fd2 == fd))
			r->cancel_req = 1;
	}
}

static void remember_stale(int ci, int64_t id)
{
	struct fctx *f = &g_ctx[ci];
	f->stale[f->nstale++ % 16] = id;
}

/* Its ops are being (or about to be) cancelled by a destroy. */
static int ctx_doomed(int ci)
{
	return g_ctx[ci].destroying || g_ctx[ci].destroy_deferred;
}

/* ---- loop calls: the only places callbacks may run ---------------------- */

static void check_ctx_gone(int ci);

static int run_once(int ci, int64_t timeout_ns)
{
	struct fctx *f = &g_ctx[ci];
	unsigned saved = g_allowed, saved_in = g_inloop;
	g_allowed = 1u << ci;
	g_inloop |= 1u << ci;
	int rc = kio_ctx_run_once(f->ctx, timeout_ns);
	g_allowed = saved;
	g_inloop = saved_in;
	if (g_cb_depth == 0 && f->destroy_deferred) {
		/* The destroy asked for by a callback happened on the way out. */
		check_ctx_gone(ci);
		return rc;
	}
	return rc;
}

static void destroy_ctx(int ci)
{
	struct fctx *f = &g_ctx[ci];
	if (!f->ctx || f->destroying)
		return;
	if (f->destroy_deferred && g_cb_depth > 0)
		return;
	fz_trace("destroy ctx%d", ci);
	unsigned saved = g_allowed;
	f->destroying = 1;
	for (unsigned i = 0; i < g_nrecs; i++)
		if (g_recs[i].ci == ci && g_recs[i].cgen == f->gen && g_recs[i].state == R_LIVE)
			g_recs[i].cancel_req = 1;
	unsigned saved_in = g_inloop;
	g_allowed = 1u << ci;
	g_inloop |= 1u << ci;
	kio_ctx_destroy(f->ctx);
	g_allowed = saved;
	g_inloop = saved_in;
	check_ctx_gone(ci);
}

/* ctx slot ci was destroyed (now or by a deferred destroy): every op it
 * had must have ended. */
static void check_ctx_gone(int ci)
{
	struct fctx *f = &g_ctx[ci];
	for (unsigned i = 0; i < g_nrecs; i++) {
		struct rec *r = &g_recs[i];
		if (r->ci == ci && r->cgen == f->gen && r->state == R_LIVE)
			FAIL("ctx%d destroyed, but op #%u (%s, id %lld) never had its final callback "
			     "(%u calls)",
			     ci, i, kind_name[r->kind], (long long)r->id, r->calls);
	}
	CHECK(f->live == 0, "ctx%d destroyed with %u ops live in the harness's count", ci, f->live);
	for (unsigned i = 0; i < g_nrings; i++)
		if (g_rings[i].ci == ci && g_rings[i].gen == f->gen)
			g_rings[i].held = 0; /* release() now gives -EINVAL */
	f->ctx = NULL;
	f->destroying = 0;
	f->destroy_deferred = 0;
	f->embed_fd = -1;
	f->ring = NULL;
}

static int ensure_ctx(int ci)
{
	struct fctx *f = &g_ctx[ci];
	if (f->ctx)
		return !f->destroying && !f->destroy_deferred;
	if (g_cb_depth > 0)
		return 0; /* contexts are made at the top level only */
	int rc = fz_ctx_create(&f->ctx, f->epoll, g_ctx_extra_flags, g_sq, g_cq);
	CHECK(rc > 0, "kio_ctx_create: %s", kio_strerror(rc));
	f->backend = rc;
	f->gen++;
	f->live = 0;
	f->embed_fd = -1;
	f->ring = NULL;
	fz_trace("ctx%d created (%s, gen %u)", ci, rc == KIO_BACKEND_EPOLL ? "epoll" : "io_uring",
		 f->gen);
	return 1;
}

/* ---- results ------------------------------------------------------------ */

static int nonblock_fd(int fd)
{
	int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	return fl >= 0 && (fl & O_NONBLOCK);
}

static void check_res(struct rec *r, int32_t res, uint32_t flags)
{
	int more = (flags & KIO_F_MORE) != 0;
	const char *k = kind_name[r->kind];

	/* Known bug "cancel-fd-eintr": an io-wq op (splice) that
	 * kio_cancel_fd() interrupts reports -EINTR, not -ECANCELED. */
	if (res == -EINTR && r->cancel_req && fz_skip("cancel-fd-eintr"))
		res = -ECANCELED;
	if (res < 0) {
		int e = -res;
		CHECK(e < 4096, "%s: res %d is no negated errno", k, res);
		CHECK(e != EINTR && !(e >= 512 && e <= 516),
		      "%s: res %d (EINTR or a kernel restart code) reached the user", k, res);
		CHECK(e != EAGAIN || r->nonblock, "%s: -EAGAIN on a blocking fd reached the user", k);
		if (e == ECANCELED)
			CHECK(r->cancel_req, "%s: -ECANCELED though nothing cancelled it", k);
		if (e == ETIMEDOUT)
			CHECK(r->timeout_armed || r->kind == K_CONNECT,
			      "%s: -ETIMEDOUT though no kio_op_timeout() was armed", k);
	}
	if (r->kind != K_RECV_MS)
		CHECK(!(flags & KIO_F_BUFFER), "%s: KIO_F_BUFFER on an op without a buffer ring",
		      k);
	CHECK((flags & ~(KIO_F_MORE | KIO_F_BUFFER | 0xffff0000u)) == 0, "%s: unknown flags %#x", k,
	      flags);
	if (!r->multishot)
		CHECK(!more, "%s: KIO_F_MORE on an op that is not multishot", k);

	switch (r->kind) {
	case K_NOP:
		CHECK(res == 0, "nop: res %d", res);
		break;
	case K_SLEEP:
	case K_SLEEP_UNTIL:
		CHECK(res == 0 || res == -ECANCELED || res == -ETIMEDOUT, "%s: res %d", k, res);
		if (res == 0 && r->ns) {
			uint64_t now = fz_now_ns();
			CHECK(now >= r->t_start + r->ns, "%s: fired %lld ns early", k,
			      (long long)(r->t_start + r->ns - now));
		}
		break;
	case K_PERIODIC:
		if (more)
			CHECK(res == 0, "periodic: tick with res %d", res);
		else
			CHECK(res == -ECANCELED || res == -ETIMEDOUT, "periodic: final res %d", res);
		break;
	case K_POLL:
	case K_POLL_MS:
		if (res >= 0) {
			/* io_uring adds POLLRDHUP to what was asked after a peer shutdown */
			uint32_t ok = r->events | POLLERR | POLLHUP | POLLNVAL | POLLRDHUP;
			CHECK(res > 0 || (r->kind == K_POLL_MS && !more), "%s: revents 0", k);
			CHECK(((uint32_t)res & ~ok) == 0, "%s: revents %#x, asked for %#x", k,
			      (unsigned)res, r->events);
		}
		/* Errors are the kernel's (-EINVAL for events a file cannot
		 * have, on both backends): only the general checks above. */
		break;
	case K_RECV:
	case K_SEND:
	case K_READ:
	case K_WRITE:
	case K_READV:
	case K_WRITEV:
	case K_RECVMSG:
	case K_SENDMSG:
	case K_SPLICE:
	case K_SEND_ZC:
	case K_SENDFILE:
		CHECK(res < 0 || (size_t)res <= r->len, "%s: %d bytes, asked for %zu", k, res,
		      r->len);
		break;
	case K_ACCEPT:
	case K_ACCEPT_MS:
	case K_OPENAT:
	case K_SOCKET:
		if (res >= 0) {
			CHECK(fcntl(res, F_GETFD) >= 0, "%s: res %d is not an open fd", k, res);
			CHECK(res != g_dirfd, "%s: returned the harness's dirfd", k);
			for (int s = 0; s < NSLOTS; s++)
				CHECK(g_slot[s] != res, "%s: returned fd %d, which %s still holds", k,
				      res, slot_name[s]);
			own_result_fd(res);
		}
		break;
	case K_RECV_MS:
		if (flags & KIO_F_BUFFER) {
			struct fring *fr = r->ring;
			uint32_t id = flags >> 16;
			CHECK(res > 0, "recv_ms: a buffer with res %d", res);
			CHECK(id < fr->count, "recv_ms: buffer id %u of a ring of %u", id, fr->count);
			CHECK((uint32_t)res <= fr->size, "recv_ms: %d bytes in a buffer of %u", res,
			      fr->size);
			CHECK(!(fr->held & (1ull << id)), "recv_ms: buffer %u handed out twice", id);
			if (!fr->dead) {
				CHECK(kio_buf_ring_data(fr->r, (uint16_t)id) != NULL,
				      "recv_ms: no data for buffer %u", id);
				fr->held |= 1ull << id;
			}
		} else {
			CHECK(res <= 0, "recv_ms: %d bytes without KIO_F_BUFFER", res);
			CHECK(!more, "recv_ms: KIO_F_MORE without a buffer (res %d)", res);
		}
		break;
	case K_CONNECT:
	case K_SHUTDOWN:
	case K_FSYNC:
	case K_FTRUNCATE:
	case K_FALLOCATE:
	case K_STATX:
	case K_CLOSE:
		CHECK(res <= 0, "%s: res %d", k, res);
		break;
	case K_POOL:
		CHECK(res == r->job_value || res == -ECANCELED || res == -ETIMEDOUT,
		      "pool: res %d, the job returns %d", res, r->job_value);
		/* A job that started finishes and reports its own result. */
		if (res < 0)
			CHECK(!__atomic_load_n(&r->job_ran, __ATOMIC_SEQ_CST),
			      "pool: res %d, but the job already runs (it cannot be interrupted)", res);
		else
			CHECK(__atomic_load_n(&r->job_ran, __ATOMIC_SEQ_CST),
			      "pool: res %d, but the job never ran", res);
		break;
	case K_POST:
		CHECK(res == 0 || (res == -ECANCELED && ctx_doomed(r->ci)),
		      "post: res %d", res);
		break;
	}
}

/* ---- starting ops ------------------------------------------------------- */

static void op_cb(void *user_data, int32_t res, uint32_t flags);
static struct rec *start_op(int ci, int kind, int fdsel, uint8_t arg, int chain);

/* Pool jobs running right now (on pool threads). */
static int g_jobs_running;

static int job_fn(void *user_data)
{
	/* On a pool thread: what it sees is checked by the main thread at the
	 * end of the input, so the failure (and the saved input) come from there. */
	struct rec *r = user_data;
	__atomic_fetch_add(&g_jobs_running, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->job_ran, 1, __ATOMIC_SEQ_CST);
	int state = __atomic_load_n(&r->state, __ATOMIC_SEQ_CST);
	if (state != R_LIVE && state != R_STARTING)
		__atomic_store_n(&r->job_late, 1, __ATOMIC_SEQ_CST);
	if (r->ns)
		usleep((useconds_t)(r->ns / 1000));
	int v = r->job_value;
	__atomic_fetch_sub(&g_jobs_running, 1, __ATOMIC_SEQ_CST);
	return v;
}

/* The fd an op works on: the natural one for its kind, or (sel & 0x80)
 * any slot of the table. */
static int pick_fd(int kind, uint8_t sel)
{
	switch (kind) {
	case K_NOP:
	case K_SLEEP:
	case K_SLEEP_UNTIL:
	case K_PERIODIC:
	case K_OPENAT:
	case K_STATX:
	case K_POOL:
	case K_SOCKET:
	case K_POST:
		return -2;
	case K_CLOSE: /* only dups: the other slots stay the harness's to close */
		return g_slot[DUP0 + (sel & 1)];
	}
	if (sel & 0x80)
		return g_slot[sel % NSLOTS];
	int v = sel & 3;
	switch (kind) {
	case K_RECV:
	case K_SEND:
	case K_RECVMSG:
	case K_SENDMSG:
	case K_RECV_MS:
	case K_SHUTDOWN:
	case K_SEND_ZC:
	case K_SENDFILE: {
		static const int socks[4] = {S0_KIO, S1_KIO, ACC0, CLIENT0};
		int fd = g_slot[socks[v]];
		return fd >= 0 ? fd : g_slot[S0_KIO];
	}
	case K_READ:
	case K_READV:
		return v & 1 ? g_slot[FILE_FD] : g_slot[PA_RD];
	case K_WRITE:
	case K_WRITEV:
		return v & 1 ? g_slot[FILE_FD] : g_slot[PB_WR];
	case K_POLL:
	case K_POLL_MS: {
		static const int any[4] = {S0_KIO, PA_RD, PB_WR, LISTEN};
		return g_slot[any[v]];
	}
	case K_ACCEPT:
	case K_ACCEPT_MS:
		return g_slot[LISTEN];
	case K_CONNECT:
		return g_slot[CLIENT0 + (v & 1)];
	case K_FSYNC:
	case K_FTRUNCATE:
	case K_FALLOCATE:
		return g_slot[FILE_FD];
	default:
		return -2;
	}
}

static int64_t call_start(struct fctx *f, struct rec *r, uint8_t arg)
{
	kio_ctx *c = f->ctx;
	uint64_t off = (arg & 0x40) ? KIO_OFFSET_CURRENT : (uint64_t)(arg & 0x3f) * 512;
	const unsigned char *src = g_src + (arg % 64) * 97;
	switch (r->kind) {
	case K_NOP:
		return kio_nop(c, op_cb, r);
	case K_SLEEP:
		return kio_sleep(c, r->ns, op_cb, r);
	case K_SLEEP_UNTIL:
		if (arg & 1) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			r->ns = 0; /* the wall clock may step: no lateness check */
			return kio_sleep_until(c, CLOCK_REALTIME,
					       (uint64_t)ts.tv_sec * 1000000000ull +
						       (uint64_t)ts.tv_nsec + (arg & 0x7e) * 10000ull,
					       op_cb, r);
		}
		return kio_sleep_until(c, CLOCK_MONOTONIC, r->t_start + r->ns, op_cb, r);
	case K_PERIODIC:
		return kio_timer_periodic(c, r->ns, op_cb, r);
	case K_POLL:
		return kio_poll(c, r->fd, r->events, op_cb, r);
	case K_POLL_MS:
		return kio_poll_multishot(c, r->fd, r->events, op_cb, r);
	case K_RECV:
		r->kernel_writes = 1;
		return kio_recv(c, r->fd, r->data, r->len, (arg & 1) ? MSG_PEEK : 0, op_cb, r);
	case K_SEND:
		return kio_send(c, r->fd, src, r->len, 0, op_cb, r);
	case K_READ:
		r->kernel_writes = 1;
		return kio_read(c, r->fd, r->data, r->len, off, op_cb, r);
	case K_WRITE:
		return kio_write(c, r->fd, src, r->len, off, op_cb, r);
	case K_READV:
		r->kernel_writes = 1;
		r->iov[0] = (struct iovec){r->data, r->len / 2};
		r->iov[1] = (struct iovec){r->data + r->len / 2, r->len - r->len / 2};
		return kio_readv(c, r->fd, r->iov, 2, off, op_cb, r);
	case K_WRITEV:
		r->iov[0] = (struct iovec){(void *)src, r->len / 2};
		r->iov[1] = (struct iovec){(void *)(src + r->len / 2), r->len - r->len / 2};
		return kio_writev(c, r->fd, r->iov, 2, off, op_cb, r);
	case K_RECVMSG:
		r->kernel_writes = 1;
		r->iov[0] = (struct iovec){r->data, r->len};
		memset(&r->msg, 0, sizeof(r->msg));
		r->msg.msg_iov = r->iov;
		r->msg.msg_iovlen = 1;
		return kio_recvmsg(c, r->fd, &r->msg, 0, op_cb, r);
	case K_SENDMSG:
		r->iov[0] = (struct iovec){(void *)src, r->len};
		memset(&r->msg, 0, sizeof(r->msg));
		r->msg.msg_iov = r->iov;
		r->msg.msg_iovlen = 1;
		return kio_sendmsg(c, r->fd, &r->msg, 0, op_cb, r);
	case K_ACCEPT:
		if (arg & 1) {
			r->kernel_writes = 1;
			r->addrlen = sizeof(r->addr);
			return kio_accept(c, r->fd, (struct sockaddr *)&r->addr, &r->addrlen,
					  SOCK_CLOEXEC | ((arg & 2) ? SOCK_NONBLOCK : 0), op_cb, r);
		}
		return kio_accept(c, r->fd, NULL, NULL, SOCK_CLOEXEC, op_cb, r);
	case K_ACCEPT_MS:
		return kio_accept_multishot(c, r->fd, SOCK_CLOEXEC, op_cb, r);
	case K_CONNECT:
		return kio_connect(c, r->fd, (const struct sockaddr *)&g_listen_addr,
				   sizeof(g_listen_addr), op_cb, r);
	case K_RECV_MS:
		return kio_recv_multishot(c, r->fd, r->ring ? r->ring->r : NULL, 0, op_cb, r);
	case K_SHUTDOWN:
		return kio_shutdown(c, r->fd, (arg & 3) == 3 ? SHUT_RDWR : arg & 1, op_cb, r);
	case K_SPLICE:
		return kio_splice(c, r->fd, -1, r->fd2, -1, (uint32_t)r->len, 0, op_cb, r);
	case K_SENDFILE:
		return kio_sendfile(c, r->fd, r->fd2, (arg & 0x40) ? KIO_OFFSET_CURRENT : (arg & 7) * 1000u,
				    r->len, op_cb, r);
	case K_SEND_ZC:
		return kio_send_zc(c, r->fd, src, r->len, 0, op_cb, r);
	case K_FSYNC:
		return kio_fsync(c, r->fd, (arg & 1) ? KIO_FSYNC_DATASYNC : 0, op_cb, r);
	case K_FTRUNCATE:
		return kio_ftruncate(c, r->fd, (arg & 0x3f) * 700u, op_cb, r);
	case K_FALLOCATE:
		return kio_fallocate(c, r->fd, (arg & 1) ? FALLOC_FL_KEEP_SIZE : 0, (arg & 0x3e) * 300u,
				     1 + (arg >> 6) * 4000u, op_cb, r);
	case K_OPENAT:
		return kio_openat(c, g_dirfd, (arg & 1) ? "missing" : "f",
				  O_RDONLY | O_CLOEXEC | ((arg & 2) ? O_NONBLOCK : 0), 0, op_cb, r);
	case K_STATX:
		r->kernel_writes = 1;
		return kio_statx(c, g_dirfd, (arg & 1) ? "missing" : "f", 0, STATX_BASIC_STATS,
				 &r->stx, op_cb, r);
	case K_CLOSE:
		return kio_close(c, r->fd, op_cb, r);
	case K_POOL:
		return kio_pool_submit(c, g_pool, job_fn, op_cb, r);
	case K_SOCKET:
		return kio_socket(c, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, op_cb, r);
	}
	return -EINVAL;
}

/* One splice into pipe C at a time, whatever the context: a second one's
 * kernel worker waits for the pipe's lock, which the first holds while it
 * waits for its socket, and that wait ignores cancellation (destroy then
 * gives up after 30 s and logs it: a kernel behaviour, not kio's). */
static int splice_live(void)
{
	for (unsigned i = 0; i < g_nrecs; i++)
		if (g_recs[i].kind == K_SPLICE &&
		    (g_recs[i].state == R_LIVE || g_recs[i].state == R_STARTING))
			return 1;
	return 0;
}

static struct rec *start_op(int ci, int kind, int fdsel, uint8_t arg, int chain)
{
	struct fctx *f = &g_ctx[ci];
	if (g_nrecs >= MAX_OPS || !f->ctx)
		return NULL;
	if (kind == K_SPLICE && splice_live())
		return NULL;
	struct rec *r = &g_recs[g_nrecs++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->ci = ci;
	r->cgen = f->gen;
	r->chain = chain;
	r->fd = r->fd2 = -2;
	r->t_start = fz_now_ns();
	r->multishot = kind == K_PERIODIC || kind == K_POLL_MS || kind == K_ACCEPT_MS ||
		       kind == K_RECV_MS;
	r->len = 1 + (arg % DATA_LEN);
	switch (kind) {
	case K_SLEEP:
	case K_SLEEP_UNTIL:
		r->ns = (uint64_t)(arg & 0x7f) * 16000; /* 0..2 ms */
		break;
	case K_PERIODIC:
		r->ns = (uint64_t)(arg & 0x3f) * 20000; /* 0 (-EINVAL)..1.3 ms */
		break;
	case K_POLL:
	case K_POLL_MS:
		r->events = (arg & 1 ? POLLIN : 0) | (arg & 2 ? POLLOUT : 0) |
			    (arg & 4 ? POLLRDHUP : 0) | (arg & 8 ? POLLPRI : 0);
		if (!r->events)
			r->events = POLLIN;
		break;
	case K_SEND:
	case K_WRITE:
	case K_WRITEV:
	case K_SENDMSG:
	case K_SEND_ZC:
	case K_SPLICE:
		/* big ones fill the pipe or socket and wait */
		r->len = (arg & 0x80) ? ((size_t)(arg & 0x7f) + 1) * 1024 : 1 + (arg % 96);
		if (r->len > SRC_LEN - 64 * 97)
			r->len = SRC_LEN - 64 * 97;
		break;
	case K_SENDFILE:
		r->len = (arg & 0x80) ? (size_t)(arg & 0x3f) * 4096 : arg % 64;
		break;
	case K_POOL:
		r->job_value = arg & 0x3f;
		r->ns = (arg & 0x40) ? 100000 : 0;
		break;
	case K_RECV_MS:
		r->ring = f->ring;
		break;
	}
	if (kind != K_POST) {
		r->fd = pick_fd(kind, (uint8_t)fdsel);
		if (kind == K_SPLICE) {
			/* Only socket -> pipe C: the other way, a worker blocked on a
			 * full socket holds the input pipe's lock, and the harness's
			 * own writes to that pipe would sleep in the kernel. */
			r->fd = g_slot[(fdsel & 2) ? S1_KIO : S0_KIO];
			r->fd2 = g_pc[1];
		} else if (kind == K_SENDFILE) {
			r->fd2 = g_slot[FILE_FD];
		}
		r->nonblock = nonblock_fd(r->fd) || nonblock_fd(r->fd2);
	}
	if (kind == K_CLOSE) {
		/* kio_close() is the fd's close: the slot lets go of it. */
		mark_cancel_fd(ci, r->fd);
	}

	if (f->destroy_deferred)
		r->cancel_req = 1; /* the deferred destroy will cancel it */
	r->state = R_STARTING;
	unsigned saved = g_allowed;
	g_allowed = 0;
	int64_t id;
	if (kind == K_POST)
		id = kio_ctx_post(f->ctx, op_cb, r);
	else
		id = call_start(f, r, arg);
	g_allowed = saved;
	CHECK(r->calls == 0, "%s: callback ran inside the call that started it", kind_name[kind]);

	fz_trace("ctx%d %s fd %d(%s)/%d len %zu ns %llu -> %lld #%u", ci, kind_name[kind], r->fd,
		 slot_of(r->fd), r->fd2, r->len, (unsigned long long)r->ns, (long long)id,
		 (unsigned)(r - g_recs));
	if (id < 0) {
		int e = (int)-id;
		r->state = R_FAILED;
		CHECK(e < 4096, "%s: start returned %lld", kind_name[kind], (long long)id);
		CHECK(e != EINTR && e != EAGAIN, "%s: start returned %s", kind_name[kind],
		      strerror(e));
		if (f->destroying)
			CHECK(e == ESHUTDOWN || e == EINVAL || e == EBADF,
			      "%s started during destroy: %s, not -ESHUTDOWN", kind_name[kind],
			      strerror(e));
		return NULL;
	}
	CHECK(!f->destroying, "%s started from a callback run by destroy: id %lld, not -ESHUTDOWN",
	      kind_name[kind], (long long)id);
	if (kind == K_POST) {
		CHECK(id == 0, "kio_ctx_post returned %lld", (long long)id);
		r->state = R_LIVE;
		return r;
	}
	CHECK(!live_id(ci, id), "%s: id %lld handed out while the op holding it is alive",
	      kind_name[kind], (long long)id);
	r->id = id;
	r->state = R_LIVE;
	f->live++;
	if (kind == K_CLOSE) {
		for (int s = DUP0; s <= DUP1; s++)
			if (g_slot[s] == r->fd)
				g_slot[s] = -1;
	}
	if (f->embed_fd >= 0 && g_cb_depth == 0) {
		/* kio_ctx_fd(): readable whenever run_once(ctx, 0) has work. */
		struct pollfd p = {f->embed_fd, POLLIN, 0};
		CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLIN),
		      "kio_ctx_fd() not readable after %s started", kind_name[kind]);
	}
	return r;
}

/* ---- cancels and timeouts ----------------------------------------------- */

/* An id for a cancel or timeout: a live op of ci, a finished one, a live
 * one of the other ctx, or one made up from the input. */
static int64_t pick_id(int ci, uint8_t sel, struct rec **target, int made_up)
{
	*target = NULL;
	switch (sel & 3) {
	case 0:
	case 1: {
		unsigned n = 0;
		for (unsigned i = 0; i < g_nrecs; i++) {
			struct rec *r = &g_recs[i];
			if (r->state == R_LIVE && r->kind != K_POST && r->ci == ci &&
			    r->cgen == g_ctx[ci].gen && !r->protect && n++ == (unsigned)(sel >> 2) % 8) {
				*target = r;
				return r->id;
			}
		}
		break;
	}
	case 2:
		if (g_ctx[ci].nstale)
			return g_ctx[ci].stale[(sel >> 2) % (g_ctx[ci].nstale < 16 ? g_ctx[ci].nstale : 16)];
		break;
	case 3:
		for (unsigned i = 0; i < g_nrecs; i++) {
			struct rec *r = &g_recs[i];
			if (r->state == R_LIVE && r->kind != K_POST && r->ci != ci)
				return r->id;
		}
		break;
	}
	if (!made_up)
		return -1;
	uint64_t v = fz_u64(g_in);
	return (sel & 0x80) ? (int64_t)v : (int64_t)(v & 0xffffffffffull);
}

static void do_cancel(int ci, int64_t id, struct rec *target)
{
	struct fctx *f = &g_ctx[ci];
	int expect = live_id(ci, id) ? 0 : -ENOENT;
	unsigned saved = g_allowed;
	g_allowed = 0;
	int rc = kio_op_cancel(f->ctx, id);
	g_allowed = saved;
	fz_trace("ctx%d cancel %lld -> %d", ci, (long long)id, rc);
	CHECK(rc == expect, "kio_op_cancel(%lld): %d, expected %d (%s)", (long long)id, rc, expect,
	      expect == 0 ? "the op is alive" : "no live op has that id in this ctx");
	if (rc == 0) {
		for (unsigned i = 0; i < g_nrecs; i++)
			if (g_recs[i].state == R_LIVE && g_recs[i].ci == ci &&
			    g_recs[i].cgen == f->gen && g_recs[i].id == id && g_recs[i].kind != K_POST)
				g_recs[i].cancel_req = 1;
	}
	(void)target;
}

static void do_timeout(int ci, int64_t id, uint64_t ns)
{
	struct fctx *f = &g_ctx[ci];
	/* Known bug "pool-timeout-destroy": destroy completes a pool job that
	 * has a deadline as if it were a timer, and the job runs on. */
	if (ns && fz_skip("pool-timeout-destroy"))
		for (unsigned i = 0; i < g_nrecs; i++)
			if (g_recs[i].state == R_LIVE && g_recs[i].kind == K_POOL &&
			    g_recs[i].ci == ci && g_recs[i].id == id)
				return;
	int expect = live_id(ci, id) ? 0 : -ENOENT;
	unsigned saved = g_allowed;
	g_allowed = 0;
	int rc = kio_op_timeout(f->ctx, id, ns);
	g_allowed = saved;
	fz_trace("ctx%d timeout %lld %llu ns -> %d", ci, (long long)id, (unsigned long long)ns, rc);
	CHECK(rc == expect, "kio_op_timeout(%lld): %d, expected %d", (long long)id, rc, expect);
	if (rc == 0 && ns) {
		for (unsigned i = 0; i < g_nrecs; i++)
			if (g_recs[i].state == R_LIVE && g_recs[i].ci == ci &&
			    g_recs[i].cgen == f->gen && g_recs[i].id == id && g_recs[i].kind != K_POST)
				g_recs[i].timeout_armed = 1;
	}
}

static void do_cancel_fd(int ci, int fd)
{
	struct fctx *f = &g_ctx[ci];
	unsigned users = 0;
	for (unsigned i = 0; i < g_nrecs; i++) {
		struct rec *r = &g_recs[i];
		if (r->state == R_LIVE && r->ci == ci && r->cgen == f->gen && fd >= 0 &&
		    (r->fd == fd || r->fd2 == fd))
			users++;
	}
	mark_cancel_fd(ci, fd);
	unsigned saved = g_allowed;
	g_allowed = 0;
	int rc = kio_cancel_fd(f->ctx, fd);
	g_allowed = saved;
	fz_trace("ctx%d cancel_fd %d(%s) -> %d (%u ops use it)", ci, fd, slot_of(fd), rc, users);
	if (fd < 0)
		CHECK(rc == -EBADF, "kio_cancel_fd(%d): %d, not -EBADF", fd, rc);
	else
		CHECK(rc >= 0 && (unsigned)rc <= users,
		      "kio_cancel_fd(%d): %d, but %u live ops use that fd", fd, rc, users);
}

/* ---- buffer rings ------------------------------------------------------- */

static void ring_create(int ci, uint8_t arg)
{
	struct fctx *f = &g_ctx[ci];
	if (g_nrings >= MAX_RINGS || (f->ring && !f->ring->dead))
		return;
	struct fring *fr = &g_rings[g_nrings];
	memset(fr, 0, sizeof(*fr));
	fr->count = 1u << (arg & 3);
	fr->size = 16u << ((arg >> 2) & 3);
	fr->ci = ci;
	fr->gen = f->gen;
	unsigned saved = g_allowed;
	g_allowed = 0;
	int rc = kio_buf_ring_create(&fr->r, f->ctx, (uint16_t)(arg >> 4), fr->count, fr->size);
	g_allowed = saved;
	fz_trace("ctx%d ring_create group %u count %u size %u -> %d", ci, arg >> 4, fr->count,
		 fr->size, rc);
	if (rc == 0) {
		g_nrings++;
		f->ring = fr;
		return;
	}
	CHECK(rc == -EEXIST || rc == -EOPNOTSUPP || rc == -ENOMEM,
	      "kio_buf_ring_create: %d", rc);
}

static void ring_destroy(struct fring *fr)
{
	if (!fr || fr->dead)
		return;
	fz_trace("ring_destroy (ctx%d gen %u)", fr->ci, fr->gen);
	fr->dead = 1;
	fr->held = 0;
	for (unsigned i = 0; i < g_nrecs; i++)
		if (g_recs[i].ring == fr && g_recs[i].state == R_LIVE)
			g_recs[i].cancel_req = 1;
	if (g_ctx[fr->ci].ring == fr)
		g_ctx[fr->ci].ring = NULL;
	unsigned saved = g_allowed;
	g_allowed = 0;
	kio_buf_ring_destroy(fr->r);
	g_allowed = saved;
}

static void ring_release(struct fring *fr, uint16_t id)
{
	if (!fr || fr->dead)
		return;
	int ctx_gone = !g_ctx[fr->ci].ctx || g_ctx[fr->ci].gen != fr->gen;
	int expect = ctx_gone || id >= fr->count ? -EINVAL
		     : (fr->held & (1ull << id)) ? 0
						 : -EALREADY;
	int rc = kio_buf_ring_release(fr->r, id);
	fz_trace("ring release %u -> %d", id, rc);
	CHECK(rc == expect, "kio_buf_ring_release(%u): %d, expected %d", id, rc, expect);
	if (rc == 0)
		fr->held &= ~(1ull << id);
}

/* ---- callbacks ------------------------------------------------------------ */

static void chain_action(struct rec *r, int32_t res, uint32_t flags, int final)
{
	int ci = r->ci;
	struct fctx *f = &g_ctx[ci];
	int other = ci ^ 1;
	if (r->chain_done && r->chain != C_RELEASE)
		return;
	switch (r->chain) {
	case C_NOP:
		r->chain_done = 1;
		if (f->ctx)
			start_op(ci, K_NOP, 0, 0, C_NONE);
		break;
	case C_NOP_OTHER:
		r->chain_done = 1;
		if (g_nctx > 1 && g_ctx[other].ctx && !g_ctx[other].destroying)
			start_op(other, K_NOP, 0, 0, C_NONE);
		break;
	case C_CANCEL_LIVE:
		r->chain_done = 1;
		if (f->ctx) {
			struct rec *t;
			int64_t id = pick_id(ci, (uint8_t)(r->id & 0x7c), &t, 0);
			if (t && t != r)
				do_cancel(ci, id, t);
		}
		break;
	case C_TIMEOUT_LIVE:
		r->chain_done = 1;
		if (f->ctx) {
			struct rec *t;
			int64_t id = pick_id(ci, (uint8_t)(r->id & 0x7c), &t, 0);
			if (t && t != r)
				do_timeout(ci, id, 1000);
		}
		break;
	case C_RUN_SELF: {
		r->chain_done = 1;
		/* Known bug "busy-in-destroy": callbacks that destroy runs
		 * outside its loop rounds get a nested loop, not -EBUSY. */
		if (ctx_doomed(ci) && fz_skip("busy-in-destroy"))
			break;
		int rc = kio_ctx_run_once(f->ctx, 0);
		CHECK(rc == -EBUSY, "kio_ctx_run_once() from a callback of its ctx: %d, not -EBUSY",
		      rc);
		rc = kio_ctx_run(f->ctx);
		CHECK(rc == -EBUSY, "kio_ctx_run() from a callback of its ctx: %d, not -EBUSY", rc);
		break;
	}
	case C_RESTART:
		if (!final || f->destroying)
			break;
		r->chain_done = 1;
		if (g_nrecs < MAX_OPS / 2)
			start_op(ci, r->kind, (r->kind == K_CLOSE) ? 0 : 0x00, (uint8_t)r->len,
				 C_NONE);
		break;
	case C_RELEASE:
		if ((flags & KIO_F_BUFFER) && r->ring)
			ring_release(r->ring, (uint16_t)(flags >> 16));
		break;
	case C_POST:
		r->chain_done = 1;
		if (f->ctx)
			start_op(ci, K_POST, 0, 0, C_NONE);
		break;
	case C_DESTROY_SELF:
		r->chain_done = 1;
		if (!f->destroying && !f->destroy_deferred) {
			fz_trace("ctx%d destroy from its own callback", ci);
			f->destroy_deferred = 1;
			for (unsigned i = 0; i < g_nrecs; i++)
				if (g_recs[i].ci == ci && g_recs[i].cgen == f->gen &&
				    g_recs[i].state == R_LIVE)
					g_recs[i].cancel_req = 1;
			kio_ctx_destroy(f->ctx); /* carried out when the loop call returns */
		}
		break;
	case C_DESTROY_OTHER:
		r->chain_done = 1;
		if (g_nctx > 1 && g_ctx[other].ctx && !g_ctx[other].destroying &&
		    !g_ctx[other].destroy_deferred && !(g_inloop & (1u << other)))
			destroy_ctx(other);
		break;
	case C_STOP:
		r->chain_done = 1;
		kio_ctx_stop(f->ctx);
		break;
	}
	(void)res;
}

static void op_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct rec *r = rec_of(user_data);
	unsigned idx = (unsigned)(r - g_recs);
	int final = !(flags & KIO_F_MORE);

	fz_trace("  cb #%u ctx%d %s res %d flags %#x", idx, r->ci, kind_name[r->kind], res, flags);
	CHECK(r->state != R_STARTING,
	      "#%u %s: callback ran inside the call that started it (inline)", idx,
	      kind_name[r->kind]);
	CHECK(r->state != R_FAILED, "#%u %s: callback of an op whose start returned an error", idx,
	      kind_name[r->kind]);
	CHECK(r->state == R_LIVE, "#%u %s: callback after its final callback (call %u)", idx,
	      kind_name[r->kind], r->calls + 1);
	CHECK(g_allowed & (1u << r->ci),
	      "#%u %s of ctx%d: callback outside a loop call of its context (allowed %#x)", idx,
	      kind_name[r->kind], r->ci, g_allowed);
	CHECK(!r->in_cb, "#%u %s: callback re-entered", idx, kind_name[r->kind]);
	check_res(r, res, flags);
	r->calls++;
	if (final) {
		__atomic_store_n(&r->state, R_DONE, __ATOMIC_SEQ_CST);
		if (r->kind != K_POST) {
			CHECK(g_ctx[r->ci].live > 0, "live count underflow");
			g_ctx[r->ci].live--;
			remember_stale(r->ci, r->id);
		}
		/* From now on the memory is the caller's again. */
		if (r->kernel_writes) {
			memset(r->data, QUARANTINE, sizeof(r->data));
			memset(&r->addr, QUARANTINE, sizeof(r->addr));
			memset(&r->stx, QUARANTINE, sizeof(r->stx));
		}
	}
	r->in_cb = 1;
	g_cb_depth++;
	chain_action(r, res, flags, final);
	g_cb_depth--;
	r->in_cb = 0;
	if (final && r->kind == K_POST)
		return;
}

static void stopper_cb(void *user_data, int32_t res, uint32_t flags)
{
	struct rec *r = rec_of(user_data);
	op_cb(user_data, res, flags);
	if (g_ctx[r->ci].ctx && !g_ctx[r->ci].destroying)
		kio_ctx_stop(g_ctx[r->ci].ctx);
}

/* kio_ctx_run(), bounded: a protected sleep of at most 2 ms stops it. */
static void run_bounded(int ci, uint8_t arg)
{
	struct fctx *f = &g_ctx[ci];
	if (g_nrecs >= MAX_OPS)
		return;
	struct rec *r = &g_recs[g_nrecs++];
	memset(r, 0, sizeof(*r));
	r->kind = K_SLEEP;
	r->ci = ci;
	r->cgen = f->gen;
	r->fd = r->fd2 = -2;
	r->protect = 1;
	r->t_start = fz_now_ns();
	r->ns = (uint64_t)(arg & 0x1f) * 64000;
	r->state = R_STARTING;
	unsigned saved = g_allowed;
	g_allowed = 0;
	int64_t id = kio_sleep(f->ctx, r->ns, stopper_cb, r);
	g_allowed = saved;
	CHECK(id >= 0, "kio_sleep: %lld", (long long)id);
	CHECK(!live_id(ci, id), "sleep: id %lld handed out twice", (long long)id);
	r->id = id;
	r->state = R_LIVE;
	f->live++;
	fz_trace("ctx%d run (stopper sleep %llu ns, #%u)", ci, (unsigned long long)r->ns,
		 (unsigned)(r - g_recs));
	unsigned saved_in = g_inloop;
	g_allowed = 1u << ci;
	g_inloop |= 1u << ci;
	int rc = kio_ctx_run(f->ctx);
	g_allowed = saved;
	g_inloop = saved_in;
	CHECK(rc == 0, "kio_ctx_run: %d", rc);
	if (f->destroy_deferred)
		check_ctx_gone(ci);
}

/* ---- the peers ------------------------------------------------------------ */

/* The harness's own pipe I/O never waits, whatever O_NONBLOCK the input
 * left on the fd (command 3 turns it off too): a blocking read of an empty
 * pipe B, or a write into a full pipe A, would sleep until libFuzzer's
 * alarm, once per command. RWF_NOWAIT asks per call, so nothing kio's ops
 * on the same file see changes. */
static ssize_t pipe_io_nowait(int fd, void *buf, size_t len, int is_write)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	return is_write ? pwritev2(fd, &iov, 1, -1, RWF_NOWAIT)
			: preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
}

static void peer_write(uint8_t which, uint8_t len_sel)
{
	static const int peers[4] = {S0_PEER, S1_PEER, PA_WR, ACC1};
	int s = peers[which & 3];
	int fd = g_slot[s];
	if (fd < 0)
		return;
	size_t len = (len_sel & 0x80) ? ((size_t)(len_sel & 0x7f) + 1) * 2048 : len_sel + 1u;
	ssize_t n;
	if (s == PA_WR)
		n = pipe_io_nowait(fd, (void *)g_src, len, 1);
	else
		n = send(fd, g_src, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	fz_trace("peer write %s %zu -> %zd", slot_name[s], len, n);
}

static void peer_read(uint8_t which)
{
	static const int peers[4] = {S0_PEER, S1_PEER, PB_RD, ACC1};
	static unsigned char sink[65536];
	int s = peers[which & 3];
	int fd = g_slot[s];
	if (fd < 0)
		return;
	ssize_t n = s == PB_RD ? pipe_io_nowait(fd, sink, sizeof(sink), 0)
			       : recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
	fz_trace("peer read %s -> %zd", slot_name[s], n);
}

static void peer_close(uint8_t which)
{
	static const int peers[4] = {S0_PEER, S1_PEER, PB_RD, PA_WR};
	int s = peers[which & 3];
	if (g_slot[s] < 0)
		return;
	if ((which & 4) && s != PB_RD && s != PA_WR) {
		fz_trace("peer shutdown(SHUT_WR) %s", slot_name[s]);
		shutdown(g_slot[s], SHUT_WR);
		return;
	}
	close_slot(s);
}

/* ---- per input ------------------------------------------------------------ */

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0, "fcntl: %s", strerror(errno));
}

static void open_resources(void)
{
	int sv[2], p[2];
	for (int i = 0; i < NSLOTS; i++) {
		g_slot[i] = -1;
		g_nb[i] = 0;
	}
	for (int i = 0; i < 2; i++) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s",
		      strerror(errno));
		int small = 4096;
		if (g_cfg & 0x20) {
			setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
			setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		}
		set_nonblock(sv[1]);
		g_slot[S0_KIO + 2 * i] = sv[0];
		g_slot[S0_PEER + 2 * i] = sv[1];
		g_nb[S0_PEER + 2 * i] = 1;
	}
	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	set_nonblock(p[1]);
	g_slot[PA_RD] = p[0];
	g_slot[PA_WR] = p[1];
	g_nb[PA_WR] = 1;
	CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	set_nonblock(p[0]);
	g_slot[PB_RD] = p[0];
	g_slot[PB_WR] = p[1];
	CHECK(pipe2(g_pc, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
	g_nb[PB_RD] = 1;
	g_slot[FILE_FD] = openat(g_dirfd, "f", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(g_slot[FILE_FD] >= 0, "open: %s", strerror(errno));
	CHECK(pwrite(g_slot[FILE_FD], g_src, 8192, 0) == 8192, "pwrite: %s", strerror(errno));

	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(l >= 0, "socket: %s", strerror(errno));
	socklen_t alen = sizeof(g_listen_addr);
	memset(&g_listen_addr, 0, sizeof(g_listen_addr));
	g_listen_addr.sin_family = AF_INET;
	g_listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(l, (struct sockaddr *)&g_listen_addr, sizeof(g_listen_addr)) == 0, "bind: %s",
	      strerror(errno));
	CHECK(listen(l, 8) == 0, "listen: %s", strerror(errno));
	CHECK(getsockname(l, (struct sockaddr *)&g_listen_addr, &alen) == 0, "getsockname");
	g_slot[LISTEN] = l;
}

static void new_client(int s, uint8_t arg)
{
	if (g_slot[s] >= 0) {
		if (fd_busy(g_slot[s]))
			return;
		close_slot(s);
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | ((arg & 1) ? SOCK_NONBLOCK : 0), 0);
	CHECK(fd >= 0, "socket: %s", strerror(errno));
	g_slot[s] = fd;
	g_nb[s] = arg & 1;
	fz_trace("new client %s fd %d%s", slot_name[s], fd, (arg & 1) ? " (O_NONBLOCK)" : "");
}

static void make_dup(int s, uint8_t arg)
{
	int src = g_slot[(arg >> 1) % (FILE_FD + 1)];
	if (src < 0)
		return;
	if (g_slot[s] >= 0) {
		if (fd_busy(g_slot[s]))
			return;
		close_slot(s);
	}
	g_slot[s] = fcntl(src, F_DUPFD_CLOEXEC, 0);
	CHECK(g_slot[s] >= 0, "dup: %s", strerror(errno));
	g_nb[s] = nonblock_fd(g_slot[s]);
	fz_trace("dup %s = fd %d (of fd %d)", slot_name[s], g_slot[s], src);
}

static void begin_input(uint8_t cfg)
{
	g_cfg = cfg;
	g_nctx = (cfg & 4) ? 2 : 1;
	g_ctx_extra_flags = (cfg & 8) ? KIO_CTX_NO_DEFER_TASKRUN : 0;
	/* Tiny queues: a full SQ is flushed, a full CQ overflows and is drained. */
	g_sq = (cfg & 0x10) ? 4 : 0;
	g_cq = (cfg & 0x10) ? 8 : 0;
	memset(g_ctx, 0, sizeof(g_ctx));
	for (int i = 0; i < NCTX; i++) {
		g_ctx[i].epoll = (cfg >> i) & 1;
		g_ctx[i].embed_fd = -1;
	}
	g_nrecs = 0;
	g_nrings = 0;
	g_nextra = 0;
	g_allowed = 0;
	g_cb_depth = 0;
	open_resources();
	for (int i = 0; i < g_nctx; i++)
		ensure_ctx(i);
}

static void end_input(uint8_t order)
{
	/* Sometimes a few rounds first, so ops end on their own. */
	if (order & 1)
		for (int i = 0; i < g_nctx; i++)
			if (g_ctx[i].ctx)
				run_once(i, 0);
	/* Rings before or after their ctx: both are allowed. */
	if (order & 2)
		for (unsigned i = 0; i < g_nrings; i++)
			ring_destroy(&g_rings[i]);
	for (int k = 0; k < NCTX; k++) {
		int i = (order & 4) ? NCTX - 1 - k : k;
		if (g_ctx[i].ctx)
			destroy_ctx(i);
	}
	for (unsigned i = 0; i < g_nrecs; i++) {
		struct rec *r = &g_recs[i];
		CHECK(r->state != R_LIVE && r->state != R_STARTING,
		      "op #%u (%s) still live after every ctx was destroyed", i, kind_name[r->kind]);
	}
	/* Destroy waits for the running jobs of its ctx, and a job whose op
	 * ended cancelled never runs: give an idle pool thread a moment to
	 * show that it would (it takes a queued job at once). */
	int cancelled_jobs = 0;
	for (unsigned i = 0; i < g_nrecs; i++)
		if (g_recs[i].kind == K_POOL && g_recs[i].state == R_DONE &&
		    !__atomic_load_n(&g_recs[i].job_ran, __ATOMIC_SEQ_CST))
			cancelled_jobs = 1;
	CHECK(__atomic_load_n(&g_jobs_running, __ATOMIC_SEQ_CST) == 0,
	      "a pool job still runs after every ctx was destroyed");
	if (cancelled_jobs)
		usleep(2000);
	for (unsigned i = 0; i < g_nrecs; i++) {
		struct rec *r = &g_recs[i];
		if (r->kind != K_POOL || r->state != R_DONE)
			continue;
		CHECK(!__atomic_load_n(&r->job_late, __ATOMIC_SEQ_CST),
		      "pool job #%u ran after its op's final callback (cancelled/destroyed)", i);
	}
	CHECK(__atomic_load_n(&g_jobs_running, __ATOMIC_SEQ_CST) == 0,
	      "a pool job of a cancelled op runs after every ctx was destroyed");
	for (unsigned i = 0; i < g_nrings; i++)
		ring_destroy(&g_rings[i]);
	for (int s = 0; s < NSLOTS; s++) {
		close_fd(g_slot[s]);
		g_slot[s] = -1;
	}
	for (int i = 0; i < 2; i++) {
		close_fd(g_pc[i]);
		g_pc[i] = -1;
	}
	for (unsigned i = 0; i < g_nextra; i++)
		close_fd(g_extra[i]);
	g_nextra = 0;
	/* Memory handed to an op is the kernel's only until its callback. */
	for (unsigned i = 0; i < g_nrecs; i++) {
		struct rec *r = &g_recs[i];
		if (r->state != R_DONE || !r->kernel_writes)
			continue;
		for (size_t b = 0; b < sizeof(r->data); b++)
			CHECK(r->data[b] == QUARANTINE,
			      "op #%u (%s): its buffer was written after its final callback "
			      "(byte %zu)",
			      i, kind_name[r->kind], b);
		const unsigned char *a = (const unsigned char *)&r->addr;
		for (size_t b = 0; b < sizeof(r->addr); b++)
			CHECK(a[b] == QUARANTINE,
			      "op #%u (%s): its address was written after its final callback", i,
			      kind_name[r->kind]);
		a = (const unsigned char *)&r->stx;
		for (size_t b = 0; b < sizeof(r->stx); b++)
			CHECK(a[b] == QUARANTINE,
			      "op #%u (%s): its struct statx was written after its final callback", i,
			      kind_name[r->kind]);
	}
}

/* ---- the program ---------------------------------------------------------- */

enum {
	CMD_START,
	CMD_START2,
	CMD_START3,
	CMD_CANCEL,
	CMD_TIMEOUT,
	CMD_CANCEL_FD,
	CMD_RUN_ONCE,
	CMD_RUN_ONCE2,
	CMD_RUN,
	CMD_PEER_WRITE,
	CMD_PEER_READ,
	CMD_PEER_CLOSE,
	CMD_DESTROY,
	CMD_RING,
	CMD_RELEASE,
	CMD_FDS,
	CMD_POST,
	CMD_MISC,
	NCMDS
};

static void check_pending(void)
{
	for (int i = 0; i < NCTX; i++) {
		struct fctx *f = &g_ctx[i];
		if (!f->ctx)
			continue;
		uint32_t p = kio_ctx_pending(f->ctx);
		CHECK(p == f->live, "ctx%d: kio_ctx_pending() %u, but %u ops are live", i, p, f->live);
	}
}

static void step(struct fz_in *in)
{
	uint8_t cmd = fz_u8(in);
	uint8_t a = fz_u8(in);
	int ci = (g_nctx > 1) ? (a & 1) : 0;
	if (!ensure_ctx(ci))
		return;
	switch (cmd % NCMDS) {
	case CMD_START:
	case CMD_START2:
	case CMD_START3: {
		uint8_t kind = fz_u8(in) % NKINDS;
		uint8_t fdsel = fz_u8(in);
		uint8_t arg = fz_u8(in);
		uint8_t chain = fz_u8(in);
		start_op(ci, kind, fdsel, arg, (chain & 0x80) ? (chain & 0x7f) % NCHAINS : C_NONE);
		break;
	}
	case CMD_CANCEL: {
		struct rec *t;
		int64_t id = pick_id(ci, (uint8_t)(a >> 1), &t, 1);
		do_cancel(ci, id, t);
		break;
	}
	case CMD_TIMEOUT: {
		struct rec *t;
		int64_t id = pick_id(ci, (uint8_t)(a >> 1), &t, 1);
		uint8_t ns = fz_u8(in);
		do_timeout(ci, id, ns == 0xff ? 0 : (uint64_t)ns * 4000);
		break;
	}
	case CMD_CANCEL_FD: {
		uint8_t s = fz_u8(in);
		do_cancel_fd(ci, (s & 0x80) ? -1 - (s & 1) : g_slot[s % NSLOTS]);
		break;
	}
	case CMD_RUN_ONCE:
	case CMD_RUN_ONCE2: {
		int64_t t = (a & 0x80) ? (int64_t)((a >> 1) & 0x3f) * 16000 : 0;
		int rc = run_once(ci, t);
		fz_trace("ctx%d run_once(%lld) -> %d", ci, (long long)t, rc);
		CHECK(rc >= 0, "kio_ctx_run_once: %d", rc);
		break;
	}
	case CMD_RUN:
		run_bounded(ci, (uint8_t)(a >> 1));
		break;
	case CMD_PEER_WRITE:
		peer_write((uint8_t)(a >> 1), fz_u8(in));
		break;
	case CMD_PEER_READ:
		peer_read((uint8_t)(a >> 1));
		break;
	case CMD_PEER_CLOSE:
		peer_close((uint8_t)(a >> 1));
		break;
	case CMD_DESTROY:
		destroy_ctx(ci);
		break;
	case CMD_RING: {
		uint8_t arg = fz_u8(in);
		if (a & 2)
			ring_destroy(g_ctx[ci].ring);
		else
			ring_create(ci, arg);
		break;
	}
	case CMD_RELEASE: {
		struct fring *fr = g_ctx[ci].ring;
		if (!fr)
			break;
		if (a & 2) {
			for (uint16_t id = 0; id < fr->count; id++)
				if (fr->held & (1ull << id))
					ring_release(fr, id);
		} else {
			ring_release(fr, (uint16_t)(a >> 2));
		}
		break;
	}
	case CMD_FDS: {
		uint8_t arg = fz_u8(in);
		switch ((a >> 1) & 3) {
		case 0:
			new_client(CLIENT0 + ((a >> 3) & 1), arg);
			break;
		case 1:
			make_dup(DUP0 + ((a >> 3) & 1), arg);
			break;
		case 2: {
			static const int closable[8] = {DUP0,    DUP1,    ACC0,    ACC1,
							CLIENT0, CLIENT1, S0_PEER, S1_PEER};
			close_slot(closable[(a >> 3) & 7]);
			break;
		}
		case 3: {
			/* O_NONBLOCK on or off (sockets and pipes); EAGAIN is then allowed. */
			int s = arg % NSLOTS;
			if (g_slot[s] >= 0 && s != FILE_FD) {
				int fl = fcntl(g_slot[s], F_GETFL);
				int on = (a >> 3) & 1;
				fcntl(g_slot[s], F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
				g_nb[s] = on;
				/* Ops already on it may now meet EAGAIN too. */
				for (unsigned i = 0; on && i < g_nrecs; i++)
					if (g_recs[i].state == R_LIVE &&
					    (g_recs[i].fd == g_slot[s] || g_recs[i].fd2 == g_slot[s]))
						g_recs[i].nonblock = 1;
				fz_trace("%s O_NONBLOCK %s", slot_name[s], on ? "on" : "off");
			}
			break;
		}
		}
		break;
	}
	case CMD_POST:
		start_op(ci, K_POST, 0, 0, (a & 0x80) ? ((a >> 1) & 0x3f) % NCHAINS : C_NONE);
		break;
	case CMD_MISC:
		switch ((a >> 1) & 3) {
		case 0:
			if (g_ctx[ci].embed_fd < 0) {
				int fd = kio_ctx_fd(g_ctx[ci].ctx);
				fz_trace("ctx%d kio_ctx_fd -> %d", ci, fd);
				CHECK(fd >= 0, "kio_ctx_fd: %d", fd);
				g_ctx[ci].embed_fd = fd;
			}
			break;
		case 1:
			fz_trace("ctx%d stop", ci);
			kio_ctx_stop(g_ctx[ci].ctx);
			break;
		case 2:
			fz_trace("ctx%d wake", ci);
			CHECK(kio_ctx_wake(g_ctx[ci].ctx) == 0, "kio_ctx_wake");
			break;
		case 3: {
			kio_stats st;
			CHECK(kio_ctx_stats(g_ctx[ci].ctx, &st, sizeof(st)) == 0, "kio_ctx_stats");
			CHECK(st.ops_submitted >= st.ops_completed &&
				      st.ops_submitted - st.ops_completed == g_ctx[ci].live,
			      "ctx%d stats: %llu submitted, %llu completed, %u live", ci,
			      (unsigned long long)st.ops_submitted,
			      (unsigned long long)st.ops_completed, g_ctx[ci].live);
			break;
		}
		}
		break;
	}
	check_pending();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void cleanup_dir(void)
{
	if (g_dirfd >= 0) {
		unlinkat(g_dirfd, "f", 0);
		close(g_dirfd);
	}
	rmdir(g_dir);
}

/* kio never lets SIGPIPE reach the process (kio(7), Signals). Left at its
 * default it would kill the fuzzer without a word or a saved input: this
 * handler turns it into an abort libFuzzer reports. */
static volatile sig_atomic_t g_sigpipe_known;

static void on_sigpipe(int sig)
{
	static const char msg[] = "fuzz_api: INVARIANT VIOLATED: SIGPIPE reached the process\n";
	(void)sig;
	/* Known bug "sigpipe-two-ctx": two contexts on one thread share its
	 * signal mask, but each one blocks and unblocks SIGPIPE for itself. */
	if (g_sigpipe_known)
		return;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
	}
	fz_trace_dump();
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sigaction(SIGPIPE, &sa, NULL);
	const char *tmp = getenv("TMPDIR");
	snprintf(g_dir, sizeof(g_dir), "%s/kio-fuzz-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		abort();
	}
	g_dirfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g_dirfd < 0) {
		perror("open");
		abort();
	}
	atexit(cleanup_dir);
	for (size_t i = 0; i < sizeof(g_src); i++)
		g_src[i] = (unsigned char)(i * 131u ^ (i >> 8));
	if (kio_pool_create(&g_pool, 2) != 0) {
		fprintf(stderr, "kio_pool_create failed\n");
		abort();
	}
	/* A CQ overflow warning per tiny-queue input would flood the output. */
	kio_log_set_level(KIO_LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	fz_trace_reset();
	int fds = fz_count_fds();
	g_in = &in;
	uint8_t cfg = fz_u8(&in);
	begin_input(cfg);
	g_sigpipe_known = g_nctx > 1 && fz_skip("sigpipe-two-ctx");
	fz_trace("input: %zu bytes, cfg %#x (ctx0 %s, ctx1 %s, %d ctx)", size, cfg,
		 (cfg & 1) ? "epoll" : "io_uring", (cfg & 2) ? "epoll" : "io_uring", g_nctx);
	for (int n = 0; n < MAX_CMDS && fz_more(&in); n++)
		step(&in);
	end_input(cfg >> 5);
	int now = fz_count_fds();
	if (now != fds) {
		fz_trace_dump();
		fz_list_fds();
		FAIL("%d fds open after the input, %d before", now, fds);
	}
	return 0;
}
