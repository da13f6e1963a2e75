// SPDX-License-Identifier: MIT
// STUB: placeholder so the library links; replaced by the real code.
#include <cerrno>

#include "ctx.hpp"

KIO_API int64_t kio_sendfile(kio_ctx *ctx, int out_fd, int in_fd, uint64_t offset, size_t count, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}
