// SPDX-License-Identifier: MIT
// KIO_CTX_READ_NOWAIT: a read the page cache can answer costs one
// preadv2(2) and no ring round trip; its completion still waits for the
// loop, like every other (kio(7): callbacks never run inside the call).
#include "ops/read_nowait.hpp"

#include <cerrno>
#include <climits>

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"

namespace kio {

namespace {

// preadv2(2) as a bare system call where that is easy (x86-64): no
// cancellation-point wrapper and no errno to save and restore around it,
// a fifth of what the attempt costs in user space.
ssize_t sys_preadv2_nowait(int fd, const struct iovec *iov, int iovcnt, uint64_t offset) noexcept
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = long(offset); // pos_l: the whole offset on 64-bit
	register long r8 __asm__("r8") = 0;              // pos_h
	register long r9 __asm__("r9") = long(RWF_NOWAIT);
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(long(SYS_preadv2)), "D"(long(fd)), "S"(long(iov)), "d"(long(iovcnt)),
			   "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ssize_t(ret);
#else
	ErrnoKeeper keep_errno;
	ssize_t n = preadv2(fd, iov, iovcnt, off_t(offset), RWF_NOWAIT);
	return n < 0 ? -errno : n;
#endif
}

} // namespace

bool read_nowait(kio_ctx *c, int fd, const struct iovec *iov, int iovcnt, uint64_t offset, kio_cb cb,
		 void *user_data, int64_t *id) noexcept
{
	size_t want = 0;
	for (int i = 0; i < iovcnt; i++) {
		// A total the kernel refuses: let the backend give its error.
		if (__builtin_add_overflow(want, iov[i].iov_len, &want) || want > size_t(INT32_MAX))
			return false;
	}
	ssize_t n = sys_preadv2_nowait(fd, iov, iovcnt, offset);
	// A short read is not end of file here: the rest may only be missing
	// from the cache. The backend reads the whole range again (the same
	// bytes land in the same place), so the result does not depend on
	// the flag. 0 for a non-empty range is end of file: nothing to wait for.
	if (n < 0 || (size_t(n) != want && n != 0))
		return false;
	*id = guard<int64_t>([&] { return start_deferred(c, cb, user_data, int32_t(n)); });
	return true;
}

} // namespace kio
