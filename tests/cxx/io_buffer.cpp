// SPDX-License-Identifier: MIT
// IoBuffer: commit/consume bookkeeping, compaction instead of growth, and
// no allocation once reserved.
#include <kio/io_buffer.hpp>

#include <criterion/criterion.h>

#include <cstring>
#include <string>
#include <string_view>

using kio::IoBuffer;

static std::string Text(const IoBuffer &b)
{
	return std::string(b.ReadableView());
}

Test(io_buffer, empty_by_default)
{
	IoBuffer b;
	cr_assert_eq(b.ReadableSize(), 0u);
	cr_assert(b.Empty());
	cr_assert_eq(b.Capacity(), 0u);
	cr_assert_eq(b.WritableBytesSpan().size(), 0u);
	cr_assert_eq(b.ReadableSpan().size(), 0u);
}

Test(io_buffer, commit_makes_written_bytes_readable)
{
	IoBuffer b(16);
	cr_assert_eq(b.Capacity(), 16u);
	auto w = b.WritableBytesSpan();
	cr_assert_eq(w.size(), 16u);
	std::memcpy(w.data(), "abcdef", 6);
	cr_assert_eq(b.ReadableSize(), 0u, "nothing readable before Commit");
	b.Commit(6);
	cr_assert_eq(Text(b), "abcdef");
	cr_assert_eq(b.WritableSize(), 10u);
	cr_assert_eq(b.ReadableBytesSpan().size(), 6u);
	cr_assert_eq(static_cast<char>(b.ReadableBytesSpan()[2]), 'c');
}

Test(io_buffer, consume_drops_from_the_front_and_resets_when_drained)
{
	IoBuffer b(16);
	b.Append("hello world");
	b.Consume(6);
	cr_assert_eq(Text(b), "world");
	b.Consume(100); // clamped
	cr_assert(b.Empty());
	// Drained: both ends back at 0, the whole block is writable again.
	cr_assert_eq(b.WritableSize(), 16u);
}

Test(io_buffer, append_is_readable_at_once_and_commit_without_argument_is_harmless)
{
	IoBuffer b(64);
	b.Append("HTTP/1.1 200 OK\r\n");
	b.Append(std::string_view("Content-Length: 5\r\n\r\n"));
	b.Append("Hello");
	b.Commit();
	cr_assert_eq(Text(b), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello");
}

Test(io_buffer, compaction_reuses_consumed_space_without_allocating)
{
	IoBuffer b(8);
	b.Append("abcdefgh");
	cr_assert_eq(b.WritableSize(), 0u);
	b.Consume(5);
	const std::byte *block = b.ReadableBytesSpan().data() - 5;
	// Free tail empty, 5 consumed bytes in front: the span compacts.
	auto w = b.WritableBytesSpan();
	cr_assert_eq(w.size(), 5u);
	cr_assert_eq(Text(b), "fgh");
	cr_assert_eq(b.ReadableBytesSpan().data(), block, "moved to the front, same block");
	std::memcpy(w.data(), "12345", 5);
	b.Commit(5);
	cr_assert_eq(Text(b), "fgh12345");
	cr_assert_eq(b.Capacity(), 8u);
}

Test(io_buffer, append_compacts_before_growing)
{
	IoBuffer b(10);
	b.Append("0123456789");
	b.Consume(7);
	b.Append("abcdefg"); // 3 + 7 = 10: fits after compaction
	cr_assert_eq(b.Capacity(), 10u);
	cr_assert_eq(Text(b), "789abcdefg");
}

Test(io_buffer, grows_when_compaction_is_not_enough)
{
	IoBuffer b(4);
	b.Append("abcd");
	b.Append("efghij");
	cr_assert_geq(b.Capacity(), 10u);
	cr_assert_eq(Text(b), "abcdefghij");
	auto w = b.WritableBytesSpan(100);
	cr_assert_geq(w.size(), 100u);
	cr_assert_eq(Text(b), "abcdefghij", "growth keeps the readable bytes");
}

Test(io_buffer, no_allocation_once_reserved)
{
	IoBuffer b;
	b.Reserve(1024);
	const std::size_t cap = b.Capacity();
	cr_assert_geq(cap, 1024u);
	const std::byte *block = b.WritableBytesSpan().data();
	// A stream that never holds more than 1024 bytes at once.
	std::string chunk(300, 'x');
	for (int i = 0; i < 1000; i++) {
		b.Append(chunk);
		if (b.ReadableSize() > 700)
			b.Consume(b.ReadableSize() - 100);
		auto w = b.WritableBytesSpan(200);
		cr_assert_geq(w.size(), 200u);
		cr_assert_eq(b.Capacity(), cap);
	}
	b.Clear();
	cr_assert_eq(b.WritableBytesSpan().data(), block, "same block all along");
}

Test(io_buffer, reserve_never_shrinks_and_keeps_data)
{
	IoBuffer b(32);
	b.Append("keep me");
	b.Reserve(8);
	cr_assert_eq(b.Capacity(), 32u);
	b.Reserve(4096);
	cr_assert_eq(b.Capacity(), 4096u);
	cr_assert_eq(Text(b), "keep me");
}

Test(io_buffer, move_transfers_the_block)
{
	IoBuffer a(16);
	a.Append("moved");
	IoBuffer b(std::move(a));
	cr_assert_eq(Text(b), "moved");
	cr_assert_eq(a.Capacity(), 0u);
	cr_assert(a.Empty());
	IoBuffer c;
	c = std::move(b);
	cr_assert_eq(Text(c), "moved");
}

Test(io_buffer, char_spans_alias_the_byte_spans)
{
	IoBuffer b(8);
	auto w = b.WritableSpan();
	w[0] = 'h';
	w[1] = 'i';
	b.Commit(2);
	cr_assert_eq(b.ReadableSpan()[0], 'h');
	cr_assert_eq(b.ReadableSpan().size(), b.ReadableBytesSpan().size());
}
