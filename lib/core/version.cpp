// SPDX-License-Identifier: MIT
#include <cstring>

#include <kio/common.h>

#define KIO_STR2(x) #x
#define KIO_STR(x) KIO_STR2(x)

KIO_API uint32_t kio_version(void) noexcept
{
	return (uint32_t(KIO_VERSION_MAJOR) << 16) | (uint32_t(KIO_VERSION_MINOR) << 8) | KIO_VERSION_PATCH;
}

KIO_API const char *kio_version_string(void) noexcept
{
	return KIO_STR(KIO_VERSION_MAJOR) "." KIO_STR(KIO_VERSION_MINOR) "." KIO_STR(KIO_VERSION_PATCH);
}

KIO_API const char *kio_strerror(int err) noexcept
{
	if (err >= 0)
		return "Success";
	if (err == INT32_MIN)
		return "Unknown error";
	// glibc's table of descriptions: static strings, safe from any thread
	// (unlike strerror, which may format into a shared buffer).
	const char *desc = strerrordesc_np(-err);
	return desc ? desc : "Unknown error";
}
