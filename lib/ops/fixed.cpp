// SPDX-License-Identifier: MIT
// Registered buffers and the fixed-buffer read and write ops. On io_uring
// the kernel maps and pins the buffers once, at registration, instead of
// once per op (IORING_OP_READ_FIXED/WRITE_FIXED): an O_DIRECT transfer
// then skips pinning its pages. On epoll they are plain reads and writes
// of the same memory. kio keeps its own copy of the table, so a
// bad index or a range outside its buffer is refused at the call rather
// than reported by the kernel later.
#include <cerrno>
#include <climits>
#include <new>
#include <vector>

#include <sys/uio.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"
#include "ops/files.hpp"

namespace kio {

struct FixedBufs {
	std::vector<iovec> bufs; // empty: nothing registered
};

void FixedBufsDeleter::operator()(FixedBufs *f) const noexcept
{
	delete f;
}

} // namespace kio

using namespace kio;

namespace {

constexpr uint32_t kMaxBufs = 1u << 14;        // the kernel's IORING_MAX_REG_BUFFERS
constexpr size_t kMaxBufLen = size_t(1) << 30; // and its limit per buffer

// [buf, buf + len) lies inside registered buffer index.
bool in_buffer(const FixedBufs *f, uint32_t index, const void *buf, size_t len) noexcept
{
	if (!f || index >= f->bufs.size())
		return false;
	uintptr_t base = uintptr_t(f->bufs[index].iov_base);
	uintptr_t p = uintptr_t(buf);
	size_t size = f->bufs[index].iov_len;
	return p >= base && p - base <= size && len <= size - (p - base);
}

// A fixed op is a plain kernel op with one state bit (kFixedIO): its end
// (loop.cpp, settle()) stops counting it against kio_unregister_buffers().
// Opcode is READ_FIXED/WRITE_FIXED on io_uring, the plain READ/WRITE of the
// same memory on epoll.
template <int Opcode, bool Write>
int64_t submit_fixed(kio_ctx *ctx, int fd, void *buf, unsigned len, uint64_t offset, uint32_t index,
		     kio_cb cb, void *user_data) noexcept
{
	int64_t id = submit_file_op<Opcode, Write>(ctx, cb, user_data, fd, [=](io_uring_sqe *sqe) {
		io_uring_prep_rw(Opcode, sqe, fd, buf, len, offset);
		if constexpr (Opcode == IORING_OP_READ_FIXED || Opcode == IORING_OP_WRITE_FIXED)
			sqe->buf_index = uint16_t(index);
	});
	if (id >= 0) {
		ctx->ops.at(OpTable::index_of(id)).state |= kFixedIO;
		ctx->fixed_inflight++;
	}
	return id;
}

int64_t start_fixed(kio_ctx *ctx, int fd, void *buf, size_t len, uint64_t offset, uint32_t index,
		    bool write, kio_cb cb, void *user_data) noexcept
{
	if (int rc = begin_check(ctx, cb))
		return rc;
	if (len > UINT32_MAX || !offset_ok(offset) || !in_buffer(ctx->fixed.get(), index, buf, len))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	// Nothing to transfer: the plain op already answers that the same on
	// every kernel (kio_read() of 0 bytes never waits on an empty pipe).
	if (len == 0)
		return write ? kio_write(ctx, fd, buf, 0, offset, cb, user_data)
			     : kio_read(ctx, fd, buf, 0, offset, cb, user_data);
	unsigned n = unsigned(len);
	if (ctx->ring.is_uring())
		return write ? submit_fixed<IORING_OP_WRITE_FIXED, true>(ctx, fd, buf, n, offset, index, cb,
									 user_data)
			     : submit_fixed<IORING_OP_READ_FIXED, false>(ctx, fd, buf, n, offset, index, cb,
									 user_data);
	return write ? submit_fixed<IORING_OP_WRITE, true>(ctx, fd, buf, n, offset, index, cb, user_data)
		     : submit_fixed<IORING_OP_READ, false>(ctx, fd, buf, n, offset, index, cb, user_data);
}

} // namespace

KIO_API int kio_register_buffers(kio_ctx *ctx, const struct iovec *iov, uint32_t count) noexcept
{
	if (!ctx || !iov || count == 0 || count > kMaxBufs)
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	if (ctx->destroying)
		return -ESHUTDOWN;
	if (ctx->fixed && !ctx->fixed->bufs.empty())
		return -EBUSY;
	for (uint32_t i = 0; i < count; i++)
		if (!iov[i].iov_base || iov[i].iov_len == 0 || iov[i].iov_len > kMaxBufLen)
			return -EINVAL;
	return guard<int>([&] {
		ErrnoKeeper keep_errno;
		if (!ctx->fixed)
			ctx->fixed.reset(new FixedBufs());
		FixedBufs &f = *ctx->fixed;
		f.bufs.assign(iov, iov + count);
		if (ctx->ring.is_uring()) {
			int rc = io_uring_register_buffers(ctx->ring.raw(), iov, count);
			if (rc < 0) {
				f.bufs.clear();
				return rc;
			}
		}
		return 0;
	});
}

KIO_API int kio_unregister_buffers(kio_ctx *ctx) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	if (!ctx->fixed || ctx->fixed->bufs.empty())
		return -ENXIO;
	if (ctx->fixed_inflight)
		return -EBUSY;
	if (ctx->ring.is_uring()) {
		ErrnoKeeper keep_errno;
		int rc = io_uring_unregister_buffers(ctx->ring.raw());
		if (rc < 0)
			return rc;
	}
	ctx->fixed->bufs.clear();
	return 0;
}

KIO_API int64_t kio_read_fixed(kio_ctx *ctx, int fd, void *buf, size_t len, uint64_t offset,
			       uint32_t buf_index, kio_cb cb, void *user_data) noexcept
{
	return start_fixed(ctx, fd, buf, len, offset, buf_index, false, cb, user_data);
}

KIO_API int64_t kio_write_fixed(kio_ctx *ctx, int fd, const void *buf, size_t len, uint64_t offset,
				uint32_t buf_index, kio_cb cb, void *user_data) noexcept
{
	return start_fixed(ctx, fd, const_cast<void *>(buf), len, offset, buf_index, true, cb,
			   user_data);
}
