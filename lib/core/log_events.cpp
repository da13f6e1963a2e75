// SPDX-License-Identifier: MIT
// The library's own log messages: the wording of each event, and its rate
// limit where one is needed. Everything here is cold.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/ctx.hpp"
#include "core/log.hpp"

namespace kio {
namespace {

// "A|B|C" for the setup flags that matter to a reader of the log.
const char *flag_names(char (&buf)[160], unsigned flags) noexcept
{
	static const struct {
		unsigned flag;
		const char *name;
	} names[] = {
		{IORING_SETUP_SQPOLL, "SQPOLL"},
		{IORING_SETUP_SQ_AFF, "SQ_AFF"},
		{IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER"},
		{IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN"},
		{IORING_SETUP_R_DISABLED, "R_DISABLED"},
		{IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
		{IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG"},
		{IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL"},
	};
	size_t at = 0;
	buf[0] = 0;
	for (const auto &n : names) {
		if (!(flags & n.flag) || at >= sizeof(buf))
			continue;
		int len = snprintf(buf + at, sizeof(buf) - at, "%s%s", at ? "|" : "", n.name);
		if (len > 0)
			at += size_t(len);
	}
	return at ? buf : "no optional flags";
}

} // namespace

void log_ring_setup(unsigned refused, unsigned chosen) noexcept
{
	if (!log_enabled(KIO_LOG_INFO))
		return;
	char a[160], b[160];
	if (refused)
		log_printf(KIO_LOG_INFO, "ring setup: the kernel refused %s; using %s",
			   flag_names(a, refused), flag_names(b, chosen));
	else
		log_printf(KIO_LOG_INFO,
			   "ring setup: SINGLE_ISSUER|DEFER_TASKRUN not requested "
			   "(KIO_CTX_NO_DEFER_TASKRUN); using %s",
			   flag_names(b, chosen));
}

// Nothing is lost (the loop fetches what the kernel kept aside), but the
// CQ is too small for the load.
void log_cq_overflow(kio_ctx *c) noexcept
{
	uint64_t now = mono_ns();
	if (c->cq_overflow_logged && now - c->cq_overflow_logged < 1000000000ull)
		return;
	c->cq_overflow_logged = now;
	log_printf(KIO_LOG_WARN,
		   "CQ overflow on ring fd %d: completions outran the %u-entry CQ; "
		   "raise kio_ctx_opts.cq_entries",
		   c->ring.fd(), c->ring.raw()->cq.ring_entries);
}

void log_backend_fallback(int err) noexcept
{
	static std::atomic<bool> said{false};
	if (said.exchange(true, std::memory_order_relaxed))
		return;
	const char *why = err == -ENOSYS ? "the kernel has no io_uring, or one older than 5.11" :
					   "the system does not allow it (seccomp, kernel.io_uring_disabled)";
	log_printf(KIO_LOG_INFO, "io_uring unavailable (io_uring_setup: %s): %s; using the epoll backend",
		   strerror(-err), why);
}

void log_backend_unknown(const char *value) noexcept
{
	static std::atomic<bool> said{false};
	if (said.exchange(true, std::memory_order_relaxed))
		return;
	log_printf(KIO_LOG_WARN, "KIO_BACKEND=%.64s is neither io_uring nor epoll; ignored", value);
}

} // namespace kio
