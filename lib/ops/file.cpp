// SPDX-License-Identifier: MIT
// File and descriptor ops: thin, checked wrappers that fill one SQE each.
#include <cerrno>
#include <climits>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "ops/files.hpp"
#include "ops/read_nowait.hpp"

using namespace kio;

// A directory fd for the *at() ops: open (>= 0) or AT_FDCWD. Any other
// negative value is refused at the call, as for every other fd argument.
static bool dirfd_ok(int dirfd) noexcept
{
	return dirfd >= 0 || dirfd == AT_FDCWD;
}

KIO_API int64_t kio_nop(kio_ctx *ctx, kio_cb cb, void *user_data) noexcept
{
	return submit(ctx, cb, user_data, IORING_OP_NOP, -1, false,
		      [](io_uring_sqe *sqe) { io_uring_prep_nop(sqe); });
}

KIO_API int64_t kio_openat(kio_ctx *ctx, int dirfd, const char *path, int flags, uint32_t mode, kio_cb cb,
			   void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!path)
		return -EINVAL;
	if (!dirfd_ok(dirfd))
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_OPENAT, -1, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_openat(sqe, dirfd, path, flags, mode_t(mode));
	});
}

KIO_API int64_t kio_close(kio_ctx *ctx, int fd, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (fd < 0)
		return -EBADF;
	// The cancel SQE goes first and the kernel issues SQEs in order, so the
	// ops on fd are cancelled while fd still names their file.
	int rc = kio_cancel_fd(ctx, fd);
	if (rc < 0)
		return rc;
	// Then its registered slot, if any: the number may name another file
	// after the close, and must not reach the old one through the table.
	if (__builtin_expect(ctx->files != nullptr, 0) && (rc = files_forget(ctx, fd)) < 0)
		return rc;
	return submit(ctx, cb, user_data, IORING_OP_CLOSE, -1, false,
		      [=](io_uring_sqe *sqe) { io_uring_prep_close(sqe, fd); });
}

KIO_API int64_t kio_read(kio_ctx *ctx, int fd, void *buf, size_t len, uint64_t offset, kio_cb cb,
			 void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if ((!buf && len) || len > UINT32_MAX || !offset_ok(offset))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (__builtin_expect(len == 0, 0)) {
		// read(2) of nothing answers at once (0, or the fd's error); the
		// ring on kernels before about 6.6 waits for the fd to be readable
		// first, which on an empty pipe is forever. Ask the fd here, for
		// the same answer on every kernel, and deliver it through the loop.
		return guard<int64_t>([&] {
			ErrnoKeeper keep_errno;
			ssize_t n = offset == KIO_OFFSET_CURRENT ? read(fd, nullptr, 0)
								 : pread(fd, nullptr, 0, off_t(offset));
			return start_deferred(ctx, cb, user_data, n < 0 ? -errno : 0);
		});
	}
	// A registered fd is read through its table entry, which a
	// synchronous attempt on the fd number could not honour.
	if (__builtin_expect(ctx->read_nowait, 0) && offset != KIO_OFFSET_CURRENT &&
	    !uses_registered_file(ctx, fd)) {
		struct iovec iov = {buf, len};
		int64_t id;
		if (read_nowait(ctx, fd, &iov, 1, offset, cb, user_data, &id))
			return id;
	}
	return submit_file_op<IORING_OP_READ, false>(ctx, cb, user_data, fd, [=](io_uring_sqe *sqe) {
		io_uring_prep_read(sqe, fd, buf, unsigned(len), offset);
	});
}

KIO_API int64_t kio_write(kio_ctx *ctx, int fd, const void *buf, size_t len, uint64_t offset, kio_cb cb,
			  void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if ((!buf && len) || len > UINT32_MAX || !offset_ok(offset))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit_file_op<IORING_OP_WRITE, true>(ctx, cb, user_data, fd, [=](io_uring_sqe *sqe) {
		io_uring_prep_write(sqe, fd, buf, unsigned(len), offset);
	});
}

static bool iov_ok(const struct iovec *iov, int iovcnt) noexcept
{
	return iov && iovcnt > 0 && iovcnt <= IOV_MAX;
}

KIO_API int64_t kio_readv(kio_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, uint64_t offset,
			  kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!iov_ok(iov, iovcnt) || !offset_ok(offset))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	// A registered fd is read through its table entry, which a
	// synchronous attempt on the fd number could not honour.
	if (__builtin_expect(ctx->read_nowait, 0) && offset != KIO_OFFSET_CURRENT &&
	    !uses_registered_file(ctx, fd)) {
		int64_t id;
		if (read_nowait(ctx, fd, iov, iovcnt, offset, cb, user_data, &id))
			return id;
	}
	return submit_file_op<IORING_OP_READV, false>(ctx, cb, user_data, fd, [=](io_uring_sqe *sqe) {
		io_uring_prep_readv(sqe, fd, iov, unsigned(iovcnt), offset);
	});
}

KIO_API int64_t kio_writev(kio_ctx *ctx, int fd, const struct iovec *iov, int iovcnt, uint64_t offset,
			   kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!iov_ok(iov, iovcnt) || !offset_ok(offset))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit_file_op<IORING_OP_WRITEV, true>(ctx, cb, user_data, fd, [=](io_uring_sqe *sqe) {
		io_uring_prep_writev(sqe, fd, iov, unsigned(iovcnt), offset);
	});
}

KIO_API int64_t kio_fsync(kio_ctx *ctx, int fd, uint32_t flags, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (flags & ~KIO_FSYNC_DATASYNC)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_FSYNC, fd, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_fsync(sqe, fd, (flags & KIO_FSYNC_DATASYNC) ? IORING_FSYNC_DATASYNC : 0);
	});
}

KIO_API int64_t kio_fallocate(kio_ctx *ctx, int fd, int mode, uint64_t offset, uint64_t len, kio_cb cb,
			      void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (offset > uint64_t(INT64_MAX) || len > uint64_t(INT64_MAX))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_FALLOCATE, fd, false,
		      [=](io_uring_sqe *sqe) { io_uring_prep_fallocate(sqe, fd, mode, offset, len); });
}

KIO_API int64_t kio_ftruncate(kio_ctx *ctx, int fd, uint64_t len, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (len > uint64_t(INT64_MAX))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (!ctx->ring.supports(kOpFtruncate)) {
		// Before Linux 6.9 there is no opcode; a truncate is a metadata
		// update that rarely blocks long, so do it here and deliver the
		// result through the loop like any other.
		return guard<int64_t>([&] {
			ErrnoKeeper keep_errno;
			int32_t res = ftruncate(fd, off_t(len)) < 0 ? -errno : 0;
			return start_deferred(ctx, cb, user_data, res);
		});
	}
	// liburing 2.3 has no helper: fill the SQE by hand (fd, off = length).
	return submit(ctx, cb, user_data, kOpFtruncate, fd, false, [=](io_uring_sqe *sqe) {
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = uint8_t(kOpFtruncate);
		sqe->fd = fd;
		sqe->off = len;
	});
}

KIO_API int64_t kio_statx(kio_ctx *ctx, int dirfd, const char *path, int flags, uint32_t mask,
			  struct statx *out, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!path || !out)
		return -EINVAL;
	if (!dirfd_ok(dirfd))
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_STATX, -1, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_statx(sqe, dirfd, path, flags, mask, out);
	});
}

KIO_API int64_t kio_unlinkat(kio_ctx *ctx, int dirfd, const char *path, int flags, kio_cb cb,
			     void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!path)
		return -EINVAL;
	if (!dirfd_ok(dirfd))
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_UNLINKAT, -1, false,
		      [=](io_uring_sqe *sqe) { io_uring_prep_unlinkat(sqe, dirfd, path, flags); });
}

KIO_API int64_t kio_renameat(kio_ctx *ctx, int olddirfd, const char *oldpath, int newdirfd,
			     const char *newpath, uint32_t flags, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!oldpath || !newpath)
		return -EINVAL;
	if (!dirfd_ok(olddirfd) || !dirfd_ok(newdirfd))
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_RENAMEAT, -1, false, [=](io_uring_sqe *sqe) {
		io_uring_prep_renameat(sqe, olddirfd, oldpath, newdirfd, newpath, flags);
	});
}

KIO_API int64_t kio_mkdirat(kio_ctx *ctx, int dirfd, const char *path, uint32_t mode, kio_cb cb,
			    void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (!path)
		return -EINVAL;
	if (!dirfd_ok(dirfd))
		return -EBADF;
	return submit(ctx, cb, user_data, IORING_OP_MKDIRAT, -1, false,
		      [=](io_uring_sqe *sqe) { io_uring_prep_mkdirat(sqe, dirfd, path, mode_t(mode)); });
}

KIO_API int64_t kio_splice(kio_ctx *ctx, int fd_in, int64_t off_in, int fd_out, int64_t off_out,
			   uint32_t len, uint32_t flags, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	const uint32_t known = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;
	if ((flags & ~known) || off_in < -1 || off_out < -1)
		return -EINVAL;
	if (fd_in < 0 || fd_out < 0)
		return -EBADF;
	// Tracked on fd_out: the kernel's cancel-by-fd matches the SQE's fd.
	return submit(ctx, cb, user_data, IORING_OP_SPLICE, fd_out, true, [=](io_uring_sqe *sqe) {
		io_uring_prep_splice(sqe, fd_in, off_in, fd_out, off_out, len, flags);
	});
}
