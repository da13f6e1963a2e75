// SPDX-License-Identifier: MIT
// STUB: placeholder so the library links; replaced by the real code.
#include <cerrno>

#include "ctx.hpp"

KIO_API int64_t kio_resolve(kio_ctx *ctx, kio_pool *pool, const char *host, const char *service, const struct addrinfo *hints, struct addrinfo **out, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}
