// SPDX-License-Identifier: MIT
// The read and write calls of the epoll backend's hot path, made directly:
// glibc's preadv2/pwritev2 are cancellation points, whose bookkeeping costs
// more than the rest of the call's user-space work, and a library should
// not be a place where pthread_cancel() lands anyway. Same contract as the
// system calls: >= 0, or -1 with errno set.
#pragma once

#include <cerrno>

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace kio::epoll::sys {

#if defined(__x86_64__)
inline long call6(long nr, long a, long b, long c, long d, long e, long f) noexcept
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	if (__builtin_expect(ret < 0 && ret > -4096, 0)) {
		errno = int(-ret);
		return -1;
	}
	return ret;
}
#else
inline long call6(long nr, long a, long b, long c, long d, long e, long f) noexcept
{
	return syscall(nr, a, b, c, d, e, f);
}
#endif

// The offset travels as low and high halves; on 64-bit the high one is 0.
inline long preadv2(int fd, const iovec *iov, int cnt, off_t off, int flags) noexcept
{
	return call6(SYS_preadv2, fd, long(iov), cnt, long(off), 0, flags);
}

inline long pwritev2(int fd, const iovec *iov, int cnt, off_t off, int flags) noexcept
{
	return call6(SYS_pwritev2, fd, long(iov), cnt, long(off), 0, flags);
}

} // namespace kio::epoll::sys
