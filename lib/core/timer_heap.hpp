// SPDX-License-Identifier: MIT
// A binary min-heap of deadlines, in pages that grow in place (PageArray). Each entry names an op slot, and the op
// remembers its position (Op::heap_pos) so a cancel or a re-armed timeout
// moves or removes it in O(log n). The loop only looks at the top: the
// nearest deadline is the kernel wait's timeout.
#pragma once

#include <cstdint>

#include "core/mapping.hpp"
#include "core/op_table.hpp"

namespace kio {

class TimerHeap {
public:
	struct Entry {
		uint64_t key;
		uint32_t idx;
	};

	bool empty() const noexcept { return size_ == 0; }
	size_t size() const noexcept { return size_; }
	const Entry &top() const noexcept { return heap_.data()[0]; }
	uint64_t next_deadline() const noexcept { return size_ == 0 ? UINT64_MAX : heap_.data()[0].key; }

	// Inserts op idx with key, or moves it if it is already in the heap.
	// May throw std::bad_alloc on insertion (capacity grows); nothing changes then.
	void set(OpTable &ops, uint32_t idx, uint64_t key)
	{
		Op &op = ops.at(idx);
		if (op.heap_pos != kNotInHeap) {
			uint32_t pos = op.heap_pos;
			uint64_t old = at(pos).key;
			at(pos).key = key;
			if (key < old)
				sift_up(ops, pos);
			else
				sift_down(ops, pos);
			return;
		}
		if (size_ == heap_.capacity())
			heap_.reserve(size_ ? size_ * 2 : 256); // untouched pages cost nothing
		at(size_) = Entry{key, idx};
		op.heap_pos = size_++;
		sift_up(ops, op.heap_pos);
	}

	void remove(OpTable &ops, uint32_t idx) noexcept
	{
		Op &op = ops.at(idx);
		uint32_t pos = op.heap_pos;
		if (pos == kNotInHeap)
			return;
		op.heap_pos = kNotInHeap;
		uint32_t last = size_ - 1;
		size_--;
		if (pos != last) {
			at(pos) = at(last);
			ops.at(at(pos).idx).heap_pos = pos;
			sift_down(ops, pos);
			sift_up(ops, pos);
		}
	}

private:
	Entry &at(uint32_t pos) noexcept { return heap_.data()[pos]; }

	void place(OpTable &ops, uint32_t pos, const Entry &e) noexcept
	{
		at(pos) = e;
		ops.at(e.idx).heap_pos = pos;
	}

	void sift_up(OpTable &ops, uint32_t pos) noexcept
	{
		Entry e = at(pos);
		while (pos > 0) {
			uint32_t parent = (pos - 1) / 2;
			if (at(parent).key <= e.key)
				break;
			place(ops, pos, at(parent));
			pos = parent;
		}
		place(ops, pos, e);
	}

	void sift_down(OpTable &ops, uint32_t pos) noexcept
	{
		uint32_t n = size_;
		Entry e = at(pos);
		for (;;) {
			uint32_t child = 2 * pos + 1;
			if (child >= n)
				break;
			if (child + 1 < n && at(child + 1).key < at(child).key)
				child++;
			if (at(child).key >= e.key)
				break;
			place(ops, pos, at(child));
			pos = child;
		}
		place(ops, pos, e);
	}

	PageArray<Entry> heap_;
	uint32_t size_ = 0;
};

} // namespace kio
