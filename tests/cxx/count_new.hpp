// SPDX-License-Identifier: MIT
//
// Replacement global operator new/delete that count the calls made on a
// thread while its t_counting is set: the no-allocation tests switch it on
// once warmed up and check t_news.
//
// Replacements of operator new must be defined exactly once per program.
// Each test file is its own executable, so a header holding the
// definitions, included by the one test file of that program, is correct;
// include it from one translation unit only.
//
// TSan's runtime defines operator new itself: there KXT_COUNT_NEW is 0, the
// replacement is compiled out and the counting tests skip themselves.
#ifndef KIO_CXX_COUNT_NEW_HPP
#define KIO_CXX_COUNT_NEW_HPP

#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define KXT_COUNT_NEW 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KXT_COUNT_NEW 0
#endif
#endif
#ifndef KXT_COUNT_NEW
#define KXT_COUNT_NEW 1
#endif

namespace {
thread_local bool t_counting = false;
thread_local unsigned long t_news = 0;
} // namespace

// g++ sees malloc in new and free in delete and warns of a mismatch that
// is not one (both sides are replaced together).
#if KXT_COUNT_NEW
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void *operator new(std::size_t n)
{
	if (t_counting)
		t_news++;
	if (void *p = std::malloc(n ? n : 1))
		return p;
	throw std::bad_alloc();
}
void *operator new[](std::size_t n)
{
	return ::operator new(n);
}
void *operator new(std::size_t n, const std::nothrow_t &) noexcept
{
	if (t_counting)
		t_news++;
	return std::malloc(n ? n : 1);
}
void *operator new[](std::size_t n, const std::nothrow_t &t) noexcept
{
	return ::operator new(n, t);
}
void operator delete(void *p) noexcept
{
	std::free(p);
}
void operator delete[](void *p) noexcept
{
	std::free(p);
}
void operator delete(void *p, std::size_t) noexcept
{
	std::free(p);
}
void operator delete[](void *p, std::size_t) noexcept
{
	std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif // KXT_COUNT_NEW

#endif
