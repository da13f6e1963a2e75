// SPDX-License-Identifier: MIT
//
// kio/detail/args.hpp - how the op functions read their arguments:
//   AsFd(x)        an int fd, anything with `int Fd() const` (net::Socket,
//                  net::TcpListener, ...), so op headers need not know them,
//                  or the Result<int> of AsyncOpen (an error gives -1).
//   Bytes(b)       a writable contiguous range (std::span<std::byte>,
//                  std::array, std::vector, char buffers...) as {ptr, len}.
//   ConstBytes(b)  the same, read-only; a string literal counts without its
//                  terminating NUL.
//   CStr(p)        a path: const char*, or anything with c_str()
//                  (std::string, std::filesystem::path). Borrowed: it must
//                  outlive the co_await.
#ifndef KIO_CXX_DETAIL_ARGS_HPP
#define KIO_CXX_DETAIL_ARGS_HPP

#include "abi.hpp"

#include <concepts>
#include <cstddef>
#include <iterator>
#include <ranges>
#include <type_traits>

#include "../result.hpp"

namespace kio::inline KIO_CXX_ABI::detail {

template <class S>
concept HasFd = requires(const S &s)
{
	{
		s.Fd()
		} -> std::convertible_to<int>;
};

inline int AsFd(int fd) noexcept
{
	return fd;
}

// A Result<int> straight from AsyncOpen/AsyncSocket: its fd, or -1 (the op
// then fails with std::errc::bad_file_descriptor) when it holds an error.
template <class R>
requires std::same_as<std::remove_cvref_t<R>, Result<int>>
inline int AsFd(const R &r) noexcept
{
	return r.has_value() ? *r : -1;
}

template <HasFd S>
inline int AsFd(const S &s) noexcept
{
	return static_cast<int>(s.Fd());
}

// Anything an op can take as its file descriptor argument.
template <class S>
concept FdLike = HasFd<S> || std::same_as < std::remove_cvref_t<S>,
int > || std::same_as<std::remove_cvref_t<S>, Result<int>>;

template <class B>
concept ByteRange = std::ranges::contiguous_range<B> && std::ranges::sized_range<B> &&
	std::is_trivially_copyable_v<std::ranges::range_value_t<B>>;

template <class B>
concept MutableByteRange = ByteRange<B> &&
	!std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<B>>>;

struct MutSpan {
	void *data;
	size_t len;
};
struct ConstSpan {
	const void *data;
	size_t len;
};

template <MutableByteRange B>
inline MutSpan Bytes(B &&b) noexcept
{
	return {static_cast<void *>(std::ranges::data(b)),
		std::ranges::size(b) * sizeof(std::ranges::range_value_t<B>)};
}

template <ByteRange B>
inline ConstSpan ConstBytes(B &&b) noexcept
{
	using R = std::remove_cvref_t<B>;
	size_t len = std::ranges::size(b) * sizeof(std::ranges::range_value_t<B>);
	if constexpr (std::is_array_v<R> &&
		      std::is_same_v<std::remove_cv_t<std::remove_extent_t<R>>, char>) {
		if (len > 0 && b[len - 1] == '\0')
			len--;
	}
	return {static_cast<const void *>(std::ranges::data(b)), len};
}

template <class P>
concept PathLike = std::convertible_to<P, const char *> || requires(const P &p)
{
	{
		p.c_str()
		} -> std::convertible_to<const char *>;
};

template <PathLike P>
inline const char *CStr(const P &p) noexcept
{
	if constexpr (std::convertible_to<const P &, const char *>)
		return p;
	else
		return p.c_str();
}

} // namespace kio::inline KIO_CXX_ABI::detail

#endif // KIO_CXX_DETAIL_ARGS_HPP
