/* SPDX-License-Identifier: MIT */
/*
 * Counting malloc for the no-allocation tests. malloc and friends are
 * interposed by the test executable (libkio.so and libstdc++ resolve them
 * there first) and forwarded to glibc's __libc_* entry points; while
 * `counting` is set, every allocation by any thread of the process adds
 * one to `allocs`.
 *
 * The definitions live in this header on purpose: an interposer must be
 * defined once per program, and each test file is its own executable, so
 * include it from that one file only. The sanitizers bring their own
 * allocator: tests/c/meson.build builds these tests only without them.
 */
#ifndef KIO_TEST_MALLOC_COUNT_H
#define KIO_TEST_MALLOC_COUNT_H

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

static atomic_int counting;
static atomic_ulong allocs;

static inline void note_alloc(void)
{
	if (atomic_load_explicit(&counting, memory_order_relaxed))
		atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
}

void *malloc(size_t size)
{
	note_alloc();
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	note_alloc();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	note_alloc();
	return __libc_realloc(p, size);
}

void *memalign(size_t align, size_t size)
{
	note_alloc();
	return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	note_alloc();
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	note_alloc();
	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	void *p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void free(void *p)
{
	__libc_free(p);
}

#endif
