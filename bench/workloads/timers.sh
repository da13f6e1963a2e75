#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 5: 100,000 and 1,000,000 concurrent sleeps of 1-100 ms, kio (on io_uring and on
# its epoll backend: kio-c, kio-c-epoll) vs plain liburing IORING_OP_TIMEOUT. One process
# per run and implementation, so each peak RSS is its own.
set -u
. "$BENCH_SRC/bench/lib.sh"

prog=$(bench_prog kio-bench-timers) || exit 0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rc=0
for n in 100000 1000000; do
  r=0
  while [ "$r" -lt "$BENCH_REPS" ]; do
    # impl:KIO_BACKEND; the program names the backend it ran on (kio-c, kio-c-epoll).
    for run in kio:io_uring kio:epoll liburing:io_uring; do
      bench_pin "$BENCH_SERVER_CPU" env KIO_BACKEND="${run#*:}" "$prog" \
        --impl "${run%%:*}" --count "$n" >>"$tmp" || rc=1
    done
    r=$((r + 1))
  done
done
bench_merge "$tmp"
exit $rc
