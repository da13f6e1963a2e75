#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 5: 100,000 and 1,000,000 concurrent timers of 1-100 ms (the same delays for
# everyone): kio (on io_uring and on its epoll backend: kio-c, kio-c-epoll), the user-space
# timer libraries users would pick instead (libuv's heap, Asio's steady_timer queue, Tokio's
# timer wheel) and plain liburing IORING_OP_TIMEOUT (one kernel timeout per timer, a
# reference line). One process per run and implementation, so each peak RSS is its own.
# Repetitions are the outer loop and the implementations alternate inside it, so run i of
# every implementation belongs to pair i (the report's paired ratios).
# Metrics (bench_timers.h has the definitions): wall_s, arm_ns, bytes_per_timer, and per
# timer, with t_run the end of arming (the loop runs from there):
#   late_p50_us, late_p99_us, late_max_us              fire - deadline
#   late_run_p50_us, late_run_p99_us, late_run_max_us  fire - max(deadline, t_run)
#   late_floor_p99_us                                  max(0, t_run - deadline)
# Arming N timers takes N x arm_ns, and every timer whose deadline passes meanwhile waits
# for the run: late >= late_floor, whatever the timer system. late_run leaves that wait
# out: it is the timer system's own delay (Tokio registers a sleep at its task's first
# poll, in the run, so that share of its arming counts there).
set -u
. "$BENCH_SRC/bench/lib.sh"

bench_prog kio-bench-timers >/dev/null || exit 0
# impl:program:arguments:KIO_BACKEND; peers that were not built are skipped with the reason.
runs="kio:kio-bench-timers:--impl=kio:io_uring kio-epoll:kio-bench-timers:--impl=kio:epoll
liburing:kio-bench-timers:--impl=liburing:io_uring libuv:kio-bench-timers-uv::io_uring
asio:kio-bench-timers-asio::io_uring tokio:kio-bench-timers-tokio::io_uring"
live=""
for run in $runs; do
  rest=${run#*:}
  bench_prog "${rest%%:*}" >/dev/null || continue
  live="$live $run"
done
# --quick: 100,000 timers only (a 1,000,000 liburing run alone takes 10 s).
counts="100000 1000000"
[ "$BENCH_QUICK" = 1 ] && counts=100000
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rc=0
for n in $counts; do
  r=0
  while [ "$r" -lt "$BENCH_REPS" ]; do
    for run in $live; do
      rest=${run#*:}
      p=$(bench_prog "${rest%%:*}")
      rest=${rest#*:}
      args=$(echo "${rest%%:*}" | tr '=' ' ')
      # shellcheck disable=SC2086 # args: nothing or "--impl X"
      bench_measured env KIO_BACKEND="${rest#*:}" "$p" $args --count "$n" >>"$tmp" || {
        echo "timers: ${run%%:*} failed at $n timers" >&2
        rc=1
      }
    done
    r=$((r + 1))
  done
done
bench_merge "$tmp"
exit $rc
