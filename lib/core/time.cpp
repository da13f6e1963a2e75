// SPDX-License-Identifier: MIT
// Timers: entries in the ctx's timer wheel, fired by the loop. No SQE, no syscall.
#include <cerrno>
#include <ctime>

#include "core/ctx.hpp"
#include "core/guard.hpp"
#include "core/user_op.hpp"

using namespace kio;

// Starts a timer firing at fire_at (monotonic ns), then every period ns if
// period is not 0. now: the monotonic time the caller read. The caller has
// passed begin_check(). May throw std::bad_alloc, with nothing started.
[[gnu::always_inline]] static inline int64_t
start_timer(kio_ctx *c, kio_cb cb, void *user_data, uint64_t fire_at, uint64_t period, uint64_t now)
{
	if (faults_nomem(c))
		return -ENOMEM;
	uint32_t idx = alloc_user_op(c, cb, user_data, period ? Kind::Periodic : Kind::Timer);
	Op &op = c->ops.at(idx);
	op.fire_at = fire_at;
	op.period = period;
	try {
		c->timers.set(c->ops, idx, fire_at, now);
	} catch (...) {
		c->ops.release(idx);
		throw;
	}
	op.state |= kTimed;
	c->in_user++;
	note_started(c, idx);
	return user_op_started(c, c->ops.id_of(idx));
}

KIO_API int64_t kio_sleep(kio_ctx *ctx, uint64_t ns, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	return guard<int64_t>([&] {
		uint64_t now = mono_ns();
		return start_timer(ctx, cb, user_data, deadline_after(now, ns), 0, now);
	});
}

KIO_API int64_t kio_sleep_until(kio_ctx *ctx, int clockid, uint64_t deadline_ns, kio_cb cb,
				void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (clockid != CLOCK_MONOTONIC && clockid != CLOCK_REALTIME)
		return -EINVAL;
	return guard<int64_t>([&] {
		uint64_t mono = mono_ns();
		uint64_t fire_at = deadline_ns;
		if (clockid == CLOCK_REALTIME) {
			// Translate once, now: the wheel runs on one clock.
			uint64_t real = clock_ns(CLOCK_REALTIME);
			fire_at = deadline_ns <= real ? mono : deadline_after(mono, deadline_ns - real);
		}
		if (fire_at == 0)
			fire_at = 1;
		return start_timer(ctx, cb, user_data, fire_at, 0, mono);
	});
}

KIO_API int64_t kio_timer_periodic(kio_ctx *ctx, uint64_t period_ns, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (period_ns == 0)
		return -EINVAL;
	return guard<int64_t>([&] {
		uint64_t now = mono_ns();
		return start_timer(ctx, cb, user_data, deadline_after(now, period_ns), period_ns, now);
	});
}
