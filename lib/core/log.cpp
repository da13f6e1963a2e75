// SPDX-License-Identifier: MIT
// The asynchronous log: a bounded multi-producer, single-consumer queue of
// fixed-size slots, drained by one background thread.
//
// Writers never wait for anything. A writer claims a position with one
// compare-and-swap on the tail, copies its message into that position's
// slot and publishes it with a release store of the slot's state; when the
// slot is still held by a message of the previous lap, the queue is full
// and the message is dropped and counted. No lock is involved, so a writer
// cannot be held up by the log thread, whatever the handler does. The only
// system call a writer can make is a futex wake, when the log thread sleeps
// (and, once per process, the creation of that thread).
//
// The log thread copies a message out of its slot, frees the slot, then
// calls the handler under handler_mu. That mutex is what makes
// kio_log_set_handler() return only once the previous handler has
// finished; writers never touch it.
//
// The slots are a static array (about 1 MiB of zero-filled memory, which
// costs nothing until a message lands in a slot): nothing is allocated,
// and "free for lap 0" is the all-zero state.
#include "core/log.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <strings.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/guard.hpp"

namespace kio {
namespace {

// Documented in kio_log_write(3): the queue holds this many messages.
constexpr uint64_t kSlots = 1024;

struct alignas(64) Slot {
	// 2 * lap: free for position lap * kSlots + index;
	// 2 * lap + 1: holds the message of that position.
	std::atomic<uint64_t> state{0};
	int32_t level = 0;
	uint32_t len = 0;
	char msg[KIO_LOG_MAX_MESSAGE] = {};
};

enum ThreadState : int { kNone, kStarting, kRunning, kStopped };

constinit Slot slots[kSlots];

// Producers: the next position to claim.
alignas(64) constinit std::atomic<uint64_t> tail{0};
// The log thread: the next position to take, and the positions handed to
// the handler (and returned from it), for kio_log_flush().
alignas(64) constinit uint64_t head = 0;
constinit std::atomic<uint64_t> delivered{0};

alignas(64) constinit std::atomic<uint64_t> dropped{0};
constinit std::atomic<int> level_min{KIO_LOG_WARN};
constinit std::atomic<int> thread_state{kNone};
constinit std::atomic<bool> stop{false};

// Futex words: work wakes the log thread (when sleeping says it waits),
// done wakes flushers (when flushers says someone waits).
constinit std::atomic<uint32_t> work{0};
constinit std::atomic<uint32_t> sleeping{0};
constinit std::atomic<uint32_t> done{0};
constinit std::atomic<uint32_t> flushers{0};

pthread_t log_thread;
thread_local bool on_log_thread = false;
bool atfork_registered = false; // only touched by the thread that wins kStarting

pthread_mutex_t handler_mu = PTHREAD_MUTEX_INITIALIZER;
kio_log_fn handler_fn = nullptr; // guarded by handler_mu; nullptr: stderr
void *handler_ud = nullptr;      // guarded by handler_mu

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
		      std::atomic<uint32_t>::is_always_lock_free,
	      "futex words must be plain 32-bit words");

uint32_t *futex_word(std::atomic<uint32_t> &a) noexcept { return reinterpret_cast<uint32_t *>(&a); }

// Both keep errno: a writer's or flusher's errno is the caller's.
void futex_wait(std::atomic<uint32_t> &word, uint32_t seen, const timespec *rel) noexcept
{
	ErrnoKeeper keep_errno;
	syscall(SYS_futex, futex_word(word), FUTEX_WAIT_PRIVATE, seen, rel, nullptr, 0);
}

void futex_wake(std::atomic<uint32_t> &word, int n) noexcept
{
	ErrnoKeeper keep_errno;
	syscall(SYS_futex, futex_word(word), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

int clamp_level(int level) noexcept
{
	if (level < KIO_LOG_DEBUG)
		return KIO_LOG_DEBUG;
	return level > KIO_LOG_FATAL ? KIO_LOG_FATAL : level;
}

// KIO_LOG_LEVEL=debug|info|warn|error|fatal (or 0..4) in the environment
// sets the level the process starts with; kio_log_set_level() still wins.
[[gnu::constructor]] void level_from_environment() noexcept
{
	const char *v = getenv("KIO_LOG_LEVEL");
	if (!v || !*v)
		return;
	static const char *const names[] = {"debug", "info", "warn", "error", "fatal"};
	for (int i = 0; i < 5; i++) {
		if (strcasecmp(v, names[i]) == 0 || (v[0] == char('0' + i) && v[1] == '\0')) {
			level_min.store(i, std::memory_order_relaxed);
			return;
		}
	}
}

const char *level_name(int level) noexcept
{
	static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
	return names[clamp_level(level)];
}

// The default handler: "kio: LEVEL: message\n" in one write(2), so lines
// from several processes sharing stderr do not interleave.
void stderr_sink(int level, const char *msg, size_t len) noexcept
{
	char line[KIO_LOG_MAX_MESSAGE + 32];
	int n = snprintf(line, sizeof(line), "kio: %s: ", level_name(level));
	if (n < 0)
		return;
	size_t total = size_t(n);
	memcpy(line + total, msg, len);
	total += len;
	line[total++] = '\n';
	for (size_t off = 0; off < total;) {
		ssize_t w = write(STDERR_FILENO, line + off, total - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += size_t(w);
	}
}

// Wakes the log thread if it sleeps. The fences pair with the ones in
// log_main(): either the thread sees the message published before it
// sleeps, or the writer sees it sleeping and wakes it.
void wake_log_thread() noexcept
{
	std::atomic_thread_fence(std::memory_order_seq_cst);
	if (sleeping.load(std::memory_order_relaxed) &&
	    sleeping.exchange(0, std::memory_order_seq_cst)) {
		work.fetch_add(1, std::memory_order_seq_cst);
		futex_wake(work, 1);
	}
}

void wake_flushers() noexcept
{
	std::atomic_thread_fence(std::memory_order_seq_cst);
	if (flushers.load(std::memory_order_relaxed)) {
		done.fetch_add(1, std::memory_order_seq_cst);
		futex_wake(done, INT_MAX);
	}
}

// Not noexcept, like everything on the log thread's stack: a handler that
// ends the thread (pthread_exit(), or a language runtime shutting down and
// retiring foreign threads) unwinds it, which a noexcept frame would turn
// into std::terminate(). The lock is released on the way out.
void deliver(int level, const char *msg, size_t len)
{
	struct Hold {
		Hold() { pthread_mutex_lock(&handler_mu); }
		~Hold() { pthread_mutex_unlock(&handler_mu); }
	} hold;
	if (handler_fn)
		handler_fn(handler_ud, level, msg, len);
	else
		stderr_sink(level, msg, len);
}

// Takes the message at head if it is published: true when one was handled.
bool take_one(char *buf)
{
	Slot &s = slots[head % kSlots];
	uint64_t full = 2 * (head / kSlots) + 1;
	if (s.state.load(std::memory_order_acquire) != full)
		return false;
	int level = s.level;
	uint32_t len = s.len;
	memcpy(buf, s.msg, len);
	// The slot is free again before the handler runs: a slow handler
	// holds one message, not one message and a slot.
	s.state.store(full + 1, std::memory_order_release);
	head++;
	deliver(level, buf, len);
	delivered.store(head, std::memory_order_release);
	wake_flushers();
	return true;
}

void *log_main(void *)
{
	on_log_thread = true;
	pthread_setname_np(pthread_self(), "kio-log");
	char buf[KIO_LOG_MAX_MESSAGE];
	for (;;) {
		if (take_one(buf))
			continue;
		// Nothing published: stop if asked, else sleep until a writer
		// or the exit handler bumps `work`. The stop flag was set after
		// the last messages of the exiting thread were published, and
		// the load above may have come before them: look once more.
		if (stop.load(std::memory_order_acquire)) {
			while (take_one(buf))
				;
			break;
		}
		uint32_t seen = work.load(std::memory_order_seq_cst);
		sleeping.store(1, std::memory_order_seq_cst);
		std::atomic_thread_fence(std::memory_order_seq_cst);
		uint64_t full = 2 * (head / kSlots) + 1;
		if (slots[head % kSlots].state.load(std::memory_order_acquire) != full &&
		    !stop.load(std::memory_order_acquire))
			futex_wait(work, seen, nullptr);
		sleeping.store(0, std::memory_order_relaxed);
	}
	return nullptr;
}

// A forked child has no log thread, and the queue it inherited holds the
// parent's messages (which the parent delivers) and maybe positions that
// threads gone in the child had claimed. Start afresh: an empty queue and
// a lock nobody holds; the next message starts a new thread.
void after_fork_child() noexcept
{
	uint64_t used = tail.load(std::memory_order_relaxed);
	for (uint64_t i = 0; i < kSlots && i < used; i++)
		slots[i].state.store(0, std::memory_order_relaxed);
	tail.store(0, std::memory_order_relaxed);
	head = 0;
	delivered.store(0, std::memory_order_relaxed);
	work.store(0, std::memory_order_relaxed);
	sleeping.store(0, std::memory_order_relaxed);
	done.store(0, std::memory_order_relaxed);
	flushers.store(0, std::memory_order_relaxed);
	stop.store(false, std::memory_order_relaxed);
	handler_mu = PTHREAD_MUTEX_INITIALIZER;
	on_log_thread = false;
	int st = thread_state.load(std::memory_order_relaxed);
	if (st != kStopped)
		thread_state.store(kNone, std::memory_order_relaxed);
}

// Starts the log thread unless it runs (or is being started) already.
[[gnu::cold, gnu::noinline]] void start_thread() noexcept
{
	int st = kNone;
	if (!thread_state.compare_exchange_strong(st, kStarting, std::memory_order_acq_rel))
		return;
	ErrnoKeeper keep_errno;
	if (!atfork_registered)
		atfork_registered = pthread_atfork(nullptr, nullptr, after_fork_child) == 0;
	// The thread inherits this mask: it never takes a signal meant for
	// the application.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&log_thread, nullptr, log_main, nullptr);
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	// On failure the next message tries again; until then messages wait
	// in the queue (and are dropped once it is full).
	st = kStarting;
	thread_state.compare_exchange_strong(st, rc == 0 ? kRunning : kNone,
					     std::memory_order_acq_rel);
}

// At exit (or when the library is unloaded): let the thread drain the
// queue, then join it, so messages logged just before exit are not lost.
[[gnu::destructor]] void stop_thread() noexcept
{
	stop.store(true, std::memory_order_seq_cst);
	int st = thread_state.exchange(kStopped, std::memory_order_acq_rel);
	if (st != kRunning || on_log_thread)
		return; // never started, or exit() called by the handler itself
	work.fetch_add(1, std::memory_order_seq_cst);
	futex_wake(work, 1);
	pthread_join(log_thread, nullptr);
}

} // namespace

bool log_enabled(int level) noexcept
{
	return level >= level_min.load(std::memory_order_relaxed);
}

void log_write(int level, const char *msg, size_t len) noexcept
{
	level = clamp_level(level);
	if (!msg || !log_enabled(level))
		return;
	int st = thread_state.load(std::memory_order_acquire);
	if (__builtin_expect(st == kStopped, 0)) {
		dropped.fetch_add(1, std::memory_order_relaxed);
		return;
	}
	if (len > KIO_LOG_MAX_MESSAGE)
		len = KIO_LOG_MAX_MESSAGE;

	uint64_t pos = tail.load(std::memory_order_relaxed);
	Slot *s;
	uint64_t free_state;
	for (;;) {
		s = &slots[pos % kSlots];
		free_state = 2 * (pos / kSlots);
		uint64_t state = s->state.load(std::memory_order_acquire);
		if (state == free_state) {
			if (tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed))
				break;
		} else if (state < free_state) {
			// Still holds the message of the previous lap: full.
			dropped.fetch_add(1, std::memory_order_relaxed);
			return;
		} else {
			pos = tail.load(std::memory_order_relaxed);
		}
	}
	s->level = level;
	s->len = uint32_t(len);
	memcpy(s->msg, msg, len);
	s->state.store(free_state + 1, std::memory_order_release);

	if (__builtin_expect(st == kNone, 0))
		start_thread();
	wake_log_thread();
}

void log_printf(int level, const char *fmt, ...) noexcept
{
	if (!log_enabled(level))
		return;
	ErrnoKeeper keep_errno;
	char buf[KIO_LOG_MAX_MESSAGE + 1];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	log_write(level, buf, size_t(n) < KIO_LOG_MAX_MESSAGE ? size_t(n) : KIO_LOG_MAX_MESSAGE);
}

} // namespace kio

KIO_API void kio_log_set_level(int level) noexcept
{
	kio::level_min.store(kio::clamp_level(level), std::memory_order_relaxed);
}

KIO_API int kio_log_level(void) noexcept
{
	return kio::level_min.load(std::memory_order_relaxed);
}

KIO_API void kio_log_set_handler(kio_log_fn fn, void *user_data) noexcept
{
	// From inside the handler, the log thread already holds the lock.
	bool locked = !kio::on_log_thread;
	if (locked)
		pthread_mutex_lock(&kio::handler_mu);
	kio::handler_fn = fn;
	kio::handler_ud = fn ? user_data : nullptr;
	if (locked)
		pthread_mutex_unlock(&kio::handler_mu);
}

KIO_API void kio_log_write(int level, const char *msg, size_t len) noexcept
{
	kio::log_write(level, msg, len);
}

KIO_API uint64_t kio_log_dropped(void) noexcept
{
	return kio::dropped.load(std::memory_order_relaxed);
}

KIO_API int kio_log_flush(uint64_t timeout_ns) noexcept
{
	using namespace kio;
	uint64_t target = tail.load(std::memory_order_acquire);
	if (delivered.load(std::memory_order_acquire) >= target)
		return 0;
	// The handler waiting for itself would wait out the whole timeout.
	if (timeout_ns == 0 || on_log_thread)
		return -ETIMEDOUT;
	if (thread_state.load(std::memory_order_acquire) == kNone)
		start_thread(); // an earlier start failed: try again
	uint64_t deadline = deadline_after(mono_ns(), timeout_ns);
	flushers.fetch_add(1, std::memory_order_seq_cst);
	int rc = 0;
	for (;;) {
		uint32_t seen = done.load(std::memory_order_seq_cst);
		if (delivered.load(std::memory_order_seq_cst) >= target)
			break;
		uint64_t now = mono_ns();
		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		uint64_t left = deadline - now;
		timespec rel;
		rel.tv_sec = time_t(left / 1000000000ull);
		rel.tv_nsec = long(left % 1000000000ull);
		futex_wait(done, seen, &rel);
	}
	flushers.fetch_sub(1, std::memory_order_relaxed);
	return rc;
}
