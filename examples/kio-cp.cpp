// SPDX-License-Identifier: MIT
//
// kio-cp - copy a file with kio's C++ coroutines: a reader and a writer
// coroutine joined by two Channels, so the next read is in flight while the
// previous chunk is written.
//
//   kio-cp SRC DST
//   kio-cp --help
//
// DST is created (mode 0644 before the umask) or truncated. SRC may also be
// a pipe: both sides use the file position, one op at a time each. Prints
//   kio-cp: N bytes in T ms
// to standard error and exits 0; on any error prints it and exits 1 (77
// when the system has no io_uring). --help prints the usage and exits 0;
// an unknown option or a wrong number of arguments exits 2 ("--" ends the
// options, for a SRC that starts with '-').
//
// The pipeline: kBuffers buffers circulate. `free` holds the indexes of
// empty buffers, `filled` the chunks read and not yet written. The reader
// takes a free buffer, fills it (AsyncRead), passes it on; the writer
// writes it whole (AsyncWriteExact) and hands the buffer back. Closing
// `filled` tells the writer the input ended; closing `free` tells the
// reader the writer failed.
#include <kio/kio.hpp>

#include <fcntl.h>
#include <getopt.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>

using namespace kio;

namespace {

constexpr std::size_t kBuffers = 4;
constexpr std::size_t kChunk = 128 * 1024;

struct Chunk {
	std::size_t index; // which buffer
	std::size_t len;   // bytes in it
};

struct Copy {
	int in = -1;
	int out = -1;
	std::unique_ptr<std::byte[]> memory = std::make_unique<std::byte[]>(kBuffers * kChunk);
	Channel<std::size_t> free{kBuffers};
	Channel<Chunk> filled{kBuffers};
	uint64_t copied = 0;
	std::string error; // first error, "" if none

	std::span<std::byte> Buffer(std::size_t i)
	{
		return {memory.get() + i * kChunk, kChunk};
	}

	void Fail(const char *what, const std::error_code &ec)
	{
		if (error.empty())
			error = std::string(what) + ": " + ec.message();
	}
};

Task<> Reader(IoContext &ctx, Copy *c)
{
	while (true) {
		auto idx = co_await c->free.Recv(ctx);
		if (!idx)
			break; // the writer gave up
		auto n = co_await AsyncRead(ctx, c->in, c->Buffer(*idx));
		if (!n) {
			c->Fail("read", n.error());
			break;
		}
		if (*n == 0)
			break; // end of SRC
		if (!co_await c->filled.Send(ctx, Chunk{*idx, *n}))
			break;
	}
	c->filled.Close();
}

Task<> Writer(IoContext &ctx, Copy *c)
{
	while (auto chunk = co_await c->filled.Recv(ctx)) {
		auto data = c->Buffer(chunk->index).first(chunk->len);
		auto w = co_await AsyncWriteExact(ctx, c->out, data);
		if (!w) {
			c->Fail("write", w.error());
			break;
		}
		c->copied += *w;
		if (!co_await c->free.Send(ctx, chunk->index))
			break;
	}
	c->free.Close(); // stops a reader that is still going
}

// The bytes copied, or -1 after an error (already reported).
Task<int64_t> Run(IoContext &ctx, std::string src, std::string dst)
{
	Copy c;
	auto in = co_await AsyncOpen(ctx, src, O_RDONLY | O_CLOEXEC);
	if (!in) {
		std::fprintf(stderr, "kio-cp: %s: %s\n", src.c_str(), in.error().message().c_str());
		co_return -1;
	}
	c.in = *in;
	auto out = co_await AsyncOpen(ctx, dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (!out) {
		std::fprintf(stderr, "kio-cp: %s: %s\n", dst.c_str(),
			     out.error().message().c_str());
		co_await AsyncClose(ctx, c.in);
		co_return -1;
	}
	c.out = *out;

	for (std::size_t i = 0; i < kBuffers; i++) {
		std::size_t idx = i;
		c.free.TrySend(idx); // room for all of them: never waits
	}
	TaskGroup pipeline;
	pipeline.SpawnAll(Reader(ctx, &c), Writer(ctx, &c));
	co_await pipeline.JoinAll(ctx);

	co_await AsyncClose(ctx, c.in);
	auto closed = co_await AsyncClose(ctx, c.out);
	if (!closed)
		c.Fail("close", closed.error());
	if (!c.error.empty()) {
		std::fprintf(stderr, "kio-cp: %s -> %s: %s\n", src.c_str(), dst.c_str(),
			     c.error.c_str());
		co_return -1;
	}
	co_return static_cast<int64_t>(c.copied);
}

// --help: on stdout, exit 0; a usage error: on stderr, exit 2.
int Usage(std::FILE *to, int status)
{
	std::fprintf(to, "usage: kio-cp SRC DST\n"
			 "       kio-cp --help\n"
			 "  copies SRC (a file or a pipe) to DST (created or truncated, mode 0644)\n"
			 "  through a reader and a writer coroutine joined by channels\n");
	return status;
}

} // namespace

int main(int argc, char **argv)
{
	static const option longopts[] = {
		{"help", no_argument, nullptr, 'h'},
		{nullptr, 0, nullptr, 0},
	};
	// No option but --help: the first one decides.
	if (int opt = getopt_long(argc, argv, "h", longopts, nullptr); opt != -1)
		return opt == 'h' ? Usage(stdout, 0) : Usage(stderr, 2);
	if (argc - optind != 2)
		return Usage(stderr, 2);
	const char *src = argv[optind];
	const char *dst = argv[optind + 1];
	const auto start = std::chrono::steady_clock::now();
	std::unique_ptr<IoContext> ctx;
	try {
		ctx = std::make_unique<IoContext>();
	} catch (const std::system_error &e) {
		std::fprintf(stderr, "kio-cp: cannot create a kio context: %s\n", e.what());
		return 77;
	}
	const int64_t copied = ctx->RunUntilDone(Run(*ctx, src, dst));
	if (copied < 0)
		return 1;
	const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
				std::chrono::steady_clock::now() - start)
				.count();
	std::fprintf(stderr, "kio-cp: %lld bytes in %lld ms\n", static_cast<long long>(copied),
		     static_cast<long long>(ms));
	return 0;
}
