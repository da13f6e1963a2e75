// SPDX-License-Identifier: MIT
//
// What docs/porting-from-aio.md says about AsyncRead/AsyncWrite without an
// offset and about OpenSSL's headers, checked:
//   - without an offset kio reads and writes at the file position and
//     moves it (the reference used offset 0 each time); the port's edit,
//     an explicit 0, gives the reference's behaviour;
//   - <kio/kio.hpp> does not include OpenSSL's headers; a program that
//     names SSL_VERIFY_* includes <openssl/ssl.h> itself, and the values
//     equal kio's tls::kVerify* constants.
#include "kio_cxx_test.hpp"

#if defined(OPENSSL_SSL_H) || defined(HEADER_SSL_H) || defined(OPENSSL_VERSION_NUMBER)
#error "<kio/kio.hpp> must not pull in OpenSSL's headers"
#endif

#if __has_include(<openssl/ssl.h>)
#include <openssl/ssl.h>
static_assert(kio::tls::kVerifyNone == SSL_VERIFY_NONE);
static_assert(kio::tls::kVerifyPeer == SSL_VERIFY_PEER);
static_assert(kio::tls::kVerifyFailIfNoPeerCert == SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
static_assert(kio::tls::kVerifyClientOnce == SSL_VERIFY_CLIENT_ONCE);
#endif

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

using namespace kio;

namespace {

Task<int> PositionAndZero(IoContext &ctx, std::string path)
{
	auto fd = co_await AsyncOpen(ctx, path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd.has_value());

	// Writes without an offset append at the position: "abc" then "def".
	auto w1 = co_await AsyncWrite(ctx, fd, std::string("abc"));
	auto w2 = co_await AsyncWrite(ctx, fd, std::string("def"));
	cr_assert(w1.has_value() && *w1 == 3 && w2.has_value() && *w2 == 3);
	cr_assert_eq(lseek(*fd, 0, SEEK_CUR), 6, "kio moved the file position");

	// Reads without an offset go on from the position: at the end, 0.
	std::array<char, 8> buffer{};
	auto at_end = co_await AsyncRead(ctx, fd, buffer);
	cr_assert(at_end.has_value());
	cr_assert_eq(*at_end, 0u, "the position was at the end of the file");

	// The port's edit: an explicit 0 reads from the start, every time,
	// and leaves the position where it was.
	auto first = co_await AsyncRead(ctx, fd, buffer, 0);
	auto again = co_await AsyncRead(ctx, fd, buffer, 0);
	cr_assert(first.has_value() && *first == 6 && again.has_value() && *again == 6);
	cr_assert_eq(std::memcmp(buffer.data(), "abcdef", 6), 0);
	cr_assert_eq(lseek(*fd, 0, SEEK_CUR), 6);

	// A write at 0 overwrites in place (the reference's "no offset").
	auto w0 = co_await AsyncWrite(ctx, fd, std::string("XY"), 0);
	cr_assert(w0.has_value() && *w0 == 2);
	auto whole = co_await AsyncRead(ctx, fd, buffer, 0);
	cr_assert(whole.has_value() && *whole == 6);
	cr_assert_eq(std::memcmp(buffer.data(), "XYcdef", 6), 0);

	// After a seek, the no-offset read follows the position.
	cr_assert_eq(lseek(*fd, 2, SEEK_SET), 2);
	auto from_two = co_await AsyncRead(ctx, fd, buffer);
	cr_assert(from_two.has_value() && *from_two == 4);
	cr_assert_eq(std::memcmp(buffer.data(), "cdef", 4), 0);

	cr_assert(co_await AsyncClose(ctx, fd));
	co_return 1;
}

} // namespace

Test(reference_offsets, no_offset_is_the_file_position_zero_is_the_start)
{
	KXT_LEAK_GUARD();
	char tmpl[] = "/tmp/kio-offsets.XXXXXX";
	cr_assert(mkdtemp(tmpl) != nullptr);
	std::string dir = tmpl;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(PositionAndZero(*ctx, dir + "/f")), 1);
	unlink((dir + "/f").c_str());
	rmdir(dir.c_str());
}
