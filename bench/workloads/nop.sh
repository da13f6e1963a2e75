#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 1: NOP round trips at batch 1/8/32/128. kio C and plain liburing run in one
# process, alternating (kio-bench-nop); kio C++ co_await in its own (kio-bench-nop-cxx).
set -u
. "$BENCH_SRC/bench/lib.sh"

quick=""
[ "$BENCH_QUICK" = 1 ] && quick="--quick"
rc=0
if prog=$(bench_prog kio-bench-nop); then
  # shellcheck disable=SC2086
  bench_pin "$BENCH_SERVER_CPU" "$prog" --json --reps "$BENCH_REPS" $quick >>"$BENCH_OUT" || rc=1
fi
if prog=$(bench_prog kio-bench-nop-cxx); then
  # shellcheck disable=SC2086
  bench_pin "$BENCH_SERVER_CPU" "$prog" --reps "$BENCH_REPS" $quick >>"$BENCH_OUT" || rc=1
fi
exit $rc
