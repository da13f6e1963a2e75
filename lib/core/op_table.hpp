// SPDX-License-Identifier: MIT
// The op table: a slab of op records reused through a free list, so the
// steady state allocates nothing per op. The slab lives in pages that grow
// in place (PageArray): ops move when it grows, so code holds slot indices.
//
// An op id is (generation << 32) | (tag << 24) | slot:
//   generation  31 bits: how many ops the context had started when this
//               one started (kio_stats::ops_submitted), so a stale id is
//               recognised even after its slot was reused, and freeing a
//               slot writes no generation;
//   tag          8 bits naming the context (core/ctx_tag.cpp), so an id
//               handed to another context is refused there (-ENOENT);
//   slot        24 bits: at most 16,777,215 ops in flight per context.
#pragma once

#include <cstdint>
#include <new>

#include <kio/common.h>

#include "core/mapping.hpp"

namespace kio {

enum class Kind : uint8_t {
	Free,     // slot unused
	Kernel,   // an SQE went (or goes) to the ring; a CQE ends it
	Timer,    // one-shot user-space timer
	Periodic, // multishot user-space timer
	Deferred, // result already known (a fallback ran); waits in the ready queue
	External, // runs outside the ring (a pool job); its Hook ends it
};

// Ops made of several steps, or whose completions need translating
// (send_zc, sendfile, signal waits, pool jobs), carry a Hook. The loop hands
// each of their completions to step() instead of the user's callback; the
// hook decides when the op ends (kio::complete_op()).
struct Hook {
	// A completion of the op: res and kio flags (KIO_F_* plus kFlagNotif).
	void (*step)(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags);
	// kio_op_cancel() or an expired timeout asks the op to end soon.
	// nullptr: cancel the op's SQE in the kernel (its user_data is the op
	// id). The op's final completion must still follow exactly once.
	int (*cancel)(kio_ctx *c, uint32_t idx);
};

// An internal completion flag: IORING_CQE_F_NOTIF (zero-copy buffer free).
inline constexpr uint32_t kFlagNotif = 1u << 2;

// Op::state bits.
enum : uint8_t {
	kCancelReq = 1 << 0,  // the kernel was asked to cancel it
	kTimedOut = 1 << 1,   // its kio_op_timeout() expired
	kCompleting = 1 << 2, // its final completion sits in the ready queue
	kTracksFd = 1 << 3,   // counted in kio_ctx::fd_inflight[fd]
	kPipeWrite = 1 << 4,  // may raise SIGPIPE in the kernel (write, splice)
	kHooked = 1 << 5,     // has a Hook (set with it by start_hooked/start_external)
	kTimed = 1 << 6,      // was put in the timer wheel (heap_pos may be set)
	kFixedIO = 1 << 7,    // a registered-buffer op, counted in kio_ctx::fixed_inflight
};

inline constexpr uint32_t kNotInHeap = UINT32_MAX;

// A timer wheel entry's neighbours (core/timer_wheel.hpp).
struct WheelLink {
	uint32_t next;
	uint32_t prev;
};

// One cache line: slots never share a line, and indexing is a shift.
struct alignas(64) Op {
	kio_cb cb;
	void *user_data;
	union {
		uint64_t fire_at; // Timer/Periodic: next expiry (monotonic ns)
		void *ext;        // ops with a Hook: their own state
	};
	uint64_t timeout_at; // kio_op_timeout() deadline; 0: none
	union {
		uint64_t period; // Periodic only
		WheelLink wheel; // Timer: its timer wheel links, kept in its own line
		int64_t aux;     // ops with a Hook: free for them to use
		// Kernel ops without a Hook: the SQ tail after their SQE was
		// taken (Ring::sq_tail()), their place in the order the kernel
		// issued them: kio_ctx_destroy() cancels the newest first
		// (core/ctx.cpp). 32 bits: one store on the fast path.
		uint32_t sq_pos;
	};
	uint32_t gen;
	uint32_t heap_pos; // timer wheel: its bucket (core/timer_wheel.hpp), or kNotInHeap
	union {
		int32_t fd;         // the fd counted in fd_inflight (kTracksFd)
		uint32_t next_free; // a free slot: the next one in the free list
	};
	Kind kind;
	uint8_t state;
	const Hook *hook; // nullptr for plain ops
};
static_assert(sizeof(Op) == 64, "an op record is one cache line");

inline constexpr uint32_t kNoSlot = UINT32_MAX;
inline constexpr unsigned kSlotBits = 24;
inline constexpr uint32_t kSlotMask = (uint32_t(1) << kSlotBits) - 1;

class OpTable {
public:
	// Returns a free slot (kind still Free). May throw std::bad_alloc when the
	// table grows; nothing is changed then.
	[[gnu::always_inline]] uint32_t alloc()
	{
		if (__builtin_expect(free_head_ == kNoSlot, 0))
			grow();
		return pop_free();
	}

	// The fast path of alloc(), for callers that checked has_free().
	bool has_free() const noexcept { return free_head_ != kNoSlot; }
	uint32_t pop_free() noexcept
	{
		uint32_t idx = free_head_;
		free_head_ = slot(idx)->next_free;
		return idx;
	}

	// A freed slot keeps what a new op expects to find: no timeout, not in
	// the timer wheel, no state bits. Callers leave it that way (finish()
	// removes wheel entries first), so starting an op writes only its own
	// fields.
	void release(uint32_t idx) noexcept
	{
		Op &op = *slot(idx);
		op.timeout_at = 0;
		op.hook = nullptr;
		release_plain(idx);
	}

	// release() for an op that never had a timeout or a hook: the fields
	// release() resets already hold their free values. The slot goes on
	// top of the free list: the next op reuses a warm line (and gets a new
	// generation when it starts, gen_of()).
	void release_plain(uint32_t idx) noexcept
	{
		Op &op = *slot(idx);
		op.kind = Kind::Free;
		op.state = 0;
		op.next_free = free_head_;
		free_head_ = idx;
	}

	Op &at(uint32_t idx) noexcept { return *slot(idx); }
	const Op &at(uint32_t idx) const noexcept { return *slot(idx); }

	// This table's context tag (0..255), placed in every id it gives out.
	void set_tag(uint32_t tag) noexcept { tag_bits_ = tag << kSlotBits; }
	uint32_t tag_bits() const noexcept { return tag_bits_; }

	int64_t id_of(uint32_t idx) const noexcept
	{
		return int64_t((uint64_t(slot(idx)->gen) << 32) | tag_bits_ | idx);
	}

	// The live op an id names, or nullptr for a finished, stale or bogus id,
	// or one of another context. Two tests cover every case: the low word
	// xor this table's tag is the slot when the tag matches and 2^24 or
	// more when it does not (count_ < 2^24); a negative id has bit 31 in
	// its generation word, which no op's generation has (gen_of()).
	Op *lookup(int64_t id) noexcept
	{
		uint32_t idx = uint32_t(uint64_t(id)) ^ tag_bits_;
		if (idx >= count_)
			return nullptr;
		Op &op = *slot(idx);
		if (op.gen != uint32_t(uint64_t(id) >> 32) || op.kind == Kind::Free)
			return nullptr;
		return &op;
	}

	// The generation of an op started as the context's serial-th (31 bits,
	// so ids stay positive).
	static uint32_t gen_of(uint64_t serial) noexcept { return uint32_t(serial) & 0x7fffffffu; }

	static uint32_t index_of(int64_t id) noexcept { return uint32_t(uint64_t(id)) & kSlotMask; }

	// Slots ever created (live or free): for walks over every op.
	uint32_t slots() const noexcept { return count_; }

private:
	// Called with the free list empty: reserves room for a quarter more
	// (the pages move, nothing is copied, so small steps cost little) and
	// chains at most kTouchStep new slots, lowest first, so low slots are
	// handed out first: the pages reserved and not yet used stay untouched,
	// so no more than one step of memory sits unused.
	static constexpr size_t kTouchStep = 256; // 16 KiB of records
	[[gnu::noinline, gnu::cold]] void grow()
	{
		size_t old = count_;
		size_t want = old + (old / 4 > 64 ? old / 4 : 64);
		if (old >= kSlotMask)
			throw std::bad_alloc(); // the id has room for no more slots
		if (want > kSlotMask)
			want = kSlotMask;
		if (storage_.capacity() <= old)
			storage_.reserve(want);
		size_t next = storage_.capacity() < kSlotMask ? storage_.capacity() : kSlotMask;
		if (next > old + kTouchStep)
			next = old + kTouchStep;
		Op *slots = storage_.data();
		Op blank{nullptr, nullptr, {0}, 0, {0}, 1, kNotInHeap, {-1}, Kind::Free, 0, nullptr};
		for (size_t i = old; i < next; i++) {
			Op *op = new (&slots[i]) Op(blank);
			op->next_free = i + 1 < next ? uint32_t(i + 1) : kNoSlot;
		}
		count_ = uint32_t(next);
		free_head_ = uint32_t(old);
	}

	Op *slot(uint32_t idx) noexcept { return storage_.data() + idx; }
	const Op *slot(uint32_t idx) const noexcept { return storage_.data() + idx; }

	PageArray<Op> storage_;
	uint32_t count_ = 0; // slots made so far (live or free)
	uint32_t free_head_ = kNoSlot; // first free slot, chained by Op::next_free
	uint32_t tag_bits_ = 0; // the context tag, shifted into place
};

} // namespace kio
