// SPDX-License-Identifier: MIT
//
// kio/io_buffer.hpp - IoBuffer, a byte buffer for protocol code: receive
// into its free tail, parse from its head, append replies, send the head.
//
//   [ consumed | readable: [read_, write_) | writable: [write_, capacity) ]
//
// Receive: WritableBytesSpan() -> AsyncRecv into it -> Commit(n).
// Parse:   ReadableSpan() -> Consume(bytes parsed).
// Reply:   Append(...) (the bytes are readable at once) -> send
//          ReadableBytesSpan() -> Consume(bytes sent).
//
// Memory: one contiguous heap block. When the free tail is too small the
// readable bytes are first moved to the front (compaction, a memmove);
// only when that still does not fit does the block grow (at least
// doubling). So after Reserve(n) a buffer that never holds more than n
// bytes at once never allocates again. Spans returned by the accessors are
// valid until the next call that may compact or grow: Append, Reserve,
// EnsureWritable, Compact, WritableBytesSpan/WritableSpan, or destruction.
//
// Not thread-safe: one owner at a time (it may move between threads).
// Allocation failure throws std::bad_alloc (or terminates under
// -fno-exceptions).
#ifndef KIO_IO_BUFFER_HPP
#define KIO_IO_BUFFER_HPP

#include "detail/abi.hpp"

#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace kio {
inline namespace KIO_CXX_ABI {

class IoBuffer {
public:
	// An empty buffer; the first write allocates.
	IoBuffer() noexcept = default;

	// A buffer with capacity bytes allocated up front.
	explicit IoBuffer(std::size_t capacity)
	{
		Reserve(capacity);
	}

	IoBuffer(const IoBuffer &) = delete;
	IoBuffer &operator=(const IoBuffer &) = delete;

	IoBuffer(IoBuffer &&other) noexcept
		: data_(std::move(other.data_))
		, capacity_(std::exchange(other.capacity_, 0))
		, read_(std::exchange(other.read_, 0))
		, write_(std::exchange(other.write_, 0))
	{
	}

	IoBuffer &operator=(IoBuffer &&other) noexcept
	{
		if (this != &other) {
			data_ = std::move(other.data_);
			capacity_ = std::exchange(other.capacity_, 0);
			read_ = std::exchange(other.read_, 0);
			write_ = std::exchange(other.write_, 0);
		}
		return *this;
	}

	// Bytes waiting to be read (committed or appended, not consumed).
	std::size_t ReadableSize() const noexcept
	{
		return write_ - read_;
	}

	// Same as ReadableSize(), container spelling.
	std::size_t Size() const noexcept
	{
		return ReadableSize();
	}

	bool Empty() const noexcept
	{
		return read_ == write_;
	}

	// Free bytes after the readable ones (without compaction).
	std::size_t WritableSize() const noexcept
	{
		return capacity_ - write_;
	}

	// Bytes allocated.
	std::size_t Capacity() const noexcept
	{
		return capacity_;
	}

	// The readable bytes, as characters (for text protocols) or bytes.
	std::span<const char> ReadableSpan() const noexcept
	{
		return {reinterpret_cast<const char *>(data_.get()) + read_, ReadableSize()};
	}

	std::span<const std::byte> ReadableBytesSpan() const noexcept
	{
		return {data_.get() + read_, ReadableSize()};
	}

	std::string_view ReadableView() const noexcept
	{
		return {reinterpret_cast<const char *>(data_.get()) + read_, ReadableSize()};
	}

	// The free tail, to receive into; Commit() what was written. Without
	// an argument it is whatever is free now, compacting first when the
	// tail is empty but consumed space lies in front (it may be empty
	// when the buffer is full: Reserve() more). With min_size it holds at
	// least min_size bytes (compacting, then growing when needed).
	std::span<std::byte> WritableBytesSpan()
	{
		if (write_ == capacity_ && read_ > 0)
			Compact();
		return {data_.get() + write_, WritableSize()};
	}

	std::span<std::byte> WritableBytesSpan(std::size_t min_size)
	{
		EnsureWritable(min_size);
		return {data_.get() + write_, WritableSize()};
	}

	std::span<char> WritableSpan()
	{
		auto bytes = WritableBytesSpan();
		return {reinterpret_cast<char *>(bytes.data()), bytes.size()};
	}

	std::span<char> WritableSpan(std::size_t min_size)
	{
		auto bytes = WritableBytesSpan(min_size);
		return {reinterpret_cast<char *>(bytes.data()), bytes.size()};
	}

	// Makes n bytes written into the writable span readable. n larger than
	// WritableSize() is clamped (and asserts in debug builds). Commit()
	// without an argument commits nothing: Append() already made its bytes
	// readable, so the "Append...; Commit();" shape is harmless.
	void Commit(std::size_t n = 0) noexcept
	{
		assert(n <= WritableSize());
		write_ += n < WritableSize() ? n : WritableSize();
	}

	// Drops n bytes from the front of the readable bytes (clamped to
	// ReadableSize()). When nothing is left both ends return to 0, so a
	// buffer that is drained as fast as it fills never needs a memmove.
	void Consume(std::size_t n) noexcept
	{
		read_ += n < ReadableSize() ? n : ReadableSize();
		if (read_ == write_)
			read_ = write_ = 0;
	}

	// Drops everything; keeps the memory.
	void Clear() noexcept
	{
		read_ = write_ = 0;
	}

	// Copies bytes to the end of the readable bytes.
	void Append(std::span<const std::byte> bytes)
	{
		Append(bytes.data(), bytes.size());
	}

	void Append(std::string_view text)
	{
		Append(text.data(), text.size());
	}

	void Append(const void *data, std::size_t len)
	{
		if (len == 0)
			return;
		EnsureWritable(len);
		std::memcpy(data_.get() + write_, data, len);
		write_ += len;
	}

	// Makes sure the buffer can hold total bytes (readable plus free)
	// without allocating again: Capacity() >= total afterwards. Like
	// std::vector::reserve, never shrinks.
	void Reserve(std::size_t total)
	{
		if (total > capacity_)
			Reallocate(total);
	}

	// Makes at least n contiguous writable bytes: compaction first, then
	// growth (to at least double the capacity).
	void EnsureWritable(std::size_t n)
	{
		if (WritableSize() >= n)
			return;
		if (capacity_ - ReadableSize() >= n) {
			Compact();
			return;
		}
		const std::size_t need = ReadableSize() + n;
		Reallocate(need > capacity_ * 2 ? need : capacity_ * 2);
	}

	// Moves the readable bytes to the front of the block.
	void Compact() noexcept
	{
		if (read_ == 0)
			return;
		const std::size_t len = ReadableSize();
		if (len > 0)
			std::memmove(data_.get(), data_.get() + read_, len);
		read_ = 0;
		write_ = len;
	}

private:
	void Reallocate(std::size_t capacity)
	{
		auto block = std::make_unique_for_overwrite<std::byte[]>(capacity);
		const std::size_t len = ReadableSize();
		if (len > 0)
			std::memcpy(block.get(), data_.get() + read_, len);
		data_ = std::move(block);
		capacity_ = capacity;
		read_ = 0;
		write_ = len;
	}

	std::unique_ptr<std::byte[]> data_;
	std::size_t capacity_ = 0;
	std::size_t read_ = 0;
	std::size_t write_ = 0;
};

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_IO_BUFFER_HPP
