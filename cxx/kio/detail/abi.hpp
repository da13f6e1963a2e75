// SPDX-License-Identifier: MIT
//
// kio/detail/abi.hpp - the inline namespace the C++ layer lives in.
//
// Result<T> is kio's own type under C++20 and std::expected under C++23
// (result.hpp), and every class holding one (Task<T>, the awaitables...)
// changes with it. So that translation units built with different
// standards can never link against each other silently (one definition
// of kio::Task<int> chosen for both), everything in namespace kio is
// declared in an inline namespace named after the mode:
//
//   kio::v0_cxx20   kio's own Result (no std::expected)
//   kio::v0_cxx23   Result = std::expected<T, std::error_code>
//
// User code still writes kio::Task<int>, kio::net::Socket...; only the
// mangled names carry the mode (nm -C shows kio::v0_cxx20::Task<int>), and
// a declaration compiled in one mode does not link with a definition
// compiled in the other.
#ifndef KIO_CXX_DETAIL_ABI_HPP
#define KIO_CXX_DETAIL_ABI_HPP

#include <version>

#if defined(__cpp_lib_expected) && __cpp_lib_expected >= 202202L
#define KIO_CXX_HAS_STD_EXPECTED 1
#define KIO_CXX_ABI v0_cxx23
#else
#define KIO_CXX_HAS_STD_EXPECTED 0
#define KIO_CXX_ABI v0_cxx20
#endif

namespace kio {
inline namespace KIO_CXX_ABI {
} // namespace KIO_CXX_ABI
} // namespace kio

#endif // KIO_CXX_DETAIL_ABI_HPP
