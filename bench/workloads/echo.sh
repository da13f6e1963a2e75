#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 2: TCP echo over loopback, ping-pong, 1/16/256 connections, 64 B and 4 KiB
# messages. Servers: kio C, kio C++, plain liburing, libuv, Boost.Asio (io_uring and epoll),
# all loaded by the same generator (kio-bench-echo-load). Per point, every server is started
# (pinned to $BENCH_SERVER_CPU), then each repetition runs the generator (pinned to
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

# impl:program, in the order of the table.
servers="kio-c:kio-bench-echo-kio kio-cxx:kio-bench-echo-kio-cxx liburing:kio-bench-echo-uring
libuv:kio-bench-echo-uv asio-uring:kio-bench-echo-asio-uring asio-epoll:kio-bench-echo-asio-epoll"

load=$(bench_prog kio-bench-echo-load) || exit 1
# shellcheck disable=SC3045 # dash, bash and busybox sh all have ulimit -n
ulimit -n 4096 2>/dev/null || true

tmp=$(mktemp -d)
pids=""
stop_servers() {
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  for p in $pids; do
    n=0
    while kill -0 "$p" 2>/dev/null && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  pids=""
}
trap 'stop_servers; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# start_server IMPL PROG: runs it pinned, waits for its "port N" line; records "impl pid port"
# in $tmp/live. The subshell execs taskset, which execs the server: $! is the server's pid,
# whose CPU clock the generator reads.
start_server() {
  out="$tmp/$1.out"
  : >"$out"
  if bench_have taskset; then
    (exec taskset -c "$BENCH_SERVER_CPU" "$2" --port 0 >"$out" 2>"$tmp/$1.err") &
  else
    ("$2" --port 0 >"$out" 2>"$tmp/$1.err") &
  fi
  pid=$!
  n=0
  while [ "$n" -lt 100 ]; do
    port=$(awk '$1 == "port" {print $2; exit}' "$out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
    n=$((n + 1))
  done
  if [ -z "$port" ]; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    st=$?
    if [ "$st" = 77 ]; then
      bench_skip "$1: the kernel lacks what it needs ($(head -c 200 "$tmp/$1.err"))"
    else
      echo "echo: $1 did not start: $(head -c 300 "$tmp/$1.err")" >&2
      echo fail >>"$tmp/failed"
    fi
    return 1
  fi
  pids="$pids $pid"
  echo "$1 $pid $port" >>"$tmp/live"
}

rc=0
for point in $points; do
  conns=${point%x*}
  size=${point#*x}
  params="{\"conns\":$conns,\"size\":$size}"
  : >"$tmp/live"
  for entry in $servers; do
    impl=${entry%%:*}
    prog=$(bench_prog "${entry#*:}") || continue
    start_server "$impl" "$prog" || continue
  done
  [ -s "$tmp/live" ] || continue

  nlive=$(wc -l <"$tmp/live")
  r=0
  while [ "$r" -lt "$BENCH_REPS" ]; do
    # Rotate the order: repetition r starts with server r mod n.
    shift_by=$((r % nlive))
    { tail -n +$((shift_by + 1)) "$tmp/live"; head -n "$shift_by" "$tmp/live"; } >"$tmp/order"
    while read -r impl pid port; do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "echo: $impl (pid $pid) died" >&2
        rc=1
        continue
      fi
      if bench_pin "$BENCH_CLIENT_CPU" "$load" --port "$port" --server-pid "$pid" \
        --conns "$conns" --size "$size" --warmup "$warm" --duration "$secs" \
        >"$tmp/run" 2>"$tmp/run.err" </dev/null; then
        python3 - "$tmp/run" "$tmp/$impl" <<'EOF' || rc=1
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
with open(sys.argv[2], "a") as f:
    for key in ("msgs_per_s", "p50_us", "p99_us", "server_ns_per_msg"):
        if r.get(key) is not None:
            f.write(f"{key} {r[key]}\n")
EOF
      else
        echo "echo: $impl at $conns conns, $size B: $(cat "$tmp/run.err" "$tmp/run" | head -c 400)" >&2
        rc=1
      fi
    done <"$tmp/order"
    r=$((r + 1))
  done
  stop_servers

  # One line per (impl, metric), in the order of $servers.
  while read -r impl pid port; do
    [ -s "$tmp/$impl" ] || continue
    for m in "msgs_per_s msgs/s true" "p50_us us false" "p99_us us false" \
      "server_ns_per_msg ns false"; do
      # shellcheck disable=SC2086 # split into metric, unit, direction
      set -- $m
      vals=$(awk -v k="$1" '$1 == k {print $2}' "$tmp/$impl")
      [ -n "$vals" ] || continue
      metric=$1
      [ "$metric" = server_ns_per_msg ] && metric=ns_per_msg
      # shellcheck disable=SC2086
      bench_emit echo "$impl" "$params" "$metric" "$2" "$3" $vals </dev/null || rc=1
    done
    rm -f "$tmp/$impl"
  done <"$tmp/live"
done
[ -f "$tmp/failed" ] && rc=1
exit $rc
