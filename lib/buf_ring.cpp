// SPDX-License-Identifier: MIT
// STUB: placeholder so the library links; replaced by the real code.
#include <cerrno>

#include "ctx.hpp"

KIO_API int kio_buf_ring_create(kio_buf_ring **out, kio_ctx *ctx, uint16_t group, uint32_t count, uint32_t size) noexcept
{
	return -ENOSYS;
}

KIO_API void kio_buf_ring_destroy(kio_buf_ring *ring) noexcept
{
	
}

KIO_API void *kio_buf_ring_data(kio_buf_ring *ring, uint16_t id) noexcept
{
	return nullptr;
}

KIO_API int kio_buf_ring_release(kio_buf_ring *ring, uint16_t id) noexcept
{
	return -ENOSYS;
}
