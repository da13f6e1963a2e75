// SPDX-License-Identifier: MIT
// Readiness: one-shot and multishot poll.
#include <cerrno>

#include "core/ctx.hpp"

using namespace kio;

KIO_API int64_t kio_poll(kio_ctx *ctx, int fd, uint32_t events, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_POLL_ADD, fd, false,
		      [&](io_uring_sqe *sqe) { io_uring_prep_poll_add(sqe, fd, events); });
}

KIO_API int64_t kio_poll_multishot(kio_ctx *ctx, int fd, uint32_t events, kio_cb cb,
				   void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_POLL_ADD, fd, false,
		      [&](io_uring_sqe *sqe) { io_uring_prep_poll_multishot(sqe, fd, events); });
}
