// SPDX-License-Identifier: MIT
//
// IoContextStats: the reference's shape (ctx.Stats().GetSnapshot() giving
// an IoContextStats::Snapshot), kio's earlier names for it, the counters
// kio adds, and snapshots taken from another thread while the loop runs.
#include "kio_cxx_test.hpp"

#include <atomic>
#include <optional>
#include <thread>
#include <type_traits>

using namespace kio;
using namespace std::chrono_literals;

static_assert(std::is_same_v<StatsSnapshot, IoContextStats::Snapshot>);
static_assert(std::is_same_v<StatsView, IoContextStats>);
static_assert(std::is_same_v<decltype(std::declval<IoContext &>().Stats()), IoContextStats>);

namespace {

std::unique_ptr<IoContext> TimedCtx()
{
	kio_ctx_opts opts;
	kio_ctx_opts_init(&opts, sizeof opts);
	opts.flags = KIO_CTX_STATS_TIME;
	try {
		return std::make_unique<IoContext>(opts);
	} catch (const std::system_error &e) {
		if (e.code() == std::errc::operation_not_permitted ||
		    e.code() == std::errc::function_not_supported)
			cr_skip_test("io_uring unavailable: %s", e.what());
		throw;
	}
}

Task<> Sleeps(IoContext &ctx, int n, std::chrono::milliseconds d)
{
	for (int i = 0; i < n; i++)
		co_await AsyncSleep(ctx, d);
}

} // namespace

Test(stats, reference_shape)
{
	KXT_LEAK_GUARD();
	auto ctx = kxt::NewCtx();
	IoContextStats::Snapshot before = ctx->Stats().GetSnapshot();
	cr_assert_eq(before.ops_inflight, 0u);
	ctx->RunUntilDone(Sleeps(*ctx, 3, 1ms));
	IoContextStats::Snapshot s = ctx->Stats().GetSnapshot();
	cr_assert_eq(s.ops_submitted, before.ops_submitted + 3);
	cr_assert_eq(s.ops_completed, s.ops_submitted);
	cr_assert_eq(s.ops_inflight, 0u);
	cr_assert_eq(s.timeouts, s.ops_timeouts);
	cr_assert(s.loop_iterations > before.loop_iterations);
	cr_assert(s.snapshot_ns > before.snapshot_ns);
	// Without KIO_CTX_STATS_TIME no time is kept.
	cr_assert_eq(s.wait_ns, 0u);
	cr_assert_eq(s.run_ns, 0u);
	// kio's earlier names still work.
	StatsView view = ctx->Stats();
	StatsSnapshot again = view.GetSnapshot();
	cr_assert_eq(again.ops_submitted, s.ops_submitted);
	cr_assert(view.TryGetSnapshot().has_value());
}

Test(stats, wait_time)
{
	KXT_LEAK_GUARD();
	auto ctx = TimedCtx();
	ctx->RunUntilDone(Sleeps(*ctx, 2, 20ms));
	auto s = ctx->Stats().GetSnapshot();
	// The loop had nothing to do but wait for the timers.
	cr_assert(s.wait_ns > s.run_ns, "wait %llu, run %llu", (unsigned long long)s.wait_ns,
		  (unsigned long long)s.run_ns);
	cr_assert(s.run_ns > 0);
}

Test(stats, other_thread, .timeout = 60)
{
	KXT_LEAK_GUARD();
	auto ctx = TimedCtx();
	ctx->RunOnce(0ns); // this thread runs the loop from here on
	std::atomic<bool> done{false};
	std::atomic<int> snapshots{0};
	std::atomic<int> bad{0};
	std::optional<IoContextStats::Snapshot> first;
	IoContextStats::Snapshot last;
	std::thread reader([&] {
		IoContextStats stats = ctx->Stats();
		first = stats.TryGetSnapshot(); // asks the loop to publish
		IoContextStats::Snapshot prev;
		for (;;) {
			bool end = done.load();
			auto s = stats.TryGetSnapshot();
			if (!s) {
				if (end)
					break;
				std::this_thread::yield();
				continue;
			}
			if (s->ops_completed + s->ops_inflight != s->ops_submitted ||
			    s->ops_inflight > 1 || s->ops_submitted < prev.ops_submitted ||
			    s->loop_iterations < prev.loop_iterations || s->wait_ns < prev.wait_ns ||
			    s->run_ns < prev.run_ns || s->snapshot_ns < prev.snapshot_ns)
				bad++;
			prev = *s;
			snapshots++;
			if (end)
				break;
		}
		last = prev;
	});
	// Rounds until the reader has seen enough of them.
	while (snapshots.load() < 20)
		ctx->RunUntilDone(Sleeps(*ctx, 5, 1ms));
	done = true;
	auto mine = ctx->Stats().GetSnapshot();
	reader.join();
	cr_assert(!first.has_value(), "the first call from another thread only asks");
	cr_assert_eq(bad.load(), 0);
	// The loop published at the end of its last round.
	cr_assert_eq(last.ops_submitted, mine.ops_submitted);
	cr_assert_eq(last.ops_completed, mine.ops_completed);
	cr_assert_eq(last.ops_inflight, 0u);
	cr_assert_eq(last.wait_ns, mine.wait_ns);
	cr_assert(mine.wait_ns > 0);
}
