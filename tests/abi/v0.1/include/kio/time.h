/* SPDX-License-Identifier: MIT */
/*
 * kio/time.h - timers. They live in user space (a heap the loop checks; the
 * kernel wait uses the nearest deadline): a timer costs no SQE and no
 * syscall. They are ops like any other: cancel them with kio_op_cancel(),
 * and their callbacks follow the contract in kio/ops.h.
 */
#ifndef KIO_TIME_H
#define KIO_TIME_H

#include <kio/common.h>

KIO_EXTERN_C_BEGIN

/* Calls back with res 0 once ns nanoseconds (CLOCK_MONOTONIC) have passed. */
KIO_API int64_t kio_sleep(kio_ctx *ctx, uint64_t ns, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * Calls back with res 0 at deadline_ns (nanoseconds since the clock's
 * epoch) of clockid: CLOCK_MONOTONIC, or CLOCK_REALTIME (converted to a
 * monotonic deadline when called: a later change of the wall clock does not
 * move it). A deadline in the past fires at the next loop round.
 * Errors: -EINVAL also for any other clockid.
 */
KIO_API int64_t kio_sleep_until(kio_ctx *ctx, int clockid, uint64_t deadline_ns, kio_cb cb,
				void *user_data) KIO_NOEXCEPT;

/*
 * Multishot: calls back with res 0 and KIO_F_MORE every period_ns
 * (period_ns > 0) until cancelled; the final call has res -ECANCELED (or
 * -ETIMEDOUT) and no KIO_F_MORE. Ticks keep to the original schedule
 * (start + n * period) even when one runs a little late; ticks missed
 * entirely while the loop was busy are not replayed: the schedule then
 * restarts one period after the late tick.
 */
KIO_API int64_t kio_timer_periodic(kio_ctx *ctx, uint64_t period_ns, kio_cb cb,
				   void *user_data) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_TIME_H */
