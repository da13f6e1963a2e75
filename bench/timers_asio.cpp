// SPDX-License-Identifier: MIT
//
// kio-bench-timers-asio - the Boost.Asio peer of the timer workload: N
// asio::steady_timer (Asio's user-space timer queue, a heap) each with an
// async_wait, armed with the delays of kio-bench-timers, then io_context::run()
// until the last one fired. The timer objects are the caller's memory: they
// are allocated after the memory baseline, so bytes_per_timer counts them.
//
//   kio-bench-timers-asio [--count N]
//
// Prints the result lines of kio-bench-timers (bench_timers.h), impl "asio".
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "bench_timers.h"

namespace asio = boost::asio;

static bt_run run;

int main(int argc, char **argv)
{
	uint64_t n = 100000;
	if (argc == 3 && std::strcmp(argv[1], "--count") == 0)
		n = std::strtoull(argv[2], nullptr, 10);
	else if (argc != 1)
		n = 0;
	if (n == 0) {
		std::fprintf(stderr, "usage: kio-bench-timers-asio [--count N]\n");
		return 2;
	}
	asio::io_context io(1);
	if (bt_init(&run, n) < 0)
		return 1;
	std::allocator<asio::steady_timer> alloc;
	asio::steady_timer *timers = alloc.allocate(n);
	uint64_t rng = BT_SEED;
	int64_t base = 0;
	run.t_first = bt_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t d = bt_next_delay(&rng);
		bt_arm(&run, i, &base, d);
		auto *t = new (&timers[i]) asio::steady_timer(io, std::chrono::nanoseconds(d));
		t->async_wait([i](const boost::system::error_code &ec) {
			bt_fired(&run, i, ec ? -1 : 0);
		});
	}
	run.t_armed = bt_now_ns();
	io.run();
	int rc = bt_report(&run, "asio", "steady_timer + async_wait per timer (heap)");
	for (uint64_t i = 0; i < n; i++)
		timers[i].~basic_waitable_timer();
	alloc.deallocate(timers, n);
	return rc;
}
