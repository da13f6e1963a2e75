#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 6: heap allocations per op, and resident memory per idle connection
# (10,000 loopback connections: one shared buffer ring vs a buffer each).
set -u
. "$BENCH_SRC/bench/lib.sh"

prog=$(bench_prog kio-bench-idle) || exit 0
quick=""
[ "$BENCH_QUICK" = 1 ] && quick="--quick"
rc=0
# shellcheck disable=SC2086
bench_pin "$BENCH_SERVER_CPU" "$prog" --alloc --reps "$BENCH_REPS" $quick >>"$BENCH_OUT" || rc=1

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
r=0
while [ "$r" -lt "$BENCH_REPS" ]; do
  for mode in shared perconn; do
    bench_pin "$BENCH_SERVER_CPU" "$prog" --idle "$mode" --conns 10000 >>"$tmp" || rc=1
  done
  r=$((r + 1))
done
bench_merge "$tmp"
exit $rc
