// SPDX-License-Identifier: MIT
//
// kio/fd_guard.hpp - FDGuard: owns one file descriptor and closes it.
//
//   FDGuard g(::open(path, O_RDONLY | O_CLOEXEC));
//   if (!g) ...;                  // -1: nothing owned (open failed)
//   co_await AsyncRead(ctx, g.Get(), buf, 0);
//   int fd = g.Release();         // hands the fd over; g is empty after
//   g.Reset(other_fd);            // closes what g held, takes other_fd
//
// The reference library's RAII guard for descriptors that are not sockets
// (files, pipes, eventfds); net::Socket is the same for sockets. Move-only.
// The lower-case get()/release()/reset() are there too, for code written
// in the standard library's style. Closing is synchronous (close(2)): with
// ops still running on the fd, hand it to AsyncClose(ctx, g.Release())
// instead, which cancels them first.
#ifndef KIO_CXX_FD_GUARD_HPP
#define KIO_CXX_FD_GUARD_HPP

#include "detail/abi.hpp"

#include <unistd.h>

#include <utility>

namespace kio {
inline namespace KIO_CXX_ABI {

class FDGuard {
public:
	FDGuard() noexcept = default;
	// Takes ownership of fd (which may be -1).
	explicit FDGuard(int fd) noexcept
		: fd_(fd)
	{
	}
	FDGuard(const FDGuard &) = delete;
	FDGuard &operator=(const FDGuard &) = delete;
	FDGuard(FDGuard &&o) noexcept
		: fd_(o.Release())
	{
	}
	FDGuard &operator=(FDGuard &&o) noexcept
	{
		if (this != &o)
			Reset(o.Release());
		return *this;
	}
	~FDGuard()
	{
		Reset();
	}

	int Get() const noexcept
	{
		return fd_;
	}
	bool IsValid() const noexcept
	{
		return fd_ >= 0;
	}
	explicit operator bool() const noexcept
	{
		return fd_ >= 0;
	}
	int Release() noexcept
	{
		return std::exchange(fd_, -1);
	}
	// Closes the fd held (if any) and owns fd instead. Resetting to the fd
	// already held keeps it open.
	void Reset(int fd = -1) noexcept
	{
		int old = std::exchange(fd_, fd);
		if (old >= 0 && old != fd)
			::close(old);
	}

	int get() const noexcept
	{
		return Get();
	}
	int release() noexcept
	{
		return Release();
	}
	void reset(int fd = -1) noexcept
	{
		Reset(fd);
	}

private:
	int fd_ = -1;
};

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_FD_GUARD_HPP
