// SPDX-License-Identifier: MIT
// Anonymous memory the library maps itself: the op table and the timer
// wheel's links grow in place with mremap(2), and io_uring's rings are mapped by liburing
// with raw system calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include <sys/mman.h>
#include <unistd.h>

#include "core/guard.hpp"

namespace kio {

// Thread checkers do not see memory that a raw mmap or an mremap hands
// out, so a range unmapped by one thread and mapped again by another would
// look like a race. Every such mapping calls this after it is made and
// before it is undone: one counter then orders them the way the kernel
// already does. One atomic per mapping change, never per op.
void order_mappings() noexcept;

// An array of trivially copyable records in anonymous pages. Growing moves
// the pages with mremap(2) instead of copying them: a large table grows
// without a stall, without holding an old and a new copy at once (the
// memory peak of a doubling std::vector), and pages past what was written
// cost no memory. Records move when it grows: keep indices, not pointers.
template <class T> class PageArray {
	static_assert(std::is_trivially_copyable_v<T>, "records are moved by mremap");

public:
	PageArray() = default;
	PageArray(const PageArray &) = delete;
	PageArray &operator=(const PageArray &) = delete;
	~PageArray()
	{
		if (data_) {
			ErrnoKeeper keep_errno;
			order_mappings();
			munmap(data_, bytes_);
		}
	}

	T *data() noexcept { return data_; }
	const T *data() const noexcept { return data_; }
	size_t capacity() const noexcept { return bytes_ / sizeof(T); }

	// Room for at least n records (rounded up to whole pages); the records
	// already there are kept. Throws std::bad_alloc with nothing changed.
	void reserve(size_t n)
	{
		if (n <= capacity())
			return;
		size_t page = size_t(sysconf(_SC_PAGESIZE));
		if (n > (SIZE_MAX - page) / sizeof(T))
			throw std::bad_alloc();
		size_t bytes = (n * sizeof(T) + page - 1) & ~(page - 1);
		ErrnoKeeper keep_errno;
		order_mappings();
		void *p = data_ ? mremap(data_, bytes_, bytes, MREMAP_MAYMOVE)
				: mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			throw std::bad_alloc();
		order_mappings();
		data_ = static_cast<T *>(p);
		bytes_ = bytes;
	}

private:
	T *data_ = nullptr;
	size_t bytes_ = 0;
};

} // namespace kio
