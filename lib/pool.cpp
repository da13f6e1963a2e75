// SPDX-License-Identifier: MIT
// STUB: placeholder so the library links; replaced by the real code.
#include <cerrno>

#include "ctx.hpp"

KIO_API int kio_pool_create(kio_pool **out, uint32_t threads) noexcept
{
	return -ENOSYS;
}

KIO_API void kio_pool_destroy(kio_pool *pool) noexcept
{
	
}

KIO_API int64_t kio_pool_submit(kio_ctx *ctx, kio_pool *pool, kio_work_fn fn, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}
