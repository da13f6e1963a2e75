// SPDX-License-Identifier: MIT
// A hierarchical timer wheel of deadlines: arming, re-arming and removing
// an entry are O(1) whatever the number pending, so a kio_op_timeout() that
// never fires costs a link and an unlink.
//
// Time is cut in ticks of 2^16 ns (65.5 us). Level 0 is a ring of 4096
// one-tick buckets: the 268 ms from the wheel's current tick (cur_) on, so
// a timer shorter than that never moves. Each level above has 64 buckets,
// each 64 times as long as one of the level below, aligned on their
// length. The seven levels span 2^64 ns, so every deadline has a place and
// none waits in an overflow list. A later entry goes to the level of the
// highest 6-bit group where its tick differs from cur_ (as does a near one
// whose bucket there already has entries, so that it stays behind them);
// when cur_ enters a bucket of a higher level, its entries move down (a
// cascade), each at most once per level.
//
// An entry fires once the clock has passed the end of its tick, so never
// early and at most a tick late. The entries of a bucket are sorted by
// deadline (stable) before they fire: timers fire in deadline order, and
// equal deadlines in the order they were armed (buckets are FIFO lists and
// cascades keep that order). A deadline already past when it is armed is
// flagged, and fires at the next expire() instead of at the tick's end.
//
// A bucket's list runs through op records scattered over the table, so
// walking it waits for one cache miss after another. Before the wheel
// sorts and fires buckets it reads the next few from both ends side by
// side (warm()), the misses overlapping, and notes the order it met the
// entries in: the sort's walk prefetches from those notes.
//
// Entries are op slots, doubly chained. A one-shot timer keeps its links
// in its own op record (Op::wheel, where a periodic timer keeps its
// period): a kio_sleep() costs its record and nothing more, and firing it
// reads one cache line. Other ops keep theirs in a page array indexed by
// slot (8 bytes each), touched only for the slots that use it.
// The first entry's prev and the last one's next name the bucket (kEnd |
// bucket), so an unlink needs no search. Op::heap_pos says whether the op
// is armed (kNotInHeap: not) and holds its bucket, or kPending.
//
// A kio_op_timeout() deadline is linked late (defer()): the op's slot goes
// on a pending list with its timeout relative, and reads no clock. Most ops
// end before the list is flushed; their entry then costs a push and a
// counter, and the list empties in O(1) when its last live entry goes. A
// flush, at the first expire() from pend_due_ on, links the entries still
// armed with deadline = the flush's clock + their timeout: the clock is read
// after every call on the list, so no deadline is early; each is later than
// asked by at most the list's age at the flush, min(kPendAge, the smallest
// timeout on the list) plus one round. A deadline re-armed while linked
// (an idle timeout re-armed per message) stays linked: the re-arm is noted
// (rearm_) and applied at the flush; a later deadline only replaces
// timeout_at, the entry fires at the old one and the loop links it again
// (fire_timer()); an earlier one moves it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "core/clock.hpp"
#include "core/deadline_sort.hpp"
#include "core/mapping.hpp"
#include "core/op_table.hpp"

namespace kio {

// What an op waits for in the wheel: a timer's expiry or its
// kio_op_timeout() deadline, whichever comes first; kNever: nothing.
inline uint64_t timer_key(const Op &op) noexcept
{
	bool timer = op.kind == Kind::Timer || op.kind == Kind::Periodic;
	uint64_t key = timer ? op.fire_at : kNever; // others keep ext in fire_at
	if (op.timeout_at && op.timeout_at < key)
		key = op.timeout_at;
	return key;
}

class TimerWheel {
public:
	static constexpr unsigned kTickShift = 16;
	static constexpr unsigned kL0Bits = 12; // level 0: 4096 buckets
	static constexpr unsigned kL0Slots = 1u << kL0Bits;
	static constexpr uint64_t kL0Mask = kL0Slots - 1;
	static constexpr unsigned kLevelBits = 6; // levels 1..6: 64 buckets
	static constexpr unsigned kSlots = 1u << kLevelBits;
	static constexpr uint64_t kSlotMask = kSlots - 1;
	static constexpr unsigned kLevels = 7; // 16 + 12 + 6 * 6 = 64 bits of ns
	static constexpr unsigned kBuckets = kL0Slots + (kLevels - 1) * kSlots;

	TimerWheel() noexcept
	{
		std::fill(std::begin(head_), std::end(head_), kNoSlot);
		std::fill(std::begin(tail_), std::end(tail_), kNoSlot);
	}

	bool empty() const noexcept
	{
		return size_ == 0 && pend_live_ == 0;
	}
	size_t size() const noexcept
	{
		return size_ + pend_live_;
	}

	// Pending entries are flushed after at most this long (1 ms).
	static constexpr uint64_t kPendAge = 1000000;

	// When expire() next has work: a bucket to fire or to cascade. 1 (long
	// past) when an entry armed already due waits; kNever when empty.
	// Never later than the nearest deadline's tick end; earlier only after
	// the entry it was for was disarmed.
	uint64_t next_deadline() const noexcept
	{
		uint64_t pend = (pend_live_ | rearm_n_) ? pend_due_ : kNever;
		if (size_ == 0)
			return pend;
		if (due_)
			return 1;
		return std::min(pend, wake_ >> (64 - kTickShift) ? kNever : wake_ << kTickShift);
	}

	// Arms op idx (not a timer: its key is timeout_at alone) to time out
	// rel ns (> 0) after this call, linked late (see the top). May throw
	// std::bad_alloc; nothing changes then.
	void defer(OpTable &ops, uint32_t idx, uint64_t rel)
	{
		if (!try_defer(ops.at(idx), idx, rel))
			defer_slow(ops, idx, rel);
	}

	// defer()'s common case, nothing to allocate, read or unlink: false
	// (nothing done) otherwise.
	[[gnu::always_inline]] bool try_defer(Op &op, uint32_t idx, uint64_t rel) noexcept
	{
		if (op.heap_pos == kNotInHeap) {
			// pend_lim_ == pend_end_ also when the list is empty: it
			// needs a clock read to start.
			if (pend_end_ == pend_lim_ || idx >= links_cap_ || rel < pend_min_)
				return false;
			*pend_end_++ = idx;
			pend_live_++;
			op.heap_pos = kPending;
		} else if (op.heap_pos != kPending) {
			// Linked in the wheel: noted for the flush, the entry stays
			// (an idle timeout re-armed per message moves nothing). The
			// note's place is kept in heap_pos, so a second re-arm
			// before the flush only replaces its timeout.
			if (rel < pend_min_)
				return false;
			if (op.heap_pos & kNoted) {
				rearm_[op.heap_pos & ~kNoted].rel = rel;
				return true;
			}
			if ((pend_live_ | rearm_n_) == 0 || rearm_n_ == rearm_.size())
				return false;
			op.heap_pos = kNoted | rearm_n_;
			rearm_[rearm_n_++] = Rearm{idx, op.gen, rel};
			return true;
		} else if (rel < pend_min_) {
			return false;
		}
		op.timeout_at = rel;
		return true;
	}

	// Arms op idx at key (moving it if already armed). now: the monotonic
	// time if the caller has it (0: read it if needed). May throw
	// std::bad_alloc (the link array grows); nothing changes then.
	[[gnu::always_inline]] void set(OpTable &ops, uint32_t idx, uint64_t key, uint64_t now = 0)
	{
		if (__builtin_expect(idx >= links_.capacity() || size_ == 0 ||
					     (now == 0 && (key >> kTickShift) <= cur_),
				     0)) {
			set_slow(ops, idx, key, now);
			return;
		}
		remove(ops, idx);
		if (key <= now)
			due_ = true;
		insert(ops, idx, key);
	}

	// Disarms op idx; nothing if it is not armed.
	void remove(OpTable &ops, uint32_t idx) noexcept
	{
		Op &op = ops.at(idx);
		if (op.heap_pos == kNotInHeap)
			return;
		if (op.heap_pos == kPending) {
			// Its entry stays on the list, stale; the last one empties it.
			op.heap_pos = kNotInHeap;
			if (--pend_live_ == 0)
				pend_end_ = pend_lim_ = pend_.data();
			return;
		}
		Link &l = link(ops, idx);
		uint32_t n = l.next;
		uint32_t p = l.prev;
		if (p & kEnd) {
			uint32_t b = p & ~kEnd;
			head_[b] = (n & kEnd) ? kNoSlot : n;
			if (n & kEnd)
				clear_occ(b);
		} else {
			link(ops, p).next = n;
		}
		if (n & kEnd)
			tail_[n & ~kEnd] = (p & kEnd) ? kNoSlot : p;
		else
			link(ops, n).prev = p;
		op.heap_pos = kNotInHeap;
		size_--;
	}

	// Some armed entry (for tearing down); the wheel must not be empty.
	uint32_t any(const OpTable &ops) const noexcept
	{
		if (pend_live_)
			for (const uint32_t *p = pend_.data(); p < pend_end_; p++)
				if (ops.at(*p).heap_pos == kPending)
					return *p;
		if (occ0_sum_) {
			unsigned w = unsigned(__builtin_ctzll(occ0_sum_));
			return head_[w * 64 + unsigned(__builtin_ctzll(occ0_[w]))];
		}
		for (unsigned l = 1; l < kLevels; l++)
			if (occ_[l])
				return head_[bucket_of(l, unsigned(__builtin_ctzll(occ_[l])))];
		return kNoSlot;
	}

	// At most this many entries fire per expire(): the loop delivers them
	// before it fires more, so a backlog goes through the ready queue in
	// slices (which stays small) while their op records are still cached.
	static constexpr uint32_t kFireBudget = 1024;

	// Disarms the entries whose deadline has passed at now and hands each
	// slot to fire(idx), in deadline order, up to kFireBudget of them: when
	// more are due, next_deadline() says so (it is past). fire may arm
	// entries again.
	// Whether expire() at now has anything to do: a list to flush, a
	// bucket due or to cascade. Inline, so a round with nothing due makes
	// no call (expire() tests the same first).
	bool has_work(uint64_t now) const noexcept
	{
		return ((pend_live_ | rearm_n_) != 0 && now >= pend_due_) ||
		       (now >> kTickShift) >= wake_ || due_;
	}

	template <class Fire>
	void expire(OpTable &ops, uint64_t now, Fire &&fire)
	{
		if (__builtin_expect((pend_live_ | rearm_n_) != 0, 0) && now >= pend_due_)
			flush(ops, now);
		uint64_t nt = now >> kTickShift;
		if (__builtin_expect(nt < wake_ && !due_, 1))
			return; // the common round: nothing due, nothing to cascade
		// An entry about to fire may have been given a later deadline
		// since it was linked: those go first (early is never late).
		if (rearm_n_)
			flush(ops, now);
		uint32_t budget = kFireBudget;
		while (size_) {
			cascade(ops);
			if (cur_ >= nt)
				break;
			uint32_t b = uint32_t(cur_ & kL0Mask);
			if (has0(b)) {
				if (cur_ >= warm_end_)
					warm(ops, nt);
				if (!fire_bucket(ops, b, kNever, fire, budget)) {
					wake_ = cur_ ? cur_ : 1; // due now: the next round goes on
					return;
				}
				continue; // fire may have armed more in this tick
			}
			cur_ = std::min(next_event(), nt);
		}
		if (size_ == 0 && cur_ < nt)
			cur_ = nt;
		if (due_) {
			due_ = false;
			uint32_t b = uint32_t(cur_ & kL0Mask);
			if (has0(b) && !fire_bucket(ops, b, now, fire, budget))
				due_ = true; // more may be due in it: the next round looks
		}
		wake_ = next_wake();
	}

private:
	static constexpr uint32_t kEnd = 0x80000000u; // | bucket: a list's end

	// next: the next entry, or kEnd | bucket; prev: the previous one, or
	// kEnd | bucket.
	using Link = WheelLink;

	// Where entry idx keeps its links (see the top).
	Link &link(OpTable &ops, uint32_t idx) noexcept
	{
		Op &op = ops.at(idx);
		return op.kind == Kind::Timer ? op.wheel : links_.data()[idx];
	}
	const Link &link(const OpTable &ops, uint32_t idx) const noexcept
	{
		const Op &op = ops.at(idx);
		return op.kind == Kind::Timer ? op.wheel : links_.data()[idx];
	}
	static constexpr uint64_t kNoTick = UINT64_MAX;
	static constexpr uint32_t kPending = kNotInHeap - 1; // heap_pos: on pend_
	// heap_pos of a linked entry whose re-arm waits in rearm_: kNoted | the
	// note's index. (A linked entry's heap_pos is never read as a bucket
	// number, links name the bucket: any value below kNoted works.)
	static constexpr uint32_t kNoted = 1u << 30;

	// defer() for a new list (stamped with the clock), a list or link array
	// to grow, a smaller timeout than any on the list, or an op to unlink
	// from the wheel first.
	[[gnu::noinline, gnu::cold]] void defer_slow(OpTable &ops, uint32_t idx, uint64_t rel)
	{
		if (idx >= links_.capacity())
			links_.reserve(links_want(ops, idx));
		links_cap_ = links_.capacity();
		Op &op = ops.at(idx);
		if (op.heap_pos != kPending && op.heap_pos != kNotInHeap) {
			// Linked in the wheel already (try_defer()): the list needs
			// room or a start, or rel is below the list's smallest.
			if (op.heap_pos & kNoted) {
				rearm_[op.heap_pos & ~kNoted].rel = rel;
			} else {
				if (rearm_n_ == rearm_.size())
					rearm_.resize(rearm_n_ < 64 ? 64 : rearm_n_ * 2);
				start_pending();
				op.heap_pos = kNoted | rearm_n_;
				rearm_[rearm_n_++] = Rearm{idx, op.gen, rel};
			}
			lower_pend_min(rel);
			return;
		}
		if (op.heap_pos != kPending && pend_end_ == pend_.data() + pend_.size()) {
			size_t n = size_t(pend_end_ - pend_.data());
			pend_.resize(n < 64 ? 64 : n * 2);
			pend_end_ = pend_.data() + n;
		}
		if (op.heap_pos != kPending) {
			start_pending();
			*pend_end_++ = idx;
			pend_lim_ = pend_.data() + pend_.size();
			pend_live_++;
			op.heap_pos = kPending;
		}
		op.timeout_at = rel;
		lower_pend_min(rel);
	}

	// The first entry since the last flush stamps the list with the clock.
	void start_pending() noexcept
	{
		if ((pend_live_ | rearm_n_) == 0) {
			pend_stamp_ = mono_ns();
			pend_min_ = kPendAge;
			pend_due_ = deadline_after(pend_stamp_, kPendAge);
		}
	}
	void lower_pend_min(uint64_t rel) noexcept
	{
		if (rel < pend_min_) {
			pend_min_ = rel;
			pend_due_ = deadline_after(pend_stamp_, rel);
		}
	}

	// Links every pending entry still armed, at now + its timeout. The
	// link array has room for each (defer() made it), so nothing throws.
	void flush(OpTable &ops, uint64_t now) noexcept
	{
		// Re-arms of linked entries first: an op re-armed, disarmed and
		// armed again is on pend_ (kPending) and skipped here. Each one
		// sets the deadline from this clock; a later one only replaces
		// the field, and the entry fires at the earlier one, where the
		// loop links it again (fire_timer()); an earlier one moves it.
		for (uint32_t i = 0; i < rearm_n_; i++) {
			Rearm r = rearm_[i];
			Op &op = ops.at(r.idx);
			if (op.gen != r.gen || op.heap_pos >= kPending)
				continue; // ended, its slot reused, disarmed or pending again
			op.heap_pos &= ~kNoted;
			uint64_t d = deadline_after(now, r.rel);
			if (d >= op.timeout_at) {
				op.timeout_at = d;
				continue;
			}
			remove(ops, r.idx);
			op.timeout_at = d;
			if (size_ == 0 && (now >> kTickShift) > cur_)
				cur_ = now >> kTickShift;
			insert(ops, r.idx, d);
		}
		rearm_n_ = 0;
		for (const uint32_t *p = pend_.data(); p < pend_end_; p++) {
			uint32_t idx = *p;
			Op &op = ops.at(idx);
			if (op.heap_pos != kPending)
				continue; // ended or disarmed since, or linked already
			op.heap_pos = kNotInHeap;
			op.timeout_at = deadline_after(now, op.timeout_at);
			if (size_ == 0 && (now >> kTickShift) > cur_)
				cur_ = now >> kTickShift; // as set_slow(): nothing holds cur_ back
			insert(ops, idx, op.timeout_at);
		}
		pend_end_ = pend_lim_ = pend_.data();
		pend_live_ = 0;
	}

	// Where level l starts in a tick number, and the number of its bucket s.
	static unsigned shift_of(unsigned l) noexcept
	{
		return l ? kL0Bits + (l - 1) * kLevelBits : 0;
	}
	static uint32_t bucket_of(unsigned l, unsigned s) noexcept
	{
		return l ? kL0Slots + (l - 1) * kSlots + s : s;
	}

	bool has0(uint32_t s) const noexcept
	{
		return occ0_[s >> 6] >> (s & 63) & 1;
	}

	// The first bucket of level 0 at or after s that holds entries, or -1.
	int find0(uint32_t s) const noexcept
	{
		uint32_t w = s >> 6;
		uint64_t m = occ0_[w] & (~uint64_t(0) << (s & 63));
		if (m)
			return int(w * 64 + unsigned(__builtin_ctzll(m)));
		uint64_t sum = w == 63 ? 0 : occ0_sum_ & (~uint64_t(0) << (w + 1));
		if (!sum)
			return -1;
		w = unsigned(__builtin_ctzll(sum));
		return int(w * 64 + unsigned(__builtin_ctzll(occ0_[w])));
	}

	void set_occ(uint32_t b) noexcept
	{
		if (b < kL0Slots) {
			occ0_[b >> 6] |= uint64_t(1) << (b & 63);
			occ0_sum_ |= uint64_t(1) << (b >> 6);
		} else {
			b -= kL0Slots;
			occ_[1 + b / kSlots] |= uint64_t(1) << (b & kSlotMask);
		}
	}

	void clear_occ(uint32_t b) noexcept
	{
		if (b < kL0Slots) {
			occ0_[b >> 6] &= ~(uint64_t(1) << (b & 63));
			if (!occ0_[b >> 6])
				occ0_sum_ &= ~(uint64_t(1) << (b >> 6));
		} else {
			b -= kL0Slots;
			occ_[1 + b / kSlots] &= ~(uint64_t(1) << (b & kSlotMask));
		}
	}

	// Room in the link array for slot idx, and for the table's slots: at
	// least twice as much as now, so it is resized rarely (the pages it does
	// not use stay untouched).
	size_t links_want(const OpTable &ops, uint32_t idx) const noexcept
	{
		size_t want = std::max<size_t>(size_t(idx) + 1, ops.slots());
		return std::max(want, links_.capacity() * 2);
	}

	// set() for a link array to grow, an empty wheel or a clock to read.
	[[gnu::noinline, gnu::cold]] void set_slow(OpTable &ops, uint32_t idx, uint64_t key,
						   uint64_t now)
	{
		if (idx >= links_.capacity())
			links_.reserve(links_want(ops, idx));
		links_cap_ = links_.capacity();
		remove(ops, idx);
		if (now == 0 && (size_ == 0 || (key >> kTickShift) <= cur_))
			now = mono_ns();
		// An empty wheel has no entry to keep cur_ behind: catch up.
		if (size_ == 0 && (now >> kTickShift) > cur_)
			cur_ = now >> kTickShift;
		if (key <= now)
			due_ = true;
		insert(ops, idx, key);
	}

	[[gnu::always_inline]] void insert(OpTable &ops, uint32_t idx, uint64_t key) noexcept
	{
		uint64_t t = key >> kTickShift;
		if (t < cur_)
			t = cur_;
		uint64_t diff = t ^ cur_;
		unsigned level = 0;
		uint32_t b = uint32_t(t & kL0Mask);
		if (__builtin_expect(diff > kL0Mask, 0)) {
			// Past cur_'s block: the ring takes it if it is near, unless
			// the higher bucket holding its tick has entries (armed
			// earlier, maybe on the same deadline): it queues behind them.
			unsigned l =
				1 + unsigned(63 - __builtin_clzll(diff) - kL0Bits) / kLevelBits;
			unsigned s = unsigned((t >> shift_of(l)) & kSlotMask);
			if (t - cur_ > kL0Mask || (occ_[l] >> s & 1)) {
				level = l;
				b = bucket_of(l, s);
			}
		}
		append(ops, idx, b);
		// Level 0 fires once its tick has passed; a higher bucket cascades
		// when cur_ reaches its first tick.
		uint64_t when = level ? (t >> shift_of(level)) << shift_of(level) : t + 1;
		if (when < wake_)
			wake_ = when;
	}

	[[gnu::always_inline]] void append(OpTable &ops, uint32_t idx, uint32_t b) noexcept
	{
		Link &l = link(ops, idx);
		uint32_t t = tail_[b];
		if (t == kNoSlot) {
			head_[b] = idx;
			l.prev = kEnd | b;
			set_occ(b);
		} else {
			link(ops, t).next = idx;
			l.prev = t;
		}
		tail_[b] = idx;
		l.next = kEnd | b;
		if (b == sorted_)
			sorted_ = kNoSlot; // it may be out of order now
		ops.at(idx).heap_pos = b;
		size_++;
	}

	// The first tick at which expire() has work, kNoTick for none.
	uint64_t next_wake() const noexcept
	{
		uint64_t t = ring_next(0);
		return std::min(t == kNoTick ? t : t + 1, next_cascade());
	}

	// The first tick from cur_ + k on (k: 0 or 1) whose level-0 bucket holds
	// entries, kNoTick for none. The ring's bucket p holds the tick
	// cur_ + ((p - cur_) mod 4096).
	uint64_t ring_next(uint32_t k) const noexcept
	{
		uint32_t p0 = uint32_t(cur_ & kL0Mask);
		uint32_t start = (p0 + k) & kL0Mask;
		int q = find0(start);
		if (q < 0 && start)
			q = find0(0);
		if (q < 0)
			return kNoTick;
		return cur_ + ((uint32_t(q) - p0) & kL0Mask);
	}

	// The first tick after cur_ where a bucket of level >= 1 must cascade.
	uint64_t next_cascade() const noexcept
	{
		for (unsigned l = 1; l < kLevels; l++) {
			unsigned s = unsigned((cur_ >> shift_of(l)) & kSlotMask);
			uint64_t m = s == kSlotMask ? 0 : occ_[l] >> (s + 1);
			if (m) {
				uint64_t slot = s + 1 + unsigned(__builtin_ctzll(m));
				unsigned above =
					shift_of(l) + kLevelBits; // <= 48: ticks have 48 bits
				return ((cur_ >> above) << above) | (slot << shift_of(l));
			}
		}
		return kNoTick;
	}

	// The first tick after cur_ with something to do: a level-0 bucket to
	// fire or a higher one to cascade (the ring may reach past the next
	// cascade). Among levels 1..6 the lowest with entries comes first: its
	// buckets lie before every bucket of the levels above.
	uint64_t next_event() const noexcept
	{
		return std::min(ring_next(1), next_cascade());
	}

	// Moves the entries of the buckets cur_ has entered down, highest
	// level first (a cascade may fill the bucket below).
	void cascade(OpTable &ops) noexcept
	{
		for (unsigned l = kLevels - 1; l >= 1; l--) {
			uint32_t s = uint32_t((cur_ >> shift_of(l)) & kSlotMask);
			if (!(occ_[l] >> s & 1))
				continue;
			uint32_t b = bucket_of(l, s);
			uint32_t i = head_[b];
			head_[b] = tail_[b] = kNoSlot;
			occ_[l] &= ~(uint64_t(1) << s);
			warm_end_ = cur_; // buckets read ahead get entries: read again
			while (!(i & kEnd)) {
				Op &op = ops.at(i);
				uint32_t next = link(ops, i).next;
				op.heap_pos = kNotInHeap;
				size_--;
				insert(ops, i, timer_key(op));
				i = next;
			}
		}
	}

	// How many level-0 buckets warm() walks side by side, and how many
	// entries it reads at most (kWarmMax op records: 512 KiB, well inside
	// a core's L2, so they are still there when they fire).
	static constexpr unsigned kWarmBuckets = 8;
	static constexpr uint32_t kWarmMax = 8192;

	// Reads the entries of the next kWarmBuckets level-0 buckets from cur_
	// on, the due ones (ticks before nt) and those of the kWarmBuckets ticks
	// after, so that the first pass over them (sort_bucket()) finds them in
	// the cache. A bucket is a list through op records scattered over the
	// table: walked alone, each record is a cache miss the next one waits
	// for. Here each bucket is walked from both ends at once and the
	// buckets side by side, so up to 2 x kWarmBuckets misses are under way
	// together. Entries linked after this are merely not warm.
	void warm(const OpTable &ops, uint64_t nt) noexcept
	{
		uint32_t fwd[kWarmBuckets], bwd[kWarmBuckets], bucket[kWarmBuckets];
		unsigned k = 0;
		uint64_t end = std::min(nt + kWarmBuckets, cur_ + kL0Slots);
		uint64_t t = cur_;
		while (k < kWarmBuckets && t < end) {
			uint32_t p = uint32_t(t & kL0Mask);
			int q = find0(p);
			if (q < 0 && p)
				q = find0(0);
			if (q < 0)
				break;
			t += (uint32_t(q) - p) & kL0Mask;
			if (t >= end)
				break;
			fwd[k] = head_[q];
			bwd[k] = tail_[q];
			bucket[k] = uint32_t(q);
			k++;
			t++;
		}
		warm_end_ = t; // buckets before t are warm (or empty)
		if (!notes_ && size_ >= kHintFrom)
			notes_.reset(new (std::nothrow) WarmNotes); // none: no notes
		WarmNotes *notes = notes_.get();
		if (notes)
			for (unsigned j = 0; j < kWarmBuckets; j++)
				notes->hint[j] = Hint{j < k ? bucket[j] : kNoSlot};
		uint32_t left = kWarmMax;
		for (unsigned live = k; live && left;) {
			live = 0;
			for (unsigned j = 0; j < k; j++) {
				uint32_t x = fwd[j], y = bwd[j];
				if (x == kNoSlot)
					continue;
				uint32_t nx = link(ops, x).next;
				uint32_t py = link(ops, y).prev;
				left = left > 2 ? left - 2 : 0;
				if (notes)
					note(notes, j, x, y);
				if (x == y || nx == y) {
					fwd[j] = kNoSlot;
					continue;
				}
				fwd[j] = nx;
				bwd[j] = py;
				live++;
			}
		}
		for (unsigned j = 0; notes && j < k; j++)
			if (fwd[j] != kNoSlot)
				notes->hint[j].whole = false; // cut short
		if (!left)
			warm_end_ = cur_ + 1; // cut short: the next bucket warms again
	}

	// warm() keeps, for each bucket it read, the entries in the order it
	// met them (up to kHintPer of them): sort_bucket() walks the list and
	// prefetches the record kHintAhead places ahead from them. A hint is
	// only an address to prefetch, so one gone stale since costs nothing
	// but the prefetch.
	static constexpr uint32_t kHintPer = 1024;
	static constexpr uint32_t kHintAhead = 16;
	static constexpr uint32_t kHintFrom = 4096; // wheels this full keep hints
	struct Hint {
		uint32_t bucket = kNoSlot;
		uint32_t f = 0, g = 0; // from the head, from the tail
		bool whole = true;     // f + g is the whole list
	};
	struct WarmNotes {
		Hint hint[kWarmBuckets];
		uint32_t ids[kWarmBuckets * kHintPer]; // kHintPer per bucket read
	};

	// warm() met x from the head and y from the tail of its j-th bucket.
	static void note(WarmNotes *notes, unsigned j, uint32_t x, uint32_t y) noexcept
	{
		Hint &h = notes->hint[j];
		if (h.f + h.g + 2 > kHintPer) {
			h.whole = false;
			return;
		}
		uint32_t *ids = notes->ids + j * kHintPer;
		ids[h.f++] = x;
		if (x != y)
			ids[kHintPer - 1 - h.g++] = y;
	}

	// The record sort_bucket() will read kHintAhead places after place n of
	// bucket b, or kNoSlot.
	uint32_t hint_for(const Hint *hb, const uint32_t *h, uint32_t n) const noexcept
	{
		uint32_t a = n + kHintAhead;
		if (a < hb->f)
			return h[a];
		uint32_t all = hb->f + hb->g;
		if (hb->whole && a < all)
			return h[kHintPer - 1 - (all - 1 - a)];
		return kNoSlot;
	}

	// Fires bucket b of level 0 in deadline order, up to deadline limit
	// and budget entries; false if the budget ran out first.
	template <class Fire>
	bool fire_bucket(OpTable &ops, uint32_t b, uint64_t limit, Fire &fire, uint32_t &budget)
	{
		if (sorted_ != b) {
			sort_bucket(ops, b);
			sorted_ = b; // a slice left for the next round needs no new sort
		}
		while (head_[b] != kNoSlot) {
			uint32_t i = head_[b];
			if (limit != kNever && timer_key(ops.at(i)) > limit)
				break;
			if (budget == 0)
				return false;
			budget--;
			remove(ops, i);
			fire(i);
		}
		return true;
	}

	// Sorts bucket b by deadline, stably. One pass over the list copies the
	// deadlines and slots to flat arrays (each op record is read once) and
	// sees whether they are in order already: nothing to do then. The
	// deadlines become words of offset and place (core/deadline_sort.hpp).
	// If the arrays cannot grow, or the offsets do not fit 32 bits (an
	// entry armed seconds overdue shares the bucket), the list itself is
	// merge-sorted.
	void sort_bucket(OpTable &ops, uint32_t b) noexcept
	{
		uint32_t h = head_[b];
		uint32_t n = 0;
		bool sorted = true;
		bool flat = true;
		uint64_t last = 0;
		const Hint *hb = nullptr;
		const uint32_t *hs = nullptr;
		for (unsigned j = 0; notes_ && j < kWarmBuckets; j++) {
			if (notes_->hint[j].bucket == b) {
				hb = &notes_->hint[j];
				hs = notes_->ids + j * kHintPer;
			}
		}
		uint64_t low = kNever, high = 0;
		for (uint32_t i = h; !(i & kEnd); n++) {
			if (hb) {
				uint32_t a = hint_for(hb, hs, n);
				if (a != kNoSlot)
					__builtin_prefetch(&ops.at(a));
			}
			uint64_t k = timer_key(ops.at(i));
			sorted &= k >= last;
			last = k;
			low = std::min(low, k);
			high = std::max(high, k);
			if (flat && n >= sort_out_.size()) // resized last by grow()
				flat = grow(n);
			if (flat) {
				sort_key_[n] = k;
				sort_idx_[n] = i;
			}
			i = link(ops, i).next;
		}
		if (sorted)
			return;
		if (!flat || high - low > UINT32_MAX) {
			link(ops, tail_[b]).next = kNoSlot;
			relink(ops, b, merge_sort(ops, h, n));
			return;
		}
		const uint64_t *w = sort_deadlines(sort_key_.data(), sort_out_.data(), n, low, high);
		// Both links of each entry from the arrays: no walk that waits on
		// the record before it.
		const uint32_t *at = sort_idx_.data();
		uint32_t p = kEnd | b;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t i = at[uint32_t(w[k])];
			Link &l = link(ops, i);
			l.prev = p;
			l.next = k + 1 < n ? at[uint32_t(w[k + 1])] : kEnd | b;
			p = i;
		}
		head_[b] = at[uint32_t(w[0])];
		tail_[b] = p;
	}

	// Chains the entries from h (ended by kNoSlot) as bucket b's list.
	void relink(OpTable &ops, uint32_t b, uint32_t h) noexcept
	{
		head_[b] = h;
		uint32_t p = kEnd | b;
		for (uint32_t i = h;;) {
			Link &l = link(ops, i);
			l.prev = p;
			p = i;
			uint32_t next = l.next;
			if (next == kNoSlot) {
				l.next = kEnd | b;
				break;
			}
			i = next;
		}
		tail_[b] = p;
	}

	// Room in the sort arrays for entry n and more; false if they cannot
	// grow. All three end at one size, sort_out_ last: its size is the room.
	bool grow(uint32_t n) noexcept
	{
		try {
			size_t want = std::max<size_t>(size_t(n) * 2, 256);
			sort_key_.resize(want);
			sort_idx_.resize(want);
			sort_out_.resize(want);
		} catch (...) {
			return false;
		}
		return true;
	}

	// n entries chained by next links, ended by kNoSlot: sorted, stable.
	uint32_t merge_sort(OpTable &ops, uint32_t h, uint32_t n) noexcept
	{
		if (n < 2)
			return h;
		uint32_t mid = h;
		for (uint32_t k = 1; k < n / 2; k++)
			mid = link(ops, mid).next;
		uint32_t second = link(ops, mid).next;
		link(ops, mid).next = kNoSlot;
		uint32_t a = merge_sort(ops, h, n / 2);
		uint32_t z = merge_sort(ops, second, n - n / 2);
		uint32_t head = kNoSlot;
		uint32_t *to = &head;
		while (a != kNoSlot && z != kNoSlot) {
			uint32_t &take = timer_key(ops.at(z)) < timer_key(ops.at(a)) ? z : a;
			*to = take;
			to = &link(ops, take).next;
			take = *to;
		}
		*to = a != kNoSlot ? a : z;
		return head;
	}

	// Which buckets hold entries: level 0 in 64 words and a word saying
	// which of them are not zero; levels 1..6 in a word each.
	uint64_t occ0_[kL0Slots / 64] = {};
	uint64_t occ0_sum_ = 0;
	uint64_t occ_[kLevels] = {}; // [0] unused
	uint32_t head_[kBuckets];
	uint32_t tail_[kBuckets];
	PageArray<Link> links_;
	// sort_bucket()'s arrays, kept for reuse, all of one size: by place in
	// the list, the deadlines (then words) and the slots; the sorted words.
	std::vector<uint64_t> sort_key_;
	std::vector<uint32_t> sort_idx_;
	std::vector<uint64_t> sort_out_;
	uint64_t cur_ = 0;               // every entry of an earlier tick has fired
	uint32_t size_ = 0;
	uint64_t wake_ = kNoTick;   // expire() has work from this tick on (or earlier)
	bool due_ = false;          // an entry armed already due waits in bucket cur_
	uint32_t sorted_ = kNoSlot; // a bucket sorted since its last append
	// The pending list (defer()): slots, stale ones included; how many of
	// them are armed; the clock when it was started (before each call on
	// it); the smallest timeout put on it (kPendAge at most); when to flush.
	// used up to pend_end_; pend_lim_: its end, or pend_end_ when empty.
	std::vector<uint32_t> pend_;
	uint32_t *pend_end_ = nullptr;
	uint32_t *pend_lim_ = nullptr;
	uint32_t pend_live_ = 0;
	size_t links_cap_ = 0; // links_.capacity(), read on the fast path
	uint64_t pend_stamp_ = 0;
	uint64_t pend_min_ = kPendAge;
	uint64_t pend_due_ = kNever;
	// Last, so the fields above keep their places.
	uint64_t warm_end_ = 0;            // warm() read the ring's buckets before this tick
	std::unique_ptr<WarmNotes> notes_; // warm()'s notes (none until the wheel is full)
	// Re-arms of entries already linked (try_defer()), applied at the
	// flush: the op's slot and generation, and its new timeout. Used up to
	// rearm_n_; counted apart from pend_live_, as each names an op that is
	// in the wheel already (a wheel without entries has none live).
	struct Rearm {
		uint32_t idx;
		uint32_t gen;
		uint64_t rel;
	};
	std::vector<Rearm> rearm_;
	uint32_t rearm_n_ = 0;
};

} // namespace kio
