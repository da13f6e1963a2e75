/* SPDX-License-Identifier: MIT */
/*
 * kio/log.h - the library's log, open to programs too. kio_log_write()
 * copies the message into a bounded queue and returns: it never blocks and
 * never does I/O. A background thread (started on first use) hands queued
 * messages to the handler in order. When the queue is full the message is
 * dropped and counted. kio itself logs rare events here: the ring features
 * it fell back from, CQ overflow, a pipe it had to throw away.
 * Every function here is thread-safe. The queue is drained at exit(); the
 * child of fork() starts with an empty queue and no log thread, which its
 * first message starts.
 */
#ifndef KIO_LOG_H
#define KIO_LOG_H

#include <kio/common.h>

KIO_EXTERN_C_BEGIN

#define KIO_LOG_DEBUG 0
#define KIO_LOG_INFO 1
#define KIO_LOG_WARN 2
#define KIO_LOG_ERROR 3
#define KIO_LOG_FATAL 4

/* Longest message kept; longer ones are cut to this many bytes. */
#define KIO_LOG_MAX_MESSAGE 1024

/*
 * Receives one message (not NUL-terminated; len bytes) on the log thread.
 * It may block or do I/O; it must not call kio_log_set_handler().
 */
typedef void (*kio_log_fn)(void *user_data, int level, const char *msg, size_t len);

/*
 * Messages below level are discarded at kio_log_write(). Default
 * KIO_LOG_WARN. A level outside DEBUG..FATAL is clamped into it.
 */
KIO_API void kio_log_set_level(int level) KIO_NOEXCEPT;
KIO_API int kio_log_level(void) KIO_NOEXCEPT;

/*
 * Sends messages to fn from now on (messages queued before are delivered to
 * whichever handler is current when they are taken). NULL restores the
 * default sink: one line per message on stderr, "kio: LEVEL: message".
 * Returns once the previous handler is no longer running.
 */
KIO_API void kio_log_set_handler(kio_log_fn fn, void *user_data) KIO_NOEXCEPT;

/*
 * Queues a message of level (KIO_LOG_*). msg NULL or a level below the
 * filter: nothing happens. Never blocks; drops and counts when full.
 */
KIO_API void kio_log_write(int level, const char *msg, size_t len) KIO_NOEXCEPT;

/* Messages dropped because the queue was full, since the process started. */
KIO_API uint64_t kio_log_dropped(void) KIO_NOEXCEPT;

/*
 * Waits until every message queued before the call was handed to the
 * handler, or timeout_ns passed (0: do not wait). Returns 0, or -ETIMEDOUT.
 * Useful before _exit() and in tests. From the handler it does not wait.
 */
KIO_API int kio_log_flush(uint64_t timeout_ns) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_LOG_H */
