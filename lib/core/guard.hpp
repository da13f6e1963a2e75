// SPDX-License-Identifier: MIT
// The exception barrier: nothing thrown inside libkio may cross the C ABI.
#pragma once

#include <cerrno>
#include <new>

namespace kio {

// Runs fn and turns any exception into a negated errno. The only exception
// the library can raise is std::bad_alloc from a growing table.
template <typename R, typename F>
inline R guard(F &&fn) noexcept
{
	try {
		return fn();
	} catch (const std::bad_alloc &) {
		return R(-ENOMEM);
	} catch (...) {
		return R(-EFAULT);
	}
}

// kio never changes errno as seen by its caller (the C ABI reports errors
// only through return values): syscalls made inside keep it in one of these.
struct ErrnoKeeper {
	int saved = errno;
	ErrnoKeeper() = default;
	ErrnoKeeper(const ErrnoKeeper &) = delete;
	ErrnoKeeper &operator=(const ErrnoKeeper &) = delete;
	~ErrnoKeeper() { errno = saved; }
};

} // namespace kio
