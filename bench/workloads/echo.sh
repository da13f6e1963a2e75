#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 2: TCP echo over loopback, ping-pong, 1/16/256 connections, 64 B and 4 KiB
# messages. Servers: kio C and kio C++ on each of kio's backends (the same two programs run
# with KIO_BACKEND=io_uring, then with KIO_BACKEND=epoll), plain liburing, libuv, a
# hand-written epoll server, Boost.Asio (io_uring and epoll), all loaded by the same
# generator (kio-bench-echo-load). Per point, every server is started (pinned to
# $BENCH_SERVER_CPU), then each repetition runs the generator (pinned to
# $BENCH_CLIENT_CPU) against every server in turn, in a rotating order, so the noise of the
# moment falls on all of them alike. Metrics: msgs_per_s, p50_us, p99_us and ns_per_msg
# (server CPU time inside the measured window / messages in the window: the generator
# saturates its core, so this is the figure that separates the servers).
#
# BENCH_ECHO_POINTS (e.g. "16x64 256x4096") overrides the points; BENCH_ECHO_SECONDS and
# BENCH_ECHO_WARMUP the window and warm-up of each run.
set -u
. "$BENCH_SRC/bench/lib.sh"
# shellcheck disable=SC2034 # read by bench_skip in lib.sh
BENCH_WORKLOAD=${BENCH_WORKLOAD:-echo}

if [ "$BENCH_QUICK" = 1 ]; then
  points=${BENCH_ECHO_POINTS:-"16x64 256x4096"}
  secs=${BENCH_ECHO_SECONDS:-0.5}
  warm=${BENCH_ECHO_WARMUP:-0.2}
else
  points=${BENCH_ECHO_POINTS:-"1x64 16x64 256x64 1x4096 16x4096 256x4096"}
  secs=${BENCH_ECHO_SECONDS:-1.5}
  warm=${BENCH_ECHO_WARMUP:-0.5}
fi

# impl:program[:VAR=VALUE...], in the order of the table. kio's backend is always named, so
# kio-c never falls back to epoll unnoticed.
servers="kio-c:kio-bench-echo-kio:KIO_BACKEND=io_uring
kio-cxx:kio-bench-echo-kio-cxx:KIO_BACKEND=io_uring
kio-c-epoll:kio-bench-echo-kio:KIO_BACKEND=epoll
kio-cxx-epoll:kio-bench-echo-kio-cxx:KIO_BACKEND=epoll
liburing:kio-bench-echo-uring libuv:kio-bench-echo-uv epoll:kio-bench-echo-epoll
asio-uring:kio-bench-echo-asio-uring asio-epoll:kio-bench-echo-asio-epoll"

load=$(bench_prog kio-bench-echo-load) || exit 1
# shellcheck disable=SC3045 # dash, bash and busybox sh all have ulimit -n
ulimit -n 4096 2>/dev/null || true

bench_servers_init

# run_echo IMPL PID PORT: one run of the generator against a server; appends "KEY VALUE"
# lines to $tmp/IMPL.
# shellcheck disable=SC2317 # called through bench_rounds
run_echo() {
  if ! bench_pin "$BENCH_CLIENT_CPU" "$load" --port "$3" --server-pid "$2" \
    --conns "$conns" --size "$size" --warmup "$warm" --duration "$secs" \
    >"$tmp/run" 2>"$tmp/run.err"; then
    echo "echo: $1 at $conns conns, $size B: $(cat "$tmp/run.err" "$tmp/run" | head -c 400)" >&2
    return 1
  fi
  python3 - "$tmp/run" "$tmp/$1" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
with open(sys.argv[2], "a") as f:
    for key in ("msgs_per_s", "p50_us", "p99_us", "server_ns_per_msg"):
        if r.get(key) is not None:
            f.write(f"{key} {r[key]}\n")
EOF
}

rc=0
for point in $points; do
  conns=${point%x*}
  size=${point#*x}
  params="{\"conns\":$conns,\"size\":$size}"
  bench_start_servers "$servers" || continue
  bench_rounds run_echo || rc=1
  bench_stop_servers

  # One line per (impl, metric), in the order of $servers.
  bench_emit_live echo "$params" "msgs_per_s msgs/s true
p50_us us false
p99_us us false
server_ns_per_msg ns false ns_per_msg" || rc=1
done
[ -f "$tmp/failed" ] && rc=1
exit $rc
