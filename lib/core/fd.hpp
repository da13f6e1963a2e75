// SPDX-License-Identifier: MIT
// Tables indexed by fd (kio_ctx::fd_inflight, the epoll backend's fd
// states) grow to the highest fd they meet. They grow only for open
// descriptors: an op on a number like 2**31 - 1 would otherwise allocate
// gigabytes before the kernel answered -EBADF.
#pragma once

#include <cerrno>

#include <fcntl.h>

#include "core/guard.hpp"

namespace kio {

inline bool fd_open(int fd) noexcept
{
	ErrnoKeeper keep_errno;
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

} // namespace kio
