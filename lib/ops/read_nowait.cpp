// SPDX-License-Identifier: MIT
// KIO_CTX_READ_NOWAIT: a read the page cache can answer costs one
// preadv2(2) and no ring round trip; its completion still waits for the
// loop, like every other (kio(7): callbacks never run inside the call).
#include "ops/read_nowait.hpp"

#include <cerrno>
#include <climits>

#include <sys/uio.h>

#include "core/ctx.hpp"
#include "core/fd.hpp"
#include "core/guard.hpp"

namespace kio {

bool read_nowait(kio_ctx *c, int fd, const struct iovec *iov, int iovcnt, uint64_t offset, kio_cb cb,
		 void *user_data, int64_t *id) noexcept
{
	size_t want = 0;
	for (int i = 0; i < iovcnt; i++) {
		// A total the kernel refuses: let the backend give its error.
		if (__builtin_add_overflow(want, iov[i].iov_len, &want) || want > size_t(INT32_MAX))
			return false;
	}
	ssize_t n;
	{
		ErrnoKeeper keep_errno;
		n = preadv2(fd, iov, iovcnt, off_t(offset), RWF_NOWAIT);
	}
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
