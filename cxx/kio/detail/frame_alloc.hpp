// SPDX-License-Identifier: MIT
//
// kio/detail/frame_alloc.hpp - a recycling allocator for coroutine frames.
//
// Every Task body is a heap-allocated frame. A server that spawns one short
// task per connection or request would otherwise call operator new and
// delete for each of them; here a finished frame goes on a per-thread free
// list of its size class and the next frame of that class takes it back,
// so spawning and finishing tasks in a steady state allocates nothing.
//
//   - Size classes: four per power of two from 64 B to 16 KiB (at most 25%
//     slack); larger frames go straight to operator new/delete.
//   - Per-thread lists, no locks and no atomics. A frame freed on another
//     thread than the one that made it simply joins the freeing thread's
//     list: every block comes from the global operator new, so any thread
//     may reuse or release it.
//   - Bounded: each thread keeps at most FrameCacheLimit() bytes (1 MiB by
//     default, SetFrameCacheLimit() to change it for the calling thread;
//     0 turns caching off there). Beyond that a freed frame goes back to
//     operator delete. A thread's cache is released when the thread ends.
//   - Address sanitizer builds (and KIO_CXX_FRAME_CACHE=0) bypass the
//     cache: each frame is its own allocation, so a use after free or a
//     double destroy of a frame is still reported.
#ifndef KIO_CXX_DETAIL_FRAME_ALLOC_HPP
#define KIO_CXX_DETAIL_FRAME_ALLOC_HPP

#include "abi.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>

#ifndef KIO_CXX_FRAME_CACHE
#if defined(__SANITIZE_ADDRESS__)
#define KIO_CXX_FRAME_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KIO_CXX_FRAME_CACHE 0
#endif
#endif
#endif
#ifndef KIO_CXX_FRAME_CACHE
#define KIO_CXX_FRAME_CACHE 1
#endif

namespace kio {
inline namespace KIO_CXX_ABI {
namespace detail {

inline constexpr std::size_t kFrameMin = 64;
inline constexpr std::size_t kFrameMax = 16384;
// 64 B .. 16 KiB, four classes per doubling: 8 doublings * 4 + the 16 KiB one.
inline constexpr unsigned kFrameClasses = 33;
inline constexpr std::size_t kFrameCacheDefault = std::size_t(1) << 20;

// Class of an n-byte frame (kFrameMin < n <= kFrameMax handled; smaller
// ones share class 0). Class c >= 0 holds blocks of FrameClassSize(c).
constexpr unsigned FrameClassOf(std::size_t n) noexcept
{
	if (n <= kFrameMin)
		return 0;
	// n in (2^(b-1), 2^b]: a quarter of 2^(b-1) per step.
	const unsigned b = unsigned(std::bit_width(n - 1));
	const std::size_t base = std::size_t(1) << (b - 1);
	const std::size_t step = base >> 2;
	const unsigned sub = unsigned((n - base + step - 1) / step); // 1..4
	return (b - 7) * 4 + sub;
}

constexpr std::size_t FrameClassSize(unsigned c) noexcept
{
	if (c == 0)
		return kFrameMin;
	const unsigned b = (c - 1) / 4 + 7;
	const unsigned sub = (c - 1) % 4 + 1;
	const std::size_t base = std::size_t(1) << (b - 1);
	return base + sub * (base >> 2);
}

static_assert(FrameClassOf(kFrameMax) == kFrameClasses - 1);
static_assert(FrameClassSize(kFrameClasses - 1) == kFrameMax);
static_assert(FrameClassSize(FrameClassOf(65)) == 80);
static_assert(FrameClassSize(FrameClassOf(4200)) == 5120);

struct FreeFrame {
	FreeFrame *next;
};

// Constant-initialized, so the hot path reads it without a guard.
struct FrameCache {
	FreeFrame *head[kFrameClasses];
	std::size_t cached_bytes;
	std::size_t limit;
	bool limit_set;
	bool registered; // the thread-exit release is armed
	bool dead;       // the thread is ending: no more caching
};

inline FrameCache &ThisThreadFrames() noexcept
{
	static constinit thread_local FrameCache c{};
	return c;
}

inline void ReleaseFrameCache(FrameCache &c) noexcept
{
	for (unsigned i = 0; i < kFrameClasses; i++) {
		while (FreeFrame *f = c.head[i]) {
			c.head[i] = f->next;
			::operator delete(static_cast<void *>(f));
		}
	}
	c.cached_bytes = 0;
}

// Releases the cache when its thread ends; frames freed after that go
// straight back to operator delete.
struct FrameCacheReaper {
	~FrameCacheReaper()
	{
		FrameCache &c = ThisThreadFrames();
		ReleaseFrameCache(c);
		c.dead = true;
	}
};

inline void ArmFrameCacheReaper(FrameCache &c) noexcept
{
	static thread_local FrameCacheReaper reaper;
	(void)reaper;
	c.registered = true;
}

inline std::size_t FrameCacheLimitOf(const FrameCache &c) noexcept
{
	return c.limit_set ? c.limit : kFrameCacheDefault;
}

inline void *FrameAllocate(std::size_t n)
{
#if KIO_CXX_FRAME_CACHE
	if (n <= kFrameMax) {
		const unsigned cls = FrameClassOf(n);
		FrameCache &c = ThisThreadFrames();
		if (FreeFrame *f = c.head[cls]) {
			c.head[cls] = f->next;
			c.cached_bytes -= FrameClassSize(cls);
			return f;
		}
		return ::operator new(FrameClassSize(cls));
	}
#endif
	return ::operator new(n);
}

inline void FrameDeallocate(void *p, std::size_t n) noexcept
{
#if KIO_CXX_FRAME_CACHE
	if (n <= kFrameMax) {
		const unsigned cls = FrameClassOf(n);
		const std::size_t size = FrameClassSize(cls);
		FrameCache &c = ThisThreadFrames();
		if (!c.dead && c.cached_bytes + size <= FrameCacheLimitOf(c)) {
			if (!c.registered)
				ArmFrameCacheReaper(c);
			auto *f = static_cast<FreeFrame *>(p);
			f->next = c.head[cls];
			c.head[cls] = f;
			c.cached_bytes += size;
			return;
		}
	}
#endif
	(void)n;
	::operator delete(p);
}

} // namespace detail

// The calling thread's cache of finished coroutine frames (bytes held now,
// and the most it keeps). 0 and 0 when the cache is compiled out.
inline std::size_t FrameCacheBytes() noexcept
{
#if KIO_CXX_FRAME_CACHE
	return detail::ThisThreadFrames().cached_bytes;
#else
	return 0;
#endif
}
inline std::size_t FrameCacheLimit() noexcept
{
#if KIO_CXX_FRAME_CACHE
	return detail::FrameCacheLimitOf(detail::ThisThreadFrames());
#else
	return 0;
#endif
}
// Sets the calling thread's limit; frames cached beyond it are released
// now. 0: cache nothing on this thread.
inline void SetFrameCacheLimit(std::size_t bytes) noexcept
{
#if KIO_CXX_FRAME_CACHE
	detail::FrameCache &c = detail::ThisThreadFrames();
	c.limit = bytes;
	c.limit_set = true;
	if (c.cached_bytes > bytes)
		detail::ReleaseFrameCache(c);
#else
	(void)bytes;
#endif
}
// Releases every frame the calling thread keeps.
inline void ReleaseFrameCache() noexcept
{
#if KIO_CXX_FRAME_CACHE
	detail::ReleaseFrameCache(detail::ThisThreadFrames());
#endif
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_DETAIL_FRAME_ALLOC_HPP
