// SPDX-License-Identifier: MIT
//
// kio/result.hpp - Result<T>: a value or a std::error_code.
//
//   Result<T>      std::expected<T, std::error_code> where the standard
//                  library has it (__cpp_lib_expected, e.g. -std=c++2b);
//                  otherwise kio's own type with the same interface:
//                  has_value(), explicit operator bool, value() (throws
//                  std::system_error(error()) when empty; std::expected
//                  throws std::bad_expected_access), error(), operator*,
//                  operator->, value_or(), comparison with a value or an
//                  Unexpected. Result<void> too.
//   Unexpected<E>  std::unexpected<E>, or kio's equivalent.
//   Err(ec)        Unexpected<std::error_code>{ec}: the one spelling that
//   MakeError(errc) builds an error Result in both modes:
//                     return kio::MakeError(std::errc::invalid_argument);
//   ErrorFromNeg(res)  a kio C return value (-errno) as a std::error_code in
//                  std::generic_category(), so ec == std::errc::timed_out
//                  works. ResultFromNeg<T>(res) / VoidFromNeg(res) turn a
//                  C return value into a Result.
//
// I/O never throws: every awaitable gives a Result.
#ifndef KIO_CXX_RESULT_HPP
#define KIO_CXX_RESULT_HPP

#include "detail/abi.hpp"

#include <cstdint>
#include <system_error>
#include <type_traits>
#include <utility>

// detail/abi.hpp has set KIO_CXX_HAS_STD_EXPECTED.
#if KIO_CXX_HAS_STD_EXPECTED
#include <expected>
#else
#include <memory>
#include <new>
#endif

#include <cstdio>
#include <cstdlib>

// Without exceptions (-fno-exceptions) the few places that would throw
// print what they would have thrown and abort; the I/O path never throws.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define KIO_CXX_EXCEPTIONS 1
#define KIO_CXX_THROW(...) throw __VA_ARGS__
#else
#define KIO_CXX_EXCEPTIONS 0
#define KIO_CXX_THROW(...)                                                                         \
	(static_cast<void>(sizeof(__VA_ARGS__)), ::kio::detail::Fatal(#__VA_ARGS__))
#endif

namespace kio {
inline namespace KIO_CXX_ABI {

namespace detail {
[[noreturn]] inline void Fatal(const char *what) noexcept
{
	std::fprintf(stderr, "kio: fatal (built without exceptions): %s\n", what);
	std::abort();
}
} // namespace detail

#if KIO_CXX_HAS_STD_EXPECTED

template <class E>
using Unexpected = std::unexpected<E>;

template <class T>
using Result = std::expected<T, std::error_code>;

#else

// The error half of a Result, as std::unexpected<E> is for std::expected.
template <class E>
class Unexpected {
public:
	constexpr explicit Unexpected(const E &e)
		: error_(e)
	{
	}
	constexpr explicit Unexpected(E &&e)
		: error_(std::move(e))
	{
	}
	constexpr const E &error() const &noexcept
	{
		return error_;
	}
	constexpr E &error() &noexcept
	{
		return error_;
	}
	constexpr E &&error() &&noexcept
	{
		return std::move(error_);
	}
	friend constexpr bool operator==(const Unexpected &a, const Unexpected &b)
	{
		return a.error_ == b.error_;
	}

private:
	E error_;
};

template <class E>
Unexpected(E) -> Unexpected<E>;

namespace detail {
[[noreturn]] inline void ThrowBadResultAccess(const std::error_code &ec)
{
	KIO_CXX_THROW(std::system_error(ec, "kio::Result has no value"));
}
} // namespace detail

// A value of type T or an error. Same interface as the subset of
// std::expected<T, std::error_code> kio uses and documents.
template <class T>
class Result {
	static_assert(!std::is_reference_v<T>, "Result<T&> is not supported");

public:
	using value_type = T;
	using error_type = std::error_code;
	using unexpected_type = Unexpected<std::error_code>;
	template <class U>
	using rebind = Result<U>;

	constexpr Result() requires std::is_default_constructible_v<T> : has_(true)
	{
		std::construct_at(std::addressof(val_));
	}
	template <class U = T>
	requires(!std::is_same_v<std::remove_cvref_t<U>, Result> &&
		 !std::is_same_v<std::remove_cvref_t<U>, std::in_place_t> &&
		 std::is_constructible_v<T, U>) constexpr explicit(!std::is_convertible_v<U, T>)
		Result(U &&v)
		: has_(true)
	{
		std::construct_at(std::addressof(val_), std::forward<U>(v));
	}
	template <class... A>
	constexpr explicit Result(std::in_place_t, A &&...a)
		: has_(true)
	{
		std::construct_at(std::addressof(val_), std::forward<A>(a)...);
	}
	template <class G>
	requires std::is_constructible_v<std::error_code, const G &>
	constexpr Result(const Unexpected<G> &u)
		: has_(false)
	{
		std::construct_at(std::addressof(err_), u.error());
	}
	template <class G>
	requires std::is_constructible_v<std::error_code, G>
	constexpr Result(Unexpected<G> &&u)
		: has_(false)
	{
		std::construct_at(std::addressof(err_), std::move(u).error());
	}
	constexpr Result(const Result &o)
		: has_(o.has_)
	{
		if (has_)
			std::construct_at(std::addressof(val_), o.val_);
		else
			std::construct_at(std::addressof(err_), o.err_);
	}
	constexpr Result(Result &&o) noexcept(std::is_nothrow_move_constructible_v<T>)
		: has_(o.has_)
	{
		if (has_)
			std::construct_at(std::addressof(val_), std::move(o.val_));
		else
			std::construct_at(std::addressof(err_), o.err_);
	}
	constexpr Result &operator=(const Result &o)
	{
		if (this != &o) {
			Reset();
			if (o.has_)
				std::construct_at(std::addressof(val_), o.val_);
			else
				std::construct_at(std::addressof(err_), o.err_);
			has_ = o.has_;
		}
		return *this;
	}
	constexpr Result &operator=(Result &&o) noexcept(std::is_nothrow_move_constructible_v<T>)
	{
		if (this != &o) {
			Reset();
			if (o.has_)
				std::construct_at(std::addressof(val_), std::move(o.val_));
			else
				std::construct_at(std::addressof(err_), o.err_);
			has_ = o.has_;
		}
		return *this;
	}
	constexpr ~Result()
	{
		Reset();
	}

	constexpr bool has_value() const noexcept
	{
		return has_;
	}
	constexpr explicit operator bool() const noexcept
	{
		return has_;
	}

	constexpr T &value() &
	{
		if (!has_)
			detail::ThrowBadResultAccess(err_);
		return val_;
	}
	constexpr const T &value() const &
	{
		if (!has_)
			detail::ThrowBadResultAccess(err_);
		return val_;
	}
	constexpr T &&value() &&
	{
		if (!has_)
			detail::ThrowBadResultAccess(err_);
		return std::move(val_);
	}
	constexpr const std::error_code &error() const noexcept
	{
		return err_;
	}

	constexpr T &operator*() &noexcept
	{
		return val_;
	}
	constexpr const T &operator*() const &noexcept
	{
		return val_;
	}
	constexpr T &&operator*() &&noexcept
	{
		return std::move(val_);
	}
	constexpr T *operator->() noexcept
	{
		return std::addressof(val_);
	}
	constexpr const T *operator->() const noexcept
	{
		return std::addressof(val_);
	}

	template <class U>
	constexpr T value_or(U &&fallback) const &
	{
		return has_ ? val_ : static_cast<T>(std::forward<U>(fallback));
	}
	template <class U>
	constexpr T value_or(U &&fallback) &&
	{
		return has_ ? std::move(val_) : static_cast<T>(std::forward<U>(fallback));
	}

	template <class U>
	requires(!std::is_same_v<std::remove_cvref_t<U>, Result>) friend constexpr bool
	operator==(const Result &r, const U &v)
	{
		return r.has_ && r.val_ == v;
	}
	template <class G>
	friend constexpr bool operator==(const Result &r, const Unexpected<G> &u)
	{
		return !r.has_ && r.err_ == u.error();
	}
	friend constexpr bool operator==(const Result &a, const Result &b)
	{
		if (a.has_ != b.has_)
			return false;
		return a.has_ ? a.val_ == b.val_ : a.err_ == b.err_;
	}

private:
	constexpr void Reset() noexcept
	{
		if (has_)
			val_.~T();
		else
			err_.~error_code();
	}

	union {
		T val_;
		std::error_code err_;
	};
	bool has_;
};

// Success without a value, or an error.
template <>
class Result<void> {
public:
	using value_type = void;
	using error_type = std::error_code;
	using unexpected_type = Unexpected<std::error_code>;
	template <class U>
	using rebind = Result<U>;

	// Success builds no error_code: its default constructor calls
	// std::system_category(), out of line, on every successful await.
	Result() noexcept
		: none_()
	{
	}
	explicit Result(std::in_place_t) noexcept
		: none_()
	{
	}
	template <class G>
	requires std::is_constructible_v<std::error_code, const G &> Result(const Unexpected<G> &u)
		: err_(u.error())
		, has_(false)
	{
	}
	template <class G>
	requires std::is_constructible_v<std::error_code, G> Result(Unexpected<G> &&u)
		: err_(std::move(u).error())
		, has_(false)
	{
	}

	bool has_value() const noexcept
	{
		return has_;
	}
	explicit operator bool() const noexcept
	{
		return has_;
	}
	void value() const
	{
		if (!has_)
			detail::ThrowBadResultAccess(err_);
	}
	void operator*() const noexcept
	{
	}
	// On success (where std::expected leaves it undefined): the empty
	// error_code, as before.
	const std::error_code &error() const noexcept
	{
		if (has_) [[unlikely]]
			return NoError();
		return err_;
	}

	template <class G>
	friend bool operator==(const Result &r, const Unexpected<G> &u)
	{
		return !r.has_ && r.err_ == u.error();
	}
	friend bool operator==(const Result &a, const Result &b)
	{
		return a.has_ == b.has_ && (a.has_ || a.err_ == b.err_);
	}

private:
	[[gnu::cold]] static const std::error_code &NoError() noexcept
	{
		static const std::error_code none;
		return none;
	}

	// std::error_code is trivially copyable, so the union copies as it is.
	union {
		char none_;
		std::error_code err_;
	};
	bool has_ = true;
};

#endif // KIO_CXX_HAS_STD_EXPECTED

// The error half of a Result, in both modes.
inline Unexpected<std::error_code> Err(std::error_code ec) noexcept
{
	return Unexpected<std::error_code>(ec);
}

inline Unexpected<std::error_code> MakeError(std::errc e) noexcept
{
	return Unexpected<std::error_code>(std::make_error_code(e));
}

// A kio C return value (a negated errno) as an error_code; 0 or a positive
// value gives the empty (success) error_code.
inline std::error_code ErrorFromNeg(int64_t res) noexcept
{
	return res < 0 ? std::error_code(static_cast<int>(-res), std::generic_category()) :
			 std::error_code();
}

// res < 0: the error; otherwise res converted to T.
template <class T>
inline Result<T> ResultFromNeg(int64_t res)
{
	if (res < 0)
		return Err(ErrorFromNeg(res));
	return Result<T>(static_cast<T>(res));
}

inline Result<void> VoidFromNeg(int64_t res) noexcept
{
	if (res < 0)
		return Err(ErrorFromNeg(res));
	return Result<void>();
}

} // inline namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_RESULT_HPP
