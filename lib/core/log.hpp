// SPDX-License-Identifier: MIT
// The library's own messages to kio's log (kio/log.h). Only rare events
// belong here (a feature the kernel refused, CQ overflow): never log on
// the path of an op.
#pragma once

#include <cstddef>

#include <kio/log.h>

struct kio_ctx;

namespace kio {

// Whether a message of level would pass the filter: check it before
// building an expensive message.
bool log_enabled(int level) noexcept;

// kio_log_write() without the trip through the exported symbol.
void log_write(int level, const char *msg, size_t len) noexcept;

// printf into a stack buffer (output past KIO_LOG_MAX_MESSAGE bytes is
// cut), then log_write(). Allocates nothing, never blocks, keeps errno.
void log_printf(int level, const char *fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

// log_events.cpp: the events kio reports, one cold function each, so the
// code that notices an event spends one call on it.

// Ring setup went without some flags: refused by the kernel (refused), or,
// with refused 0, declined by KIO_CTX_NO_DEFER_TASKRUN. INFO.
void log_ring_setup(unsigned refused, unsigned chosen) noexcept;
// The kernel flagged IORING_SQ_CQ_OVERFLOW on c's ring. WARN, at most once
// a second per ctx.
void log_cq_overflow(kio_ctx *c) noexcept;
// io_uring_setup failed with err (EPERM, EACCES, ENOSYS): the epoll backend
// takes over. INFO, once per process.
void log_backend_fallback(int err) noexcept;
// KIO_BACKEND holds something else than io_uring or epoll. WARN, once.
void log_backend_unknown(const char *value) noexcept;

} // namespace kio
