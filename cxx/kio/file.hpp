// SPDX-License-Identifier: MIT
//
// kio/file.hpp - file operations as awaitables (each is one kio op; see
// detail/awaiter.hpp for .WithTimeout() and .WithStopToken()).
//
//   Result<int>    AsyncOpen(ctx, path, flags, mode = 0)        openat(AT_FDCWD)
//   Result<int>    AsyncOpenAt(ctx, dirfd, path, flags, mode = 0)
//   Result<size_t> AsyncRead(ctx, fd, buffer, offset = KIO_OFFSET_CURRENT)
//   Result<size_t> AsyncWrite(ctx, fd, data, offset = KIO_OFFSET_CURRENT)
//   Result<size_t> AsyncReadv(ctx, fd, iovecs, offset = KIO_OFFSET_CURRENT)
//   Result<size_t> AsyncWritev(ctx, fd, iovecs, offset = KIO_OFFSET_CURRENT)
//   Result<void>   AsyncClose(ctx, fd)      cancels the ops pending on fd first
//   Result<void>   AsyncFsync(ctx, fd, flags = 0)   KIO_FSYNC_DATASYNC
//   Result<void>   AsyncFallocate(ctx, fd, mode, offset, len)
//   Result<void>   AsyncFtruncate(ctx, fd, length)
//   Result<void>   AsyncStatx(ctx, path, statx &out, flags = 0, mask = STATX_BASIC_STATS)
//   Result<void>   AsyncUnlink(ctx, path, flags = 0)     AT_REMOVEDIR: rmdir
//   Result<void>   AsyncRename(ctx, oldpath, newpath, flags = 0)   RENAME_*
//   Result<void>   AsyncMkdir(ctx, path, mode = 0755)
//   Task<Result<size_t>> AsyncReadExact(ctx, fd, buffer, offset = CURRENT)
//   Task<Result<size_t>> AsyncWriteExact(ctx, fd, data, offset = CURRENT)
//
// fd: an int, anything with `int Fd() const` (net::Socket), or the
// Result<int> AsyncOpen gave (holding an error, it makes the op fail with
// std::errc::bad_file_descriptor). buffer: any contiguous range
// (std::span<std::byte>, std::array, std::vector, std::string...); data may
// also be a string literal (written without its NUL).
// Buffers, iovecs and paths are borrowed until the co_await returns.
// The default offset uses and moves the file position, which also suits
// pipes and sockets; pass an offset for positioned I/O.
//
// AsyncReadExact/AsyncWriteExact loop until the whole buffer moved. They
// give buffer.size() or the first error; the end of a stream before the
// buffer was full gives ENODATA (std::errc::no_message_available, which
// libc++ marks deprecated). With a positioned offset, the offset advances
// with each chunk. They are Tasks (one frame per call); pass a StopToken
// (std::stop_token) as the last argument to make them cancellable.
#ifndef KIO_CXX_FILE_HPP
#define KIO_CXX_FILE_HPP

#include "detail/abi.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include "detail/stop_token.hpp"
#include <sys/stat.h>
#include <sys/uio.h>

#include <kio/kio.h>

#include "detail/args.hpp"
#include "detail/awaiter.hpp"
#include "io_context.hpp"
#include "result.hpp"
#include "task.hpp"

namespace kio {
inline namespace KIO_CXX_ABI {

template <detail::PathLike P>
inline auto AsyncOpenAt(IoContext &ctx, int dirfd, const P &path, int flags, uint32_t mode = 0)
{
	const char *p = detail::CStr(path);
	return detail::MakeOp<detail::AsInt>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
							       void *ud) noexcept {
		return kio_openat(c, dirfd, p, flags, mode, cb, ud);
	});
}

template <detail::PathLike P>
inline auto AsyncOpen(IoContext &ctx, const P &path, int flags, uint32_t mode = 0)
{
	return AsyncOpenAt(ctx, AT_FDCWD, path, flags, mode);
}

template <detail::FdLike F, detail::MutableByteRange B>
inline auto AsyncRead(IoContext &ctx, const F &fd, B &&buffer, uint64_t offset = KIO_OFFSET_CURRENT)
{
	int f = detail::AsFd(fd);
	detail::MutSpan s = detail::Bytes(buffer);
	return detail::MakeOp<detail::AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_read(c, f, s.data, s.len, offset, cb, ud);
	});
}

template <detail::FdLike F, detail::ByteRange B>
inline auto AsyncWrite(IoContext &ctx, const F &fd, B &&data, uint64_t offset = KIO_OFFSET_CURRENT)
{
	int f = detail::AsFd(fd);
	detail::ConstSpan s = detail::ConstBytes(data);
	return detail::MakeOp<detail::AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_write(c, f, s.data, s.len, offset, cb, ud);
	});
}

namespace detail {
template <class R>
concept IovecRange = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
		     std::same_as < std::remove_cv_t<std::ranges::range_value_t<R>>,
struct iovec > ;

template <IovecRange R>
inline int IovCount(const R &r) noexcept
{
	size_t n = std::ranges::size(r);
	return n > static_cast<size_t>(INT32_MAX) ? -1 : static_cast<int>(n);
}
} // namespace detail

template <detail::FdLike F, detail::IovecRange R>
inline auto AsyncReadv(IoContext &ctx, const F &fd, R &&iovecs,
		       uint64_t offset = KIO_OFFSET_CURRENT)
{
	int f = detail::AsFd(fd);
	const struct iovec *iov = std::ranges::data(iovecs);
	int n = detail::IovCount(iovecs);
	return detail::MakeOp<detail::AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_readv(c, f, iov, n, offset, cb, ud);
	});
}

template <detail::FdLike F, detail::IovecRange R>
inline auto AsyncWritev(IoContext &ctx, const F &fd, R &&iovecs,
			uint64_t offset = KIO_OFFSET_CURRENT)
{
	int f = detail::AsFd(fd);
	const struct iovec *iov = std::ranges::data(iovecs);
	int n = detail::IovCount(iovecs);
	return detail::MakeOp<detail::AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_writev(c, f, iov, n, offset, cb, ud);
	});
}

// Takes a plain fd (or AsyncOpen's Result<int>) only: an owning object
// (net::Socket) closes its own.
template <class F>
requires std::same_as < std::remove_cvref_t<F>,
int > || std::same_as<std::remove_cvref_t<F>, Result<int>> inline auto AsyncClose(IoContext &ctx,
										  const F &file)
{
	int fd = detail::AsFd(file);
	return detail::MakeOp<detail::AsVoid>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_close(c, fd, cb, ud);
					      });
}

template <detail::FdLike F>
inline auto AsyncFsync(IoContext &ctx, const F &fd, uint32_t flags = 0)
{
	int f = detail::AsFd(fd);
	return detail::MakeOp<detail::AsVoid>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_fsync(c, f, flags, cb, ud);
					      });
}

template <detail::FdLike F>
inline auto AsyncFallocate(IoContext &ctx, const F &fd, int mode, uint64_t offset, uint64_t len)
{
	int f = detail::AsFd(fd);
	return detail::MakeOp<detail::AsVoid>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_fallocate(c, f, mode, offset, len, cb, ud);
	});
}

template <detail::FdLike F>
inline auto AsyncFtruncate(IoContext &ctx, const F &fd, uint64_t length)
{
	int f = detail::AsFd(fd);
	return detail::MakeOp<detail::AsVoid>(ctx.Native(),
					      [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						      return kio_ftruncate(c, f, length, cb, ud);
					      });
}

template <detail::PathLike P>
inline auto AsyncStatx(IoContext &ctx, const P &path, struct statx &out, int flags = 0,
		       uint32_t mask = STATX_BASIC_STATS)
{
	const char *p = detail::CStr(path);
	struct statx *o = &out;
	return detail::MakeOp<detail::AsVoid>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_statx(c, AT_FDCWD, p, flags, mask, o, cb, ud);
	});
}

template <detail::PathLike P>
inline auto AsyncUnlink(IoContext &ctx, const P &path, int flags = 0)
{
	const char *p = detail::CStr(path);
	return detail::MakeOp<detail::AsVoid>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_unlinkat(c, AT_FDCWD, p, flags, cb, ud);
	});
}

template <detail::PathLike P, detail::PathLike Q>
inline auto AsyncRename(IoContext &ctx, const P &oldpath, const Q &newpath, uint32_t flags = 0)
{
	const char *o = detail::CStr(oldpath);
	const char *n = detail::CStr(newpath);
	return detail::MakeOp<detail::AsVoid>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_renameat(c, AT_FDCWD, o, AT_FDCWD, n, flags, cb, ud);
	});
}

template <detail::PathLike P>
inline auto AsyncMkdir(IoContext &ctx, const P &path, uint32_t mode = 0755)
{
	const char *p = detail::CStr(path);
	return detail::MakeOp<detail::AsVoid>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
								void *ud) noexcept {
		return kio_mkdirat(c, AT_FDCWD, p, mode, cb, ud);
	});
}

namespace detail {

// Shared loop of the Exact ops. kWrite picks the direction.
template <bool kWrite>
inline Task<Result<size_t>> TransferExact(IoContext &ctx, int fd, std::byte *data, size_t len,
					  uint64_t offset, StopToken st)
{
	size_t done = 0;
	while (done < len) {
		uint64_t off = offset == KIO_OFFSET_CURRENT ? offset : offset + done;
		size_t chunk = len - done;
		if (chunk > (1u << 30))
			chunk = 1u << 30; // the C API takes 32-bit lengths
		Result<size_t> r =
			kWrite ? co_await MakeOp<AsSize>(
					 ctx.Native(),
					 [=](kio_ctx *c, kio_cb cb, void *ud) noexcept {
						 return kio_write(c, fd, data + done, chunk, off,
								  cb, ud);
					 })
					 .WithStopToken(st) :
				 co_await MakeOp<AsSize>(ctx.Native(), [=](kio_ctx *c, kio_cb cb,
									   void *ud) noexcept {
					 return kio_read(c, fd, data + done, chunk, off, cb, ud);
				 }).WithStopToken(st);
		if (!r)
			co_return Err(r.error());
		if (*r == 0)
			co_return Err(std::error_code(ENODATA, std::generic_category()));
		done += *r;
	}
	co_return done;
}

} // namespace detail

template <detail::FdLike F, detail::MutableByteRange B>
inline Task<Result<size_t>> AsyncReadExact(IoContext &ctx, const F &fd, B &&buffer,
					   uint64_t offset = KIO_OFFSET_CURRENT,
					   StopToken st = {})
{
	detail::MutSpan s = detail::Bytes(buffer);
	return detail::TransferExact<false>(ctx, detail::AsFd(fd), static_cast<std::byte *>(s.data),
					    s.len, offset, std::move(st));
}

template <detail::FdLike F, detail::ByteRange B>
inline Task<Result<size_t>> AsyncWriteExact(IoContext &ctx, const F &fd, B &&data,
					    uint64_t offset = KIO_OFFSET_CURRENT,
					    StopToken st = {})
{
	detail::ConstSpan s = detail::ConstBytes(data);
	return detail::TransferExact<true>(
		ctx, detail::AsFd(fd),
		const_cast<std::byte *>(static_cast<const std::byte *>(s.data)), s.len, offset,
		std::move(st));
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_FILE_HPP
