/* SPDX-License-Identifier: MIT */
/*
 * kio/signal.h - signals as completions. A set blocks its signals with
 * pthread_sigmask(3) in the CALLING thread and reads them through a
 * signalfd: create it in main() before starting other threads, so every
 * thread inherits the mask and no thread takes the signal the old way.
 */
#ifndef KIO_SIGNAL_H
#define KIO_SIGNAL_H

#include <kio/common.h>

KIO_EXTERN_C_BEGIN

/*
 * Blocks signals[0..count-1] (count >= 1; not SIGKILL or SIGSTOP) in the
 * calling thread and opens a signalfd for them. Returns 0 with *out set,
 * -EINVAL, -ENOMEM, -EMFILE.
 */
KIO_API int kio_signal_set_create(kio_signal_set **out, const int *signals,
				  size_t count) KIO_NOEXCEPT;

/*
 * Closes the signalfd and restores, in the calling thread, the mask the
 * signals had before create. NULL is a no-op. Waits on it must have ended.
 */
KIO_API void kio_signal_set_destroy(kio_signal_set *set) KIO_NOEXCEPT;

/*
 * Calls back with res = the number of the next signal of set delivered to
 * the process or to ctx's thread (with KIO_CTX_SQPOLL, to the process
 * only: the kernel polls from its own thread). Each delivered signal
 * completes one wait; with several waits pending, one of them gets it and
 * the others keep waiting. A signal that arrives with no wait pending stays
 * pending (standard signals do not queue: two SIGUSR1 before a wait give
 * one completion). A multishot loop starts a new wait from the callback.
 */
KIO_API int64_t kio_signal_wait(kio_ctx *ctx, kio_signal_set *set, kio_cb cb,
				void *user_data) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_SIGNAL_H */
