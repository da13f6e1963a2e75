// SPDX-License-Identifier: MIT
// STUB: placeholder so the library links; replaced by the real code.
#include <cerrno>

#include "ctx.hpp"

KIO_API int64_t kio_socket(kio_ctx *ctx, int domain, int type, int protocol, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_accept(kio_ctx *ctx, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_accept_multishot(kio_ctx *ctx, int fd, int flags, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_connect(kio_ctx *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_send(kio_ctx *ctx, int fd, const void *buf, size_t len, int flags, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_recv(kio_ctx *ctx, int fd, void *buf, size_t len, int flags, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_sendmsg(kio_ctx *ctx, int fd, const struct msghdr *msg, int flags, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_recvmsg(kio_ctx *ctx, int fd, struct msghdr *msg, int flags, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_send_zc(kio_ctx *ctx, int fd, const void *buf, size_t len, int flags, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_recv_multishot(kio_ctx *ctx, int fd, kio_buf_ring *ring, int flags, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

KIO_API int64_t kio_shutdown(kio_ctx *ctx, int fd, int how, kio_cb cb, void *user_data) noexcept
{
	return -ENOSYS;
}

namespace kio {
void net_teardown(kio_ctx *) noexcept {}
} // namespace kio
