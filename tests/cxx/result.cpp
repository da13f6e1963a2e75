// SPDX-License-Identifier: MIT
//
// Result<T>: the same behaviour as std::expected<T, std::error_code>, in the
// C++20 build (kio's own type) and the C++2b build (std::expected).
#include "kio_cxx_test.hpp"

#include <cerrno>
#include <memory>
#include <string>

using kio::Result;

static Result<int> Half(int x)
{
	if (x % 2)
		return kio::MakeError(std::errc::invalid_argument);
	return x / 2;
}

static Result<void> Check(bool ok)
{
	if (!ok)
		return kio::Err(std::make_error_code(std::errc::io_error));
	return {};
}

Test(result, value_and_error)
{
	Result<int> a = Half(8);
	cr_assert(a.has_value());
	cr_assert(static_cast<bool>(a));
	cr_assert_eq(*a, 4);
	cr_assert_eq(a.value(), 4);
	cr_assert_eq(a.value_or(7), 4);

	Result<int> b = Half(3);
	cr_assert_not(b.has_value());
	cr_assert_not(static_cast<bool>(b));
	cr_assert(b.error() == std::errc::invalid_argument);
	cr_assert_eq(b.value_or(7), 7);
}

Test(result, value_throws_when_empty)
{
	Result<int> b = Half(3);
	bool threw = false;
	try {
		(void)b.value();
	} catch (const std::exception &) {
		threw = true;
	}
	cr_assert(threw);
	Result<void> v = Check(false);
	threw = false;
	try {
		v.value();
	} catch (const std::exception &) {
		threw = true;
	}
	cr_assert(threw);
}

Test(result, void_result)
{
	Result<void> ok = Check(true);
	cr_assert(ok.has_value());
	Result<void> bad = Check(false);
	cr_assert_not(bad);
	cr_assert(bad.error() == std::errc::io_error);
	// Copies keep what they copy, success or error.
	Result<void> ok2 = ok, bad2 = bad;
	cr_assert(ok2.has_value());
	cr_assert(ok2 == ok);
	cr_assert(bad2.error() == std::errc::io_error);
	cr_assert(bad2 == bad);
	cr_assert_not(ok2 == bad2);
	bad2 = ok;
	cr_assert(bad2.has_value());
}

Test(result, arrow_move_only_and_compare)
{
	Result<std::string> s = std::string("kio");
	cr_assert_eq(s->size(), 3u);
	Result<std::unique_ptr<int>> p = std::make_unique<int>(5);
	std::unique_ptr<int> taken = std::move(*p);
	cr_assert_eq(*taken, 5);
	Result<int> a = 3;
	cr_assert(a == 3);
	cr_assert(a != 4);
	Result<int> e = kio::Err(std::make_error_code(std::errc::timed_out));
	cr_assert(e ==
		  kio::Unexpected<std::error_code>(std::make_error_code(std::errc::timed_out)));
	Result<int> copy = e;
	cr_assert(copy.error() == std::errc::timed_out);
	copy = a;
	cr_assert_eq(*copy, 3);
}

Test(result, negated_errno_maps_to_generic_category)
{
	std::error_code ec = kio::ErrorFromNeg(-ETIMEDOUT);
	cr_assert(ec == std::errc::timed_out);
	cr_assert(ec.category() == std::generic_category());
	cr_assert_eq(ec.value(), ETIMEDOUT);
	cr_assert_not(kio::ErrorFromNeg(0));
	cr_assert_not(kio::ErrorFromNeg(12));

	Result<size_t> r = kio::ResultFromNeg<size_t>(-EBADF);
	cr_assert(r.error() == std::errc::bad_file_descriptor);
	cr_assert_eq(*kio::ResultFromNeg<size_t>(17), 17u);
	cr_assert(kio::VoidFromNeg(-ECANCELED).error() == std::errc::operation_canceled);
	cr_assert(kio::VoidFromNeg(0).has_value());
}

Test(result, std_expected_in_cxx23)
{
#if KIO_CXX_HAS_STD_EXPECTED
	cr_assert((std::is_same_v<Result<int>, std::expected<int, std::error_code>>));
	Result<int> e = std::unexpected(std::make_error_code(std::errc::timed_out));
	cr_assert(e.error() == std::errc::timed_out);
#else
	cr_assert_eq(__cplusplus, 202002L);
	Result<int> e = kio::Unexpected(std::make_error_code(std::errc::timed_out));
	cr_assert(e.error() == std::errc::timed_out);
#endif
}
