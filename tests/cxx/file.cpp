// SPDX-License-Identifier: MIT
//
// File awaitables: each op's success path against what the file system
// says afterwards, and its error path (bad fd, missing path...).
#include "kio_cxx_test.hpp"

#include <sys/stat.h>
#include <sys/uio.h>

#include <array>
#include <cstring>
#include <span>
#include <string>
#include <vector>

using namespace kio;
using namespace std::chrono_literals;

namespace {

struct TempDir {
	std::string path;
	TempDir()
	{
		char tmpl[] = "/tmp/kio-cxx-file.XXXXXX";
		cr_assert_not_null(mkdtemp(tmpl));
		path = tmpl;
	}
	~TempDir()
	{
		(void)!system(("rm -rf '" + path + "'").c_str());
	}
	std::string operator/(const char *name) const
	{
		return path + "/" + name;
	}
};

Task<int> WriteReadBack(IoContext &ctx, std::string path)
{
	auto fd = co_await AsyncOpen(ctx, path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(fd.has_value(), "open: %s", fd ? "" : fd.error().message().c_str());
	auto w = co_await AsyncWrite(ctx, *fd, "hello, kio", 0);
	cr_assert(w.has_value());
	cr_assert_eq(*w, 10u);
	std::array<char, 32> buf{};
	auto r = co_await AsyncRead(ctx, *fd, std::span(buf).first(5), 7);
	cr_assert_eq(*r, 3u);
	cr_assert_eq(std::memcmp(buf.data(), "kio", 3), 0);

	// Vectored: two pieces out, two pieces back.
	char a[] = "abc", b[] = "defg";
	std::array<iovec, 2> out{{{a, 3}, {b, 4}}};
	auto wv = co_await AsyncWritev(ctx, *fd, out, 100);
	cr_assert_eq(*wv, 7u);
	char x[4] = {}, y[3] = {};
	std::array<iovec, 2> in{{{x, 4}, {y, 3}}};
	auto rv = co_await AsyncReadv(ctx, *fd, in, 100);
	cr_assert_eq(*rv, 7u);
	cr_assert_eq(std::memcmp(x, "abcd", 4), 0);
	cr_assert_eq(std::memcmp(y, "efg", 3), 0);

	cr_assert(co_await AsyncFsync(ctx, *fd));
	cr_assert(co_await AsyncFsync(ctx, *fd, KIO_FSYNC_DATASYNC));
	auto fa = co_await AsyncFallocate(ctx, *fd, 0, 0, 8192);
	cr_assert(fa.has_value() || fa.error() == std::errc::operation_not_supported);
	cr_assert(co_await AsyncFtruncate(ctx, *fd, 5));
	struct statx st {};
	cr_assert(co_await AsyncStatx(ctx, path, st));
	cr_assert_eq(st.stx_size, 5u);
	cr_assert(co_await AsyncClose(ctx, *fd));
	co_return 1;
}

Task<int> ErrorPaths(IoContext &ctx, std::string dir)
{
	char buf[8];
	auto r = co_await AsyncRead(ctx, -1, buf);
	cr_assert(r.error() == std::errc::bad_file_descriptor);
	auto w = co_await AsyncWrite(ctx, 1000000, "x");
	cr_assert(w.error() == std::errc::bad_file_descriptor);
	auto c = co_await AsyncClose(ctx, 1000000);
	cr_assert(c.error() == std::errc::bad_file_descriptor);
	auto o = co_await AsyncOpen(ctx, dir + "/missing/file", O_RDONLY);
	cr_assert(o.error() == std::errc::no_such_file_or_directory);
	auto f = co_await AsyncFsync(ctx, -1);
	cr_assert(f.error() == std::errc::bad_file_descriptor);
	auto t = co_await AsyncFtruncate(ctx, -1, 0);
	cr_assert(t.error() == std::errc::bad_file_descriptor);
	auto fa = co_await AsyncFallocate(ctx, -1, 0, 0, 1);
	cr_assert(fa.error() == std::errc::bad_file_descriptor);
	auto u = co_await AsyncUnlink(ctx, dir + "/nothing");
	cr_assert(u.error() == std::errc::no_such_file_or_directory);
	auto rn = co_await AsyncRename(ctx, dir + "/nothing", dir + "/else");
	cr_assert(rn.error() == std::errc::no_such_file_or_directory);
	auto m = co_await AsyncMkdir(ctx, dir); // exists
	cr_assert(m.error() == std::errc::file_exists);
	std::array<iovec, 1> iov{{{buf, sizeof buf}}};
	auto rv = co_await AsyncReadv(ctx, -1, iov);
	cr_assert(rv.error() == std::errc::bad_file_descriptor);
	struct statx st {};
	auto sx = co_await AsyncStatx(ctx, dir + "/nothing", st);
	cr_assert(sx.error() == std::errc::no_such_file_or_directory);
	co_return 1;
}

Task<int> Namespace(IoContext &ctx, std::string dir)
{
	std::string sub = dir + "/sub";
	cr_assert(co_await AsyncMkdir(ctx, sub, 0700));
	struct stat st;
	cr_assert_eq(stat(sub.c_str(), &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0700u);

	std::string a = sub + "/a", b = sub + "/b";
	auto fd = co_await AsyncOpen(ctx, a.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	cr_assert(fd.has_value());
	cr_assert(co_await AsyncClose(ctx, *fd));
	cr_assert(co_await AsyncRename(ctx, a, b));
	cr_assert_neq(access(a.c_str(), F_OK), 0);
	cr_assert_eq(access(b.c_str(), F_OK), 0);
	cr_assert(co_await AsyncUnlink(ctx, b));
	cr_assert_neq(access(b.c_str(), F_OK), 0);
	cr_assert(co_await AsyncUnlink(ctx, sub, AT_REMOVEDIR));
	cr_assert_neq(access(sub.c_str(), F_OK), 0);
	co_return 1;
}

Task<int> Exact(IoContext &ctx)
{
	int p[2];
	kxt::Pipe(p);
	// A writer thread would do too; here a sleeper task feeds the pipe
	// in three pieces while ReadExact waits for all ten bytes.
	TaskGroup g;
	g.Spawn([](IoContext &c, int fd) -> Task<> {
		static const char *const pieces[] = {"abc", "defg", "hij"};
		for (const char *piece : pieces) {
			co_await AsyncSleep(c, 1ms);
			auto w = co_await AsyncWriteExact(c, fd, std::string_view(piece));
			cr_assert_eq(*w, std::strlen(piece));
		}
	}(ctx, p[1]));
	std::array<char, 10> buf{};
	auto r = co_await AsyncReadExact(ctx, p[0], buf);
	cr_assert(r.has_value());
	cr_assert_eq(*r, 10u);
	cr_assert_eq(std::memcmp(buf.data(), "abcdefghij", 10), 0);
	co_await g.JoinAll(ctx);

	// End of stream before the buffer is full.
	cr_assert(co_await AsyncWrite(ctx, p[1], "xy"));
	close(p[1]);
	auto e = co_await AsyncReadExact(ctx, p[0], buf);
	cr_assert(e.error() == std::error_code(ENODATA, std::generic_category()));
	auto bad = co_await AsyncReadExact(ctx, -1, buf);
	cr_assert(bad.error() == std::errc::bad_file_descriptor);
	close(p[0]);
	co_return 1;
}

Task<int> SocketFd(IoContext &ctx)
{
	// Anything with `int Fd() const` is accepted where an fd is.
	struct Holder {
		int fd;
		int Fd() const
		{
			return fd;
		}
	};
	int p[2];
	kxt::Pipe(p);
	Holder w{p[1]}, r{p[0]};
	std::vector<char> ok(2, 'o');
	cr_assert_eq(*co_await AsyncWrite(ctx, w, ok), 2u);
	std::vector<std::byte> buf(2);
	cr_assert_eq(*co_await AsyncRead(ctx, r, buf), 2u);
	cr_assert_eq(buf[0], std::byte{'o'});
	close(p[0]);
	close(p[1]);
	co_return 1;
}

} // namespace

Test(file, write_read_vectored_sync_truncate)
{
	KXT_LEAK_GUARD();
	TempDir dir;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(WriteReadBack(*ctx, dir / "f")), 1);
}

Test(file, error_paths)
{
	KXT_LEAK_GUARD();
	TempDir dir;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(ErrorPaths(*ctx, dir.path)), 1);
}

Test(file, mkdir_rename_unlink)
{
	KXT_LEAK_GUARD();
	TempDir dir;
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Namespace(*ctx, dir.path)), 1);
}

Test(file, read_exact_write_exact)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(Exact(*ctx)), 1);
}

Test(file, fd_like_objects_and_ranges)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	cr_assert_eq(ctx->RunUntilDone(SocketFd(*ctx)), 1);
}
