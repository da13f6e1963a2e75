/* SPDX-License-Identifier: MIT */
/*
 * kio_log_*: messages reach the handler in order with their level and
 * bytes; the level filter; writers never block, even on a handler that
 * never returns, and the queue drops and counts exactly what did not fit;
 * the default stderr sink; kio_log_flush() and its timeout; the log thread
 * starts only when a message is queued, blocks every signal, survives
 * fork() (the child gets its own) and drains the queue at exit; and the
 * library logs its ring setup fallback and CQ overflow.
 */
#include "kio_test.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

#define WAIT_MS 5000
/* The queue's capacity, documented in kio_log_write(3). */
#define QUEUE_SLOTS 1024
#define FLOOD_THREADS 4
#define FLOOD_EACH 50000
#define EXIT_CHILD_MESSAGES 300

/* ---- a handler that records what it gets, and can be held shut ---------- */

struct record {
	int level;
	size_t len;
	char msg[KIO_LOG_MAX_MESSAGE];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct record *recs; /* the first MAX_RECORDS messages */
	size_t count;        /* every message received */
	size_t entered;      /* handler calls begun */
	int gate_closed;     /* while set, the handler waits inside */
	/* flood messages: "<writer> <seq>"; writer FLOOD_THREADS is the test */
	uint64_t next_seq[FLOOD_THREADS + 1];
	size_t per_thread[FLOOD_THREADS + 1];
	int out_of_order;
	int parse_errors;
	int slow; /* flood_handler pauses now and then */
} cap = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

#define MAX_RECORDS 2048

static void cap_reset(void)
{
	pthread_mutex_lock(&cap.mu);
	if (!cap.recs)
		cap.recs = calloc(MAX_RECORDS, sizeof(*cap.recs));
	cap.count = 0;
	cap.entered = 0;
	cap.gate_closed = 0;
	memset(cap.next_seq, 0, sizeof(cap.next_seq));
	memset(cap.per_thread, 0, sizeof(cap.per_thread));
	cap.out_of_order = 0;
	cap.parse_errors = 0;
	cap.slow = 0;
	pthread_mutex_unlock(&cap.mu);
	assert_non_null(cap.recs);
}

static void cap_wait_gate_locked(void)
{
	cap.entered++;
	pthread_cond_broadcast(&cap.cv);
	while (cap.gate_closed)
		pthread_cond_wait(&cap.cv, &cap.mu);
}

static void cap_handler(void *user_data, int level, const char *msg, size_t len)
{
	(void)user_data;
	pthread_mutex_lock(&cap.mu);
	cap_wait_gate_locked();
	if (cap.count < MAX_RECORDS) {
		struct record *r = &cap.recs[cap.count];
		r->level = level;
		r->len = len;
		memcpy(r->msg, msg, len <= KIO_LOG_MAX_MESSAGE ? len : KIO_LOG_MAX_MESSAGE);
	}
	cap.count++;
	pthread_mutex_unlock(&cap.mu);
}

/* Checks that each writer's messages arrive in the order it wrote them. */
static void flood_handler(void *user_data, int level, const char *msg, size_t len)
{
	char text[64];
	unsigned t;
	unsigned long long seq;

	(void)user_data;
	(void)level;
	pthread_mutex_lock(&cap.mu);
	cap_wait_gate_locked();
	cap.count++;
	if (len >= sizeof(text) ||
	    (memcpy(text, msg, len), text[len] = 0, sscanf(text, "%u %llu", &t, &seq) != 2) ||
	    t > FLOOD_THREADS) {
		cap.parse_errors++;
	} else {
		if (seq < cap.next_seq[t])
			cap.out_of_order++;
		cap.next_seq[t] = seq + 1;
		cap.per_thread[t]++;
	}
	int pause = cap.slow && cap.count % 256 == 0;
	pthread_mutex_unlock(&cap.mu);
	if (pause)
		usleep(100);
}

static void discard_handler(void *user_data, int level, const char *msg, size_t len)
{
	(void)user_data;
	(void)level;
	(void)msg;
	(void)len;
}

static void cap_close_gate(void)
{
	pthread_mutex_lock(&cap.mu);
	cap.gate_closed = 1;
	pthread_mutex_unlock(&cap.mu);
}

static void cap_open_gate(void)
{
	pthread_mutex_lock(&cap.mu);
	cap.gate_closed = 0;
	pthread_cond_broadcast(&cap.cv);
	pthread_mutex_unlock(&cap.mu);
}

/* Waits until the handler has begun n calls; fails after WAIT_MS. */
static void cap_wait_entered(size_t n)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&cap.mu);
	while (cap.entered < n)
		if (pthread_cond_timedwait(&cap.cv, &cap.mu, &until) == ETIMEDOUT)
			break;
	size_t entered = cap.entered;
	pthread_mutex_unlock(&cap.mu);
	if (entered < n)
		fail_msg("handler entered %zu times, expected %zu", entered, n);
}

static size_t cap_count(void)
{
	pthread_mutex_lock(&cap.mu);
	size_t n = cap.count;
	pthread_mutex_unlock(&cap.mu);
	return n;
}

/* Back to the defaults, for the next test. */
static void log_restore(void)
{
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	kio_log_set_handler(NULL, NULL);
	kio_log_set_level(KIO_LOG_WARN);
}

static void log_str(int level, const char *s)
{
	kio_log_write(level, s, strlen(s));
}

/* The thread named kio-log, or 0; *count (if not NULL): how many there are. */
static pid_t find_log_threads(int *count)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t found = 0;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strcmp(comm, "kio-log\n") == 0) {
			found = (pid_t)atoi(e->d_name);
			n++;
		}
		fclose(f);
	}
	closedir(d);
	if (count)
		*count = n;
	return found;
}

static pid_t find_log_thread(void)
{
	return find_log_threads(NULL);
}

/* The blocked-signal mask of thread tid, from /proc. */
static unsigned long long thread_sigblk(pid_t tid)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	int found = 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigBlk: %llx", &mask) == 1)
			found = 1;
	fclose(f);
	assert_true(found);
	return mask;
}

/* ---- group 1: before anything was logged ---------------------------------- */

static void nop_cb(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	*(int32_t *)user_data = res + 1;
}

/* Runs first, before anything was logged: it checks the thread count
 * itself, the log thread included. */
static void test_log_lazy_start(void **state)
{
	(void)state;
	struct kt_leak l;
	int32_t done = 0;

	kt_leak_begin(&l);
	int all_threads = kt_count_dir("/proc/self/task");
	assert_int_equal(kio_log_level(), KIO_LOG_WARN);
	assert_int_equal(find_log_thread(), 0);

	/* A ctx at work and filtered messages start nothing. */
	kio_ctx *ctx = kt_ctx_new();
	assert_true(kio_nop(ctx, nop_cb, &done) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(done, 1);
	kio_ctx_destroy(ctx);
	log_str(KIO_LOG_INFO, "filtered");
	log_str(KIO_LOG_DEBUG, "filtered");
	kio_log_write(KIO_LOG_ERROR, NULL, 5);
	assert_int_equal(kio_log_flush(0), 0); /* nothing queued */
	kt_leak_end(&l);
	assert_int_equal(kt_count_dir("/proc/self/task"), all_threads);
	assert_int_equal(find_log_thread(), 0);

	/* The first queued message starts it. */
	cap_reset();
	kio_log_set_handler(cap_handler, &cap);
	log_str(KIO_LOG_WARN, "first");
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 1);
	assert_int_equal(cap.recs[0].len, 5);
	assert_memory_equal(cap.recs[0].msg, "first", 5);
	/* One thread more, which the leak check leaves out. */
	assert_int_equal(kt_count_dir("/proc/self/task"), all_threads + 1);
	kt_leak_end(&l);

	/* It blocks every signal (SIGKILL and SIGSTOP cannot be blocked). */
	pid_t tid = find_log_thread();
	assert_true(tid > 0);
	unsigned long long blk = thread_sigblk(tid);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
		      SIGPIPE, SIGCHLD, SIGALRM, SIGWINCH, SIGRTMIN, SIGRTMAX};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!(blk & (1ull << (sigs[i] - 1))))
			fail_msg("log thread does not block signal %d (SigBlk %llx)", sigs[i], blk);

	/* More messages reuse it. */
	log_str(KIO_LOG_ERROR, "second");
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 2);
	assert_int_equal(kt_count_dir("/proc/self/task"), all_threads + 1);
	assert_int_equal(find_log_thread(), tid);
	log_restore();
}

/* ---- group 2: the log thread runs ------------------------------------------- */

/*
 * KT_TEST compares the thread count at the end of each test with the one
 * at its start. The log thread starts with the first queued message and
 * stays until exit; kt_count_threads() leaves it out, and it is started
 * here anyway, so no test below depends on which test logs first. A test
 * that leaks a thread of its own still fails.
 */
static int group_setup(void **state)
{
	(void)state;
	kio_log_set_handler(discard_handler, NULL);
	log_str(KIO_LOG_FATAL, "start the log thread");
	int rc = kio_log_flush(WAIT_MS * KT_MS);
	kio_log_set_handler(NULL, NULL);
	cap_reset();
	return rc == 0 ? 0 : -1;
}

static void test_log_order_and_bytes(void **state)
{
	(void)state;
	enum { N = 200 };
	char big[KIO_LOG_MAX_MESSAGE + 500];
	const char nul_msg[] = {'a', 0, 'b', '\n', 'c'};

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('A' + i % 23);
	cap_reset();
	kio_log_set_handler(cap_handler, &cap);
	kio_log_set_level(KIO_LOG_DEBUG);
	for (int i = 0; i < N; i++) {
		char m[32];
		int n = snprintf(m, sizeof(m), "message %d", i);
		kio_log_write(i % 5, m, (size_t)n);
	}
	kio_log_write(KIO_LOG_WARN, big, KIO_LOG_MAX_MESSAGE); /* exactly the maximum */
	kio_log_write(KIO_LOG_ERROR, big, sizeof(big));        /* longer: cut */
	kio_log_write(KIO_LOG_INFO, big, 0);                   /* empty */
	kio_log_write(KIO_LOG_INFO, nul_msg, sizeof(nul_msg)); /* any bytes */
	kio_log_write(KIO_LOG_INFO, NULL, 10);                 /* nothing */
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);

	assert_int_equal(cap_count(), N + 4);
	for (int i = 0; i < N; i++) {
		char m[32];
		int n = snprintf(m, sizeof(m), "message %d", i);
		assert_int_equal(cap.recs[i].level, i % 5);
		assert_int_equal(cap.recs[i].len, (size_t)n);
		assert_memory_equal(cap.recs[i].msg, m, (size_t)n);
	}
	assert_int_equal(cap.recs[N].level, KIO_LOG_WARN);
	assert_int_equal(cap.recs[N].len, KIO_LOG_MAX_MESSAGE);
	assert_memory_equal(cap.recs[N].msg, big, KIO_LOG_MAX_MESSAGE);
	assert_int_equal(cap.recs[N + 1].level, KIO_LOG_ERROR);
	assert_int_equal(cap.recs[N + 1].len, KIO_LOG_MAX_MESSAGE);
	assert_memory_equal(cap.recs[N + 1].msg, big, KIO_LOG_MAX_MESSAGE);
	assert_int_equal(cap.recs[N + 2].len, 0);
	assert_int_equal(cap.recs[N + 3].len, sizeof(nul_msg));
	assert_memory_equal(cap.recs[N + 3].msg, nul_msg, sizeof(nul_msg));
	log_restore();
}

static void test_log_level_filter(void **state)
{
	(void)state;
	uint64_t dropped = kio_log_dropped();

	cap_reset();
	kio_log_set_handler(cap_handler, &cap);
	kio_log_set_level(KIO_LOG_ERROR);
	assert_int_equal(kio_log_level(), KIO_LOG_ERROR);
	log_str(KIO_LOG_DEBUG, "d");
	log_str(KIO_LOG_INFO, "i");
	log_str(KIO_LOG_WARN, "w");
	log_str(KIO_LOG_ERROR, "e");
	log_str(KIO_LOG_FATAL, "f");
	log_str(99, "above FATAL"); /* counts as FATAL */
	log_str(-3, "below DEBUG"); /* counts as DEBUG: filtered */
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 3);
	assert_int_equal(cap.recs[0].level, KIO_LOG_ERROR);
	assert_memory_equal(cap.recs[0].msg, "e", 1);
	assert_int_equal(cap.recs[1].level, KIO_LOG_FATAL);
	assert_memory_equal(cap.recs[1].msg, "f", 1);
	assert_int_equal(cap.recs[2].level, KIO_LOG_FATAL);
	assert_memory_equal(cap.recs[2].msg, "above FATAL", 11);

	/* Levels out of range are clamped. */
	kio_log_set_level(-7);
	assert_int_equal(kio_log_level(), KIO_LOG_DEBUG);
	log_str(-3, "below DEBUG");
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 4);
	assert_int_equal(cap.recs[3].level, KIO_LOG_DEBUG);
	kio_log_set_level(42);
	assert_int_equal(kio_log_level(), KIO_LOG_FATAL);
	log_str(KIO_LOG_ERROR, "filtered");
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 4);

	/* Filtered messages are not drops. */
	assert_int_equal(kio_log_dropped(), dropped);
	log_restore();
}

struct flood_writer {
	pthread_t thread;
	unsigned id;
	uint64_t ns; /* time spent in kio_log_write */
};

static pthread_mutex_t flood_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t flood_cv = PTHREAD_COND_INITIALIZER;
static int flood_finished;

static void *flood_main(void *arg)
{
	struct flood_writer *w = arg;
	uint64_t t0 = kt_now_ns();
	for (unsigned long long i = 0; i < FLOOD_EACH; i++) {
		char m[48];
		int n = snprintf(m, sizeof(m), "%u %llu", w->id, i);
		kio_log_write(KIO_LOG_WARN, m, (size_t)n);
	}
	w->ns = kt_now_ns() - t0;
	pthread_mutex_lock(&flood_mu);
	flood_finished++;
	pthread_cond_broadcast(&flood_cv);
	pthread_mutex_unlock(&flood_mu);
	return NULL;
}

static void flood_start(struct flood_writer *w)
{
	flood_finished = 0;
	for (unsigned t = 0; t < FLOOD_THREADS; t++) {
		w[t].id = t;
		assert_int_equal(pthread_create(&w[t].thread, NULL, flood_main, &w[t]), 0);
	}
}

/* True when every writer returned from all its writes within ms. */
static int flood_wait(int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	pthread_mutex_lock(&flood_mu);
	while (flood_finished < FLOOD_THREADS)
		if (pthread_cond_timedwait(&flood_cv, &flood_mu, &until) == ETIMEDOUT)
			break;
	int all = flood_finished == FLOOD_THREADS;
	pthread_mutex_unlock(&flood_mu);
	return all;
}

/*
 * The handler takes one message and then never returns until the test
 * lets it. Writers that could block on the log thread would never finish;
 * they must all return, and exactly what did not fit in the queue must be
 * counted as dropped: written - capacity - what the handler took.
 */
static void test_log_flood_stuck_handler(void **state)
{
	(void)state;
	struct flood_writer w[FLOOD_THREADS];
	const uint64_t written = (uint64_t)FLOOD_THREADS * FLOOD_EACH;

	cap_reset();
	cap_close_gate();
	kio_log_set_handler(flood_handler, NULL);
	uint64_t dropped0 = kio_log_dropped();
	log_str(KIO_LOG_WARN, "4 0"); /* taken by the handler, which then waits */
	cap_wait_entered(1);

	flood_start(w);
	/* Generous: the writers do no I/O and wait for nothing. Blocked
	 * writers would wait here forever, since the handler never returns. */
	if (!flood_wait(120000))
		fail_msg("writers blocked behind a stuck handler");
	for (unsigned t = 0; t < FLOOD_THREADS; t++)
		assert_int_equal(pthread_join(w[t].thread, NULL), 0);
	pthread_mutex_lock(&cap.mu);
	size_t entered = cap.entered;
	pthread_mutex_unlock(&cap.mu);
	assert_int_equal(entered, 1); /* the handler is still stuck in its first call */
	assert_int_equal(kio_log_dropped() - dropped0, written - QUEUE_SLOTS);

	/* Still full: one more is dropped, and kio_log_flush() times out. */
	log_str(KIO_LOG_WARN, "1 999999");
	assert_int_equal(kio_log_dropped() - dropped0, written - QUEUE_SLOTS + 1);
	assert_int_equal(kio_log_flush(1 * KT_MS), -ETIMEDOUT);

	cap_open_gate();
	assert_int_equal(kio_log_flush(60000 * KT_MS), 0);
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.count, 1 + QUEUE_SLOTS);
	assert_int_equal(cap.parse_errors, 0);
	assert_int_equal(cap.out_of_order, 0);
	/* The queue stayed full from the moment it filled, so each writer got
	 * a prefix of its messages in: 0, 1, ..., k-1. */
	assert_int_equal(cap.per_thread[FLOOD_THREADS], 1);
	size_t sum = 0;
	for (unsigned t = 0; t < FLOOD_THREADS; t++) {
		assert_int_equal(cap.next_seq[t], cap.per_thread[t]);
		sum += cap.per_thread[t];
	}
	pthread_mutex_unlock(&cap.mu);
	assert_int_equal(sum, QUEUE_SLOTS);
	assert_int_equal(kio_log_dropped() - dropped0, written - QUEUE_SLOTS + 1);
	log_restore();
}

/* A handler that runs, slowly, while four threads write: every message is
 * either delivered, in its writer's order, or counted as dropped. */
static void test_log_flood_slow_handler(void **state)
{
	(void)state;
	struct flood_writer w[FLOOD_THREADS];
	const uint64_t written = (uint64_t)FLOOD_THREADS * FLOOD_EACH;

	cap_reset();
	cap.slow = 1;
	kio_log_set_handler(flood_handler, NULL);
	uint64_t dropped0 = kio_log_dropped();
	flood_start(w);
	if (!flood_wait(120000))
		fail_msg("writers did not finish");
	uint64_t write_ns = 0;
	for (unsigned t = 0; t < FLOOD_THREADS; t++) {
		assert_int_equal(pthread_join(w[t].thread, NULL), 0);
		write_ns += w[t].ns;
	}
	assert_int_equal(kio_log_flush(60000 * KT_MS), 0);
	uint64_t dropped = kio_log_dropped() - dropped0;
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.parse_errors, 0);
	assert_int_equal(cap.out_of_order, 0);
	assert_int_equal(cap.count + dropped, written);
	assert_true(cap.count >= QUEUE_SLOTS);
	pthread_mutex_unlock(&cap.mu);
	/* Still the one log thread. */
	int log_threads = 0;
	assert_true(find_log_threads(&log_threads) > 0);
	assert_int_equal(log_threads, 1);
	print_message("flood: %llu written, %llu delivered, %llu dropped, %.0f ns per write\n",
		      (unsigned long long)written, (unsigned long long)(written - dropped),
		      (unsigned long long)dropped, (double)write_ns / (double)written);
	log_restore();
}

/* Reads what is in fd now (non-blocking) into buf; returns the length. */
static size_t read_available(int fd, char *buf, size_t size)
{
	size_t got = 0;
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	for (;;) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static void test_log_default_stderr(void **state)
{
	(void)state;
	int p[2];
	char big[KIO_LOG_MAX_MESSAGE + 10];
	static char out[4 * KIO_LOG_MAX_MESSAGE];

	memset(big, 'x', sizeof(big));
	kt_pipe(p);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(p[1], STDERR_FILENO) == STDERR_FILENO);

	/* A handler set, then NULL: back to stderr. */
	kio_log_set_handler(cap_handler, &cap);
	kio_log_set_handler(NULL, &cap);
	kio_log_set_level(KIO_LOG_DEBUG);
	log_str(KIO_LOG_WARN, "hello stderr");
	log_str(KIO_LOG_DEBUG, "d");
	log_str(KIO_LOG_INFO, "i");
	log_str(KIO_LOG_ERROR, "e");
	log_str(KIO_LOG_FATAL, "f");
	kio_log_write(KIO_LOG_WARN, big, sizeof(big));
	int rc = kio_log_flush(WAIT_MS * KT_MS);

	assert_true(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	assert_int_equal(close(saved), 0);
	assert_int_equal(rc, 0);
	size_t n = read_available(p[0], out, sizeof(out));
	kt_close_pipe(p);

	const char *want = "kio: WARN: hello stderr\n"
			   "kio: DEBUG: d\n"
			   "kio: INFO: i\n"
			   "kio: ERROR: e\n"
			   "kio: FATAL: f\n"
			   "kio: WARN: ";
	size_t wl = strlen(want);
	assert_int_equal(n, wl + KIO_LOG_MAX_MESSAGE + 1);
	assert_memory_equal(out, want, wl);
	assert_memory_equal(out + wl, big, KIO_LOG_MAX_MESSAGE);
	assert_int_equal(out[n - 1], '\n');
	log_restore();
}

static void test_log_flush_timeout(void **state)
{
	(void)state;

	/* Nothing pending: 0 at once, even without time to wait. */
	assert_int_equal(kio_log_flush(0), 0);

	cap_reset();
	cap_close_gate();
	kio_log_set_handler(cap_handler, &cap);
	log_str(KIO_LOG_WARN, "stuck");
	cap_wait_entered(1);
	log_str(KIO_LOG_WARN, "queued");
	assert_int_equal(kio_log_flush(0), -ETIMEDOUT);
	uint64_t t0 = kt_now_ns();
	assert_int_equal(kio_log_flush(30 * KT_MS), -ETIMEDOUT);
	assert_true(kt_now_ns() - t0 >= 30 * KT_MS);
	assert_int_equal(cap_count(), 0);

	cap_open_gate();
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 2);
	assert_memory_equal(cap.recs[1].msg, "queued", 6);
	log_restore();
}

static int swapped;
static void *swap_handler_main(void *arg)
{
	(void)arg;
	kio_log_set_handler(discard_handler, NULL);
	__atomic_store_n(&swapped, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* kio_log_set_handler() returns only once the old handler has returned,
 * so its user_data can be freed right after. */
static void test_log_set_handler_waits(void **state)
{
	(void)state;
	pthread_t t;

	cap_reset();
	cap_close_gate();
	kio_log_set_handler(cap_handler, &cap);
	log_str(KIO_LOG_WARN, "in the handler");
	cap_wait_entered(1);
	swapped = 0;
	assert_int_equal(pthread_create(&t, NULL, swap_handler_main, NULL), 0);
	/* For a while the old handler still runs: the swap must not return. */
	uint64_t end = kt_now_ns() + 50 * KT_MS;
	while (kt_now_ns() < end) {
		assert_int_equal(__atomic_load_n(&swapped, __ATOMIC_SEQ_CST), 0);
		usleep(1000);
	}
	cap_open_gate();
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(swapped, 1);

	/* From now on the new handler gets the messages. */
	log_str(KIO_LOG_WARN, "to discard");
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 1);
	log_restore();
}

/* A handler may log (the message is queued behind it), flush (it cannot
 * wait for itself: -ETIMEDOUT at once) and swap itself for another. */
static int reentry_flush_rc;
static void reentrant_handler(void *user_data, int level, const char *msg, size_t len)
{
	(void)user_data;
	if (len == 5 && memcmp(msg, "first", 5) == 0) {
		log_str(level, "from the handler");
		uint64_t t0 = kt_now_ns();
		reentry_flush_rc = kio_log_flush(60000 * KT_MS);
		if (kt_now_ns() - t0 > 30000 * KT_MS)
			reentry_flush_rc = 1;
		kio_log_set_handler(cap_handler, &cap);
	}
}

static void test_log_handler_reentry(void **state)
{
	(void)state;

	cap_reset();
	reentry_flush_rc = 0;
	kio_log_set_handler(reentrant_handler, NULL);
	log_str(KIO_LOG_ERROR, "first");
	/* The first flush covers "first" only: the handler queues its own
	 * message after this flush began, and a second flush covers that. */
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(reentry_flush_rc, -ETIMEDOUT);
	assert_int_equal(cap_count(), 1);
	assert_int_equal(cap.recs[0].level, KIO_LOG_ERROR);
	assert_int_equal(cap.recs[0].len, strlen("from the handler"));
	assert_memory_equal(cap.recs[0].msg, "from the handler", cap.recs[0].len);
	log_restore();
}

/* Index of the first recorded message containing s, or -1. */
static int cap_find(const char *s, size_t from)
{
	size_t n = cap_count();
	for (size_t i = from; i < n && i < MAX_RECORDS; i++)
		if (memmem(cap.recs[i].msg, cap.recs[i].len, s, strlen(s)))
			return (int)i;
	return -1;
}

static kio_ctx *ctx_with(uint32_t flags, uint32_t sq, uint32_t cq)
{
	kio_ctx_opts o;
	kio_ctx *ctx = NULL;
	kio_ctx_opts_init(&o, sizeof(o));
	o.flags = flags;
	if (sq)
		o.sq_entries = sq;
	if (cq)
		o.cq_entries = cq;
	int rc = kio_ctx_create(&ctx, &o, sizeof(o));
	if (rc == -EPERM || rc == -ENOSYS) {
		fprintf(stderr, "io_uring unavailable (%s): skipping\n", kio_strerror(rc));
		exit(KT_SKIP);
	}
	assert_int_equal(rc, 0);
	return ctx;
}

static void test_log_ring_setup_message(void **state)
{
	(void)state;

	cap_reset();
	kio_log_set_handler(cap_handler, &cap);

	/* At the default level (WARN) the INFO message is filtered. */
	kio_ctx *ctx = ctx_with(KIO_CTX_NO_DEFER_TASKRUN, 0, 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 0);

	kio_log_set_level(KIO_LOG_INFO);
	ctx = ctx_with(KIO_CTX_NO_DEFER_TASKRUN, 0, 0);
	if (kio_ctx_backend(ctx) != KIO_BACKEND_IO_URING) {
		/* No ring to set up: the epoll backend says nothing of rings. */
		kio_ctx_destroy(ctx);
		log_restore();
		fprintf(stderr, "not on io_uring: no ring setup message to check\n");
		skip();
	}
	kio_ctx_destroy(ctx);
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	int i = cap_find("ring setup: ", 0);
	assert_true(i >= 0);
	assert_int_equal(cap.recs[i].level, KIO_LOG_INFO);
	if (cap_find("kernel refused", 0) < 0) {
		/* No fallback on this kernel: the message names the option. */
		assert_true(cap_find("(KIO_CTX_NO_DEFER_TASKRUN); using ", 0) == i);
		assert_true(cap_find("COOP_TASKRUN", 0) == i);
	}
	assert_true(cap_find("DEFER_TASKRUN", (size_t)i + 1) < 0); /* said once */

	/* A default ctx logs only what the kernel refused, if anything. */
	size_t before = cap_count();
	ctx = ctx_with(0, 0, 0);
	kio_ctx_destroy(ctx);
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	for (size_t k = before; k < cap_count(); k++)
		assert_non_null(memmem(cap.recs[k].msg, cap.recs[k].len, "the kernel refused", 18));
	log_restore();
}

static void count_cb(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	int *n = user_data;
	if (res == 0)
		(*n)++;
}

/* Starts n nops at once on a ring whose CQ holds 8 and runs them all. */
static void overflow_burst(kio_ctx *ctx, int n)
{
	int done = 0;
	for (int i = 0; i < n; i++)
		assert_true(kio_nop(ctx, count_cb, &done) >= 0);
	assert_int_equal(kio_ctx_run(ctx), 0);
	assert_int_equal(done, n); /* the kernel lost nothing */
}

static int cap_count_matching(const char *s)
{
	int n = 0;
	for (size_t i = 0; i < cap_count() && i < MAX_RECORDS; i++)
		if (memmem(cap.recs[i].msg, cap.recs[i].len, s, strlen(s)))
			n++;
	return n;
}

static void test_log_cq_overflow(void **state)
{
	(void)state;

	cap_reset();
	kio_log_set_handler(cap_handler, &cap);
	uint64_t t0 = kt_now_ns();
	kio_ctx *a = ctx_with(0, 8, 8);
	kio_ctx *b = ctx_with(0, 8, 8);
	for (int round = 0; round < 3; round++)
		overflow_burst(a, 512);
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	int warned_a = cap_count_matching("CQ overflow");
	double seconds = (double)(kt_now_ns() - t0) / 1e9;
	if (warned_a == 0) {
		kio_ctx_destroy(a);
		kio_ctx_destroy(b);
		log_restore();
		skip(); /* this kernel never flagged an overflow */
	}
	/* Rate-limited to one a second per ctx. */
	assert_true(warned_a <= 1 + (int)seconds);
	int i = cap_find("CQ overflow", 0);
	assert_int_equal(cap.recs[i].level, KIO_LOG_WARN);
	assert_non_null(memmem(cap.recs[i].msg, cap.recs[i].len, "cq_entries", 10));

	/* Another ctx has its own budget. */
	overflow_burst(b, 512);
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	seconds = (double)(kt_now_ns() - t0) / 1e9;
	int warned = cap_count_matching("CQ overflow");
	assert_true(warned > warned_a);
	assert_true(warned <= 2 * (1 + (int)seconds));
	kio_ctx_destroy(a);
	kio_ctx_destroy(b);
	log_restore();
}

/* ---- fork and exit ------------------------------------------------------ */

static int pipe_out = -1;
static void line_handler(void *user_data, int level, const char *msg, size_t len)
{
	char line[KIO_LOG_MAX_MESSAGE + 1];
	(void)user_data;
	(void)level;
	memcpy(line, msg, len);
	line[len] = '\n';
	if (write(pipe_out, line, len + 1) != (ssize_t)(len + 1))
		abort();
	usleep(200); /* slow: most messages are still queued at exit */
}

/* Reads fd to end of file (bounded by WAIT_MS per read) into buf. */
static size_t read_to_eof(int fd, char *buf, size_t size)
{
	size_t got = 0;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, WAIT_MS);
		if (pr <= 0)
			fail_msg("no end of file within %d ms", WAIT_MS);
		ssize_t n = read(fd, buf + got, size - got);
		assert_true(n >= 0);
		if (n == 0)
			return got;
		got += (size_t)n;
		assert_true(got < size);
	}
}

/*
 * The child of fork() has no log thread and none of the parent's queued
 * messages (the parent delivers those); its first message starts its own
 * thread. The parent's log thread is inside a stuck handler, holding the
 * handler lock, when it forks: the child must not inherit that lock held.
 */
static void test_log_fork(void **state)
{
	(void)state;
#ifdef KT_TSAN
	/* TSan cannot start threads in the child of a threaded process. */
	skip();
#endif
	int p[2];
	char buf[256];

	cap_reset();
	cap_close_gate();
	kio_log_set_handler(cap_handler, &cap);
	log_str(KIO_LOG_WARN, "parent 1");
	cap_wait_entered(1);
	log_str(KIO_LOG_WARN, "parent 2"); /* queued behind the stuck one */
	kt_pipe(p);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		pipe_out = p[1];
		kio_log_set_handler(line_handler, NULL);
		log_str(KIO_LOG_WARN, "child");
		int ok = kio_log_flush(WAIT_MS * KT_MS) == 0 && find_log_thread() > 0;
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(close(p[1]), 0);
	p[1] = -1;
	size_t n = read_to_eof(p[0], buf, sizeof(buf));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "child\n", 6);
	kt_close_pipe(p);

	cap_open_gate();
	assert_int_equal(kio_log_flush(WAIT_MS * KT_MS), 0);
	assert_int_equal(cap_count(), 2);
	assert_memory_equal(cap.recs[1].msg, "parent 2", 8);
	log_restore();
}

/* The child of test_log_exit: queues messages a slow handler cannot keep
 * up with, then returns from main without flushing. */
static int exit_child(void)
{
	char m[32];
	pipe_out = STDOUT_FILENO;
	kio_log_set_handler(line_handler, NULL);
	for (int i = 0; i < EXIT_CHILD_MESSAGES; i++) {
		int n = snprintf(m, sizeof(m), "exit %d", i);
		kio_log_write(KIO_LOG_WARN, m, (size_t)n);
	}
	return 0;
}

/* At exit the library's destructor lets the log thread drain the queue
 * before the process ends: nothing queued is lost. */
static void test_log_exit_drains(void **state)
{
	(void)state;
	int p[2];
	static char buf[16384];
	char *argv[] = {"test_log", "--exit-child", NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;

	kt_pipe(p);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO), 0);
	assert_int_equal(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(close(p[1]), 0);
	p[1] = -1;
	size_t n = read_to_eof(p[0], buf, sizeof(buf));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	kt_close_pipe(p);

	size_t off = 0;
	for (int i = 0; i < EXIT_CHILD_MESSAGES; i++) {
		char m[32];
		int len = snprintf(m, sizeof(m), "exit %d\n", i);
		if (off + (size_t)len > n || memcmp(buf + off, m, (size_t)len) != 0)
			fail_msg("message %d missing after exit (%zu bytes read)", i, n);
		off += (size_t)len;
	}
	assert_int_equal(off, n);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--exit-child") == 0)
		return exit_child();

	const struct CMUnitTest before_logging[] = {
		cmocka_unit_test(test_log_lazy_start),
	};
	const struct CMUnitTest tests[] = {
		KT_TEST(test_log_order_and_bytes),
		KT_TEST(test_log_level_filter),
		KT_TEST(test_log_flood_stuck_handler),
		KT_TEST(test_log_flood_slow_handler),
		KT_TEST(test_log_default_stderr),
		KT_TEST(test_log_flush_timeout),
		KT_TEST(test_log_set_handler_waits),
		KT_TEST(test_log_handler_reentry),
		KT_TEST(test_log_ring_setup_message),
		KT_TEST(test_log_cq_overflow),
		KT_TEST(test_log_fork),
		KT_TEST(test_log_exit_drains),
	};
	int failed =
		cmocka_run_group_tests_name("log before any message", before_logging, NULL, NULL);
	failed += cmocka_run_group_tests_name("log", tests, group_setup, NULL);
	return failed;
}
