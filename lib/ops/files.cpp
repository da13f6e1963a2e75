// SPDX-License-Identifier: MIT
// Registered files. On io_uring the kernel takes a reference to each file
// once, at registration (IORING_REGISTER_FILES), and the file ops name a
// registered fd by its index (IOSQE_FIXED_FILE): no fd lookup and no
// reference counting per op. On epoll the table is bookkeeping only: the
// ops use the fd numbers. The same calls answer the same codes on both.
#include <cerrno>
#include <new>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/ctx.hpp"
#include "core/fd.hpp"
#include "core/guard.hpp"
#include "ops/files.hpp"

namespace kio {

void RegFilesDeleter::operator()(RegFiles *f) const noexcept
{
	delete f;
}

namespace {

constexpr uint32_t kMaxFiles = 1u << 20; // the kernel's IORING_MAX_FIXED_FILES

// The value an IORING_OP_FILES_UPDATE reads to empty a slot. The kernel
// reads it when it issues the SQE, later than the call that queued it.
const int kNoFile = -1;

// io_uring_register(2) itself: liburing's io_uring_register_files() raises
// the process's RLIMIT_NOFILE on -EMFILE, which is not a library's to do.
int sys_register(kio_ctx *c, unsigned opcode, const void *arg, unsigned nr) noexcept
{
	ErrnoKeeper keep_errno;
	long rc = syscall(__NR_io_uring_register, c->ring.raw()->ring_fd, opcode, arg, nr);
	return rc < 0 ? -errno : int(rc);
}

// An SQE prepared against the registered table: it names a file by index,
// cancels by index or empties a slot.
bool uses_table(const io_uring_sqe &s) noexcept
{
	if (s.flags & IOSQE_FIXED_FILE)
		return true;
	if (s.opcode == IORING_OP_FILES_UPDATE)
		return true;
	return s.opcode == IORING_OP_ASYNC_CANCEL &&
	       (s.cancel_flags & IORING_ASYNC_CANCEL_FD_FIXED);
}

// Whether SQEs that use the table still wait for the kernel (in the SQ, or
// kept while nobody ran ctx).
bool table_sqes_queued(kio_ctx *c) noexcept
{
	for (const io_uring_sqe &s : c->pre_run)
		if (uses_table(s))
			return true;
	io_uring_sq &sq = c->ring.raw()->sq;
	for (unsigned i = io_uring_smp_load_acquire(sq.khead); i != sq.sqe_tail; i++)
		if (uses_table(sq.sqes[i & sq.ring_mask]))
			return true;
	return false;
}

// Before the table changes, every queued SQE that uses it must reach the
// kernel, or it would meet the next table. Only the thread that runs ctx
// can submit (before the first run the ring is not enabled yet).
int settle_table_sqes(kio_ctx *c) noexcept
{
	for (int tries = 0; tries < 100; tries++) {
		if (!table_sqes_queued(c))
			return 0;
		if (c->owner != this_thread())
			return -EBUSY;
		int rc = c->ring.enter(false, 0, false);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return rc;
	}
	return -EBUSY;
}

// The checks of kio_register_files() that need no memory: 0, or the error.
int check_fds(const int *fds, uint32_t nr, int *max_fd) noexcept
{
	struct rlimit rl;
	// The kernel refuses a table larger than the fd limit (-EMFILE);
	// refused here too, so the epoll backend answers the same.
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && nr > rl.rlim_cur)
		return -EMFILE;
	*max_fd = -1;
	for (uint32_t i = 0; i < nr; i++) {
		if (fds[i] < 0 || !fd_open(fds[i]))
			return -EBADF;
		if (fds[i] > *max_fd)
			*max_fd = fds[i];
	}
	return 0;
}

} // namespace

int files_forget(kio_ctx *c, int fd) noexcept
{
	int idx = registered_index(c, fd);
	if (idx < 0)
		return 0;
	if (c->ring.is_uring()) {
		int err = 0;
		io_uring_sqe *sqe = get_sqe(c, &err);
		if (!sqe)
			return err;
		io_uring_prep_files_update(sqe, const_cast<int *>(&kNoFile), 1, idx);
		sqe->user_data = kUdIgnore;
	}
	c->files->fds[size_t(idx)] = -1;
	c->files->slot[size_t(fd)] = 0;
	return 0;
}

} // namespace kio

using namespace kio;

KIO_API int kio_register_files(kio_ctx *ctx, const int *fds, uint32_t nr) noexcept
{
	if (!ctx || !fds || nr == 0 || nr > kMaxFiles)
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	if (ctx->destroying)
		return -ESHUTDOWN;
	if (ctx->files && !ctx->files->fds.empty())
		return -EBUSY;
	// kio_close() empties a slot with IORING_OP_FILES_UPDATE.
	if (ctx->ring.is_uring() && !ctx->ring.supports(IORING_OP_FILES_UPDATE))
		return -EOPNOTSUPP;
	int max_fd;
	if (int rc = check_fds(fds, nr, &max_fd))
		return rc;
	return guard<int>([&] {
		// Built aside, so a refusal leaves nothing registered.
		RegFiles next;
		next.slot.assign(size_t(max_fd) + 1, 0);
		for (uint32_t i = 0; i < nr; i++) {
			uint32_t &s = next.slot[size_t(fds[i])];
			if (s)
				return -EINVAL; // one fd, two indexes: which would an op use?
			s = i + 1;
		}
		next.fds.assign(fds, fds + nr);
		if (!ctx->files)
			ctx->files.reset(new RegFiles());
		if (ctx->ring.is_uring()) {
			int rc = sys_register(ctx, IORING_REGISTER_FILES, fds, nr);
			if (rc < 0)
				return rc;
		}
		*ctx->files = std::move(next);
		if (ctx->ring.is_uring())
			ctx->files_end = uint32_t(ctx->files->slot.size());
		return 0;
	});
}

KIO_API int kio_unregister_files(kio_ctx *ctx) noexcept
{
	if (!ctx)
		return -EINVAL;
	if (foreign_thread(ctx))
		return -EPERM;
	if (!ctx->files || ctx->files->fds.empty())
		return -ENXIO;
	// Like kio_unregister_buffers(): refused while an op may use the
	// table. Kernels before about 6.4 wait in the unregister call for every
	// op that holds the table, which with an op pending forever is a hang.
	for (int fd : ctx->files->fds)
		if (fd >= 0 && size_t(fd) < ctx->fd_inflight.size() && ctx->fd_inflight[size_t(fd)])
			return -EBUSY;
	if (ctx->ring.is_uring()) {
		if (int rc = settle_table_sqes(ctx))
			return rc;
		int rc = sys_register(ctx, IORING_UNREGISTER_FILES, nullptr, 0);
		if (rc < 0)
			return rc;
	}
	ctx->files_end = 0;
	ctx->files->fds.clear();
	ctx->files->slot.clear();
	return 0;
}
