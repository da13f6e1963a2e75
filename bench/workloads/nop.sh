#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 1: NOP round trips at batch 1/8/32/128. kio C and plain liburing run in one
# process, alternating (kio-bench-nop); kio C++ co_await in its own (kio-bench-nop-cxx).
# Repetitions are the outer loop, one process of each per repetition, so run i of kio-c,
# liburing and kio-cxx belong to pair i (report.py's paired ratios).
set -u
. "$BENCH_SRC/bench/lib.sh"

quick=""
[ "$BENCH_QUICK" = 1 ] && quick="--quick"
nop=$(bench_prog kio-bench-nop) || nop=""
nopcxx=$(bench_prog kio-bench-nop-cxx) || nopcxx=""
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rc=0
r=0
while [ "$r" -lt "$BENCH_REPS" ]; do
  if [ -n "$nop" ]; then
    # shellcheck disable=SC2086
    bench_measured "$nop" --json --reps 1 $quick >>"$tmp" || rc=1
  fi
  if [ -n "$nopcxx" ]; then
    # shellcheck disable=SC2086
    bench_measured "$nopcxx" --reps 1 $quick >>"$tmp" || rc=1
  fi
  r=$((r + 1))
done
bench_merge "$tmp"
exit $rc
