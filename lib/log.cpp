// SPDX-License-Identifier: MIT
// STUB: placeholder so the library links; replaced by the real code.
#include <cerrno>

#include "ctx.hpp"

KIO_API void kio_log_set_level(int level) noexcept
{
	
}

KIO_API int kio_log_level(void) noexcept
{
	return -ENOSYS;
}

KIO_API void kio_log_set_handler(kio_log_fn fn, void *user_data) noexcept
{
	
}

KIO_API void kio_log_write(int level, const char *msg, size_t len) noexcept
{
	
}

KIO_API uint64_t kio_log_dropped(void) noexcept
{
	return 0;
}

KIO_API int kio_log_flush(uint64_t timeout_ns) noexcept
{
	return -ENOSYS;
}
