// SPDX-License-Identifier: MIT
#include <cerrno>
#include <cstring>

#include <sched.h>

#include "core/ctx.hpp"
#include "core/log.hpp"

namespace kio {

namespace {

// Time in the loop, up to now when a run call is under way.
uint64_t run_ns_now(const kio_ctx *c, uint64_t now) noexcept
{
	uint64_t run = c->obs.run_ns;
	if (c->in_run && (c->obs.mode.load(std::memory_order_relaxed) & kObsTiming) &&
	    now > c->obs.run_mark)
		run += now - c->obs.run_mark;
	return run;
}

// The counters of ctx as the loop thread sees them.
void read_live(const kio_ctx *c, uint64_t (&v)[kPubCount]) noexcept
{
	const kio_stats &s = c->stats;
	uint64_t now = mono_ns();
	v[kPubSubmitted] = s.ops_submitted;
	v[kPubErrors] = s.ops_errors;
	v[kPubTimeouts] = s.ops_timeouts;
	v[kPubCancelled] = s.ops_cancelled;
	v[kPubMaxInflight] = s.ops_max_inflight;
	v[kPubLoops] = s.loop_iterations;
	v[kPubEnters] = c->ring.enter_calls;
	v[kPubInflight] = c->live;
	v[kPubOverflows] = c->obs.cq_overflows;
	v[kPubDropped] = c->ring.cq_dropped();
	v[kPubSqes] = c->ring.sqes_submitted;
	v[kPubWait] = c->obs.wait_ns;
	v[kPubRun] = run_ns_now(c, now);
	v[kPubAt] = now;
}

// The published copy, whole: false while the loop has published none.
bool read_published(const kio_ctx *c, uint64_t (&v)[kPubCount]) noexcept
{
	const Obs &o = c->obs;
	for (unsigned spins = 0;; spins++) {
		uint64_t s1 = o.seq.load(std::memory_order_acquire);
		if (s1 == 0)
			return false;
		if (!(s1 & 1)) {
			for (unsigned i = 0; i < kPubCount; i++)
				v[i] = o.pub[i].load(std::memory_order_relaxed);
			std::atomic_thread_fence(std::memory_order_acquire);
			if (o.seq.load(std::memory_order_relaxed) == s1)
				return true;
		}
		// The loop writes the copy in a few dozen instructions; a reader
		// that keeps losing the race has the loop's thread preempted.
		if (spins >= 64)
			sched_yield();
	}
}

void to_stats(const uint64_t (&v)[kPubCount], kio_stats *s) noexcept
{
	s->ops_submitted = v[kPubSubmitted];
	s->ops_completed = v[kPubSubmitted] - v[kPubInflight];
	s->ops_errors = v[kPubErrors];
	s->ops_timeouts = v[kPubTimeouts];
	s->ops_cancelled = v[kPubCancelled];
	s->ops_max_inflight = v[kPubMaxInflight];
	s->loop_iterations = v[kPubLoops];
	s->enter_calls = v[kPubEnters];
	s->ops_inflight = v[kPubInflight];
	s->cq_overflows = v[kPubOverflows];
	s->cq_dropped = v[kPubDropped];
	s->sqes_submitted = v[kPubSqes];
	s->wait_ns = v[kPubWait];
	s->run_ns = v[kPubRun];
	s->snapshot_ns = v[kPubAt];
}

} // namespace

void publish_stats(kio_ctx *c) noexcept
{
	Obs &o = c->obs;
	const kio_stats &st = c->stats;
	uint64_t now = mono_ns();
	uint64_t s = o.seq.load(std::memory_order_relaxed);
	o.seq.store(s + 1, std::memory_order_relaxed);
	std::atomic_thread_fence(std::memory_order_release);
	auto put = [&o](PubField f, uint64_t v) { o.pub[f].store(v, std::memory_order_relaxed); };
	put(kPubSubmitted, st.ops_submitted);
	put(kPubErrors, st.ops_errors);
	put(kPubTimeouts, st.ops_timeouts);
	put(kPubCancelled, st.ops_cancelled);
	put(kPubMaxInflight, st.ops_max_inflight);
	put(kPubLoops, st.loop_iterations);
	put(kPubEnters, c->ring.enter_calls);
	put(kPubInflight, c->live);
	put(kPubOverflows, o.cq_overflows);
	put(kPubDropped, c->ring.cq_dropped());
	put(kPubSqes, c->ring.sqes_submitted);
	put(kPubWait, o.wait_ns);
	put(kPubRun, run_ns_now(c, now));
	put(kPubAt, now);
	o.seq.store(s + 2, std::memory_order_release);
}

void note_cq_overflow(kio_ctx *c) noexcept
{
	c->obs.cq_overflows++;
	log_cq_overflow(c);
}

} // namespace kio

KIO_API int kio_ctx_stats(const kio_ctx *ctx, kio_stats *out, size_t out_size) noexcept
{
	if (!ctx || !out)
		return -EINVAL;
	uint64_t v[kio::kPubCount];
	if (!kio::foreign_thread(ctx)) {
		kio::read_live(ctx, v);
	} else if (!kio::read_published(ctx, v)) {
		// Nothing published yet: ask for it. Once raised, publish stays
		// raised, so only the first call pays for the wake-up.
		auto *c = const_cast<kio_ctx *>(ctx);
		if (!(c->obs.mode.load(std::memory_order_relaxed) & kio::kObsPublish)) {
			c->obs.mode.fetch_or(kio::kObsPublish, std::memory_order_relaxed);
			kio::signal_wake(c, c->obs.wake_req);
		}
		return -EAGAIN;
	}
	kio_stats s{};
	kio::to_stats(v, &s);
	size_t n = out_size < sizeof(s) ? out_size : sizeof(s);
	memcpy(out, &s, n);
	if (out_size > n)
		memset(reinterpret_cast<unsigned char *>(out) + n, 0, out_size - n);
	return 0;
}
