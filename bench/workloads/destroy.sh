#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 7: kio_ctx_destroy() with 1,000 to 64,000 recvs (and as many polls) pending, on
# each backend (kio-c, kio-c-epoll). One process per backend; the program repeats each
# point itself.
set -u
. "$BENCH_SRC/bench/lib.sh"

prog=$(bench_prog kio-bench-destroy) || exit 0
counts=1000,4000,16000,64000
[ "$BENCH_QUICK" = 1 ] && counts=1000,16000,64000
rc=0
for backend in io_uring epoll; do
  bench_pin "$BENCH_SERVER_CPU" env KIO_BACKEND="$backend" "$prog" --counts "$counts" \
    --reps "$BENCH_REPS" >>"$BENCH_OUT" || rc=1
done
exit $rc
