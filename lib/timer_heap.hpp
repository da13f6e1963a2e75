// SPDX-License-Identifier: MIT
// A binary min-heap of deadlines. Each entry names an op slot, and the op
// remembers its position (Op::heap_pos) so a cancel or a re-armed timeout
// moves or removes it in O(log n). The loop only looks at the top: the
// nearest deadline is the kernel wait's timeout.
#pragma once

#include <cstdint>
#include <vector>

#include "op_table.hpp"

namespace kio {

class TimerHeap {
public:
	struct Entry {
		uint64_t key;
		uint32_t idx;
	};

	bool empty() const noexcept { return heap_.empty(); }
	size_t size() const noexcept { return heap_.size(); }
	const Entry &top() const noexcept { return heap_.front(); }
	uint64_t next_deadline() const noexcept { return heap_.empty() ? UINT64_MAX : heap_.front().key; }

	// Inserts op idx with key, or moves it if it is already in the heap.
	// May throw std::bad_alloc on insertion (capacity grows); nothing changes then.
	void set(OpTable &ops, uint32_t idx, uint64_t key)
	{
		Op &op = ops.at(idx);
		if (op.heap_pos != kNotInHeap) {
			uint32_t pos = op.heap_pos;
			uint64_t old = heap_[pos].key;
			heap_[pos].key = key;
			if (key < old)
				sift_up(ops, pos);
			else
				sift_down(ops, pos);
			return;
		}
		heap_.push_back(Entry{key, idx});
		op.heap_pos = uint32_t(heap_.size() - 1);
		sift_up(ops, op.heap_pos);
	}

	void remove(OpTable &ops, uint32_t idx) noexcept
	{
		Op &op = ops.at(idx);
		uint32_t pos = op.heap_pos;
		if (pos == kNotInHeap)
			return;
		op.heap_pos = kNotInHeap;
		uint32_t last = uint32_t(heap_.size() - 1);
		if (pos != last) {
			heap_[pos] = heap_[last];
			ops.at(heap_[pos].idx).heap_pos = pos;
			heap_.pop_back();
			sift_down(ops, pos);
			sift_up(ops, pos);
		} else {
			heap_.pop_back();
		}
	}

private:
	void place(OpTable &ops, uint32_t pos, const Entry &e) noexcept
	{
		heap_[pos] = e;
		ops.at(e.idx).heap_pos = pos;
	}

	void sift_up(OpTable &ops, uint32_t pos) noexcept
	{
		Entry e = heap_[pos];
		while (pos > 0) {
			uint32_t parent = (pos - 1) / 2;
			if (heap_[parent].key <= e.key)
				break;
			place(ops, pos, heap_[parent]);
			pos = parent;
		}
		place(ops, pos, e);
	}

	void sift_down(OpTable &ops, uint32_t pos) noexcept
	{
		uint32_t n = uint32_t(heap_.size());
		Entry e = heap_[pos];
		for (;;) {
			uint32_t child = 2 * pos + 1;
			if (child >= n)
				break;
			if (child + 1 < n && heap_[child + 1].key < heap_[child].key)
				child++;
			if (heap_[child].key >= e.key)
				break;
			place(ops, pos, heap_[child]);
			pos = child;
		}
		place(ops, pos, e);
	}

	std::vector<Entry> heap_;
};

} // namespace kio
