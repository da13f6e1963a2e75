// SPDX-License-Identifier: MIT
// STUB: placeholder so the library links; replaced by the real code.
#include <cerrno>

#include "ctx.hpp"

KIO_API int kio_signal_set_create(kio_signal_set **out, const int *signals, size_t count) noexcept
{
	return -ENOSYS;
}

KIO_API void kio_signal_set_destroy(kio_signal_set *set) noexcept
{
	
}

KIO_API int64_t kio_signal_wait(kio_ctx *ctx, kio_signal_set *set, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}
