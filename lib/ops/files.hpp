// SPDX-License-Identifier: MIT
// Registered files (kio_register_files()): the table the file ops consult
// to name a registered fd by its index. Private: never installed.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ctx.hpp"

namespace kio {

struct RegFiles {
	std::vector<int> fds;       // index -> fd, -1 once kio_close() dropped it; empty: none
	std::vector<uint32_t> slot; // fd -> index + 1; 0: not registered
};

// The registered index of fd, or -1. Any backend: the epoll one keeps the
// same table, as bookkeeping only.
inline int registered_index(const kio_ctx *c, int fd) noexcept
{
	const RegFiles *f = c->files.get();
	if (!f || fd < 0 || size_t(fd) >= f->slot.size())
		return -1;
	return int(f->slot[size_t(fd)]) - 1;
}

// On an SQE just filled for fd: a registered fd is named by its index
// (IOSQE_FIXED_FILE), so the kernel skips looking the fd up and taking a
// reference per op.
[[gnu::always_inline]] inline void use_registered_file(const kio_ctx *c, io_uring_sqe *sqe,
						       int fd) noexcept
{
	if (__builtin_expect(uint32_t(fd) < c->files_end, 0)) {
		uint32_t s = c->files->slot[size_t(fd)];
		if (s) {
			sqe->fd = int32_t(s - 1);
			sqe->flags |= IOSQE_FIXED_FILE;
		}
	}
}

// submit() for the file ops that honour the table: the SQE is filled as
// usual, then a registered fd's number is swapped for its index. A context
// without registered files on io_uring pays one compare (files_end is 0
// there), and the op's prep keeps its captures in registers. The steps of
// submit() (core/ctx.hpp), plus the swap: a change to one belongs in both.
template <int Opcode, bool PipeWrite, typename Prep>
[[gnu::always_inline]] inline int64_t submit_file_op(kio_ctx *c, kio_cb cb, void *user_data, int fd,
						     Prep &&prep) noexcept
{
	Started s = start_op_fast(c, cb, user_data, Opcode, fd, PipeWrite);
	if (__builtin_expect(!s.sqe, 0)) {
		if (s.id < 0)
			return s.id;
		return submit_slow(c, cb, user_data, Opcode, fd, PipeWrite,
				   [prep, c, fd](io_uring_sqe *sqe) {
					   prep(sqe);
					   use_registered_file(c, sqe, fd);
				   });
	}
	prep(s.sqe);
	s.sqe->user_data = uint64_t(s.id);
	use_registered_file(c, s.sqe, fd);
	return s.id;
}

// True when fd goes through the registered table on io_uring (ops that
// would otherwise touch the fd number directly step aside).
[[gnu::always_inline]] inline bool uses_registered_file(const kio_ctx *c, int fd) noexcept
{
	return __builtin_expect(uint32_t(fd) < c->files_end, 0) && c->files->slot[size_t(fd)] != 0;
}

// kio_close(): drops fd from the table before its close, so the number
// can name another file afterwards. On io_uring the kernel's slot is
// cleared by an SQE queued now, after the ops already queued (and their
// cancel) and before the close. 0, or the error of getting an SQE.
int files_forget(kio_ctx *c, int fd) noexcept;

} // namespace kio
