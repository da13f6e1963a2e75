#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 2: TCP echo over loopback. Servers: kio C and kio C++ on each of kio's backends
# (the same two programs run with KIO_BACKEND=io_uring, then with KIO_BACKEND=epoll), kio C
# with a 30 s idle deadline re-armed on every receive (kio-c-timeout: what a per-op timeout
# costs a real server), plain liburing, plain liburing on direct descriptors
# (liburing-direct: what they would save), libuv, a hand-written epoll server, Boost.Asio (io_uring and epoll) and Tokio
# (current_thread), all loaded by the same generator (kio-bench-echo-load) pinned to
# $BENCH_CLIENT_CPU, every server pinned to $BENCH_SERVER_CPU.
#
# Per point (connections x message size) every server is started, then:
# - closed loop (workload "echo-closed", the secondary table): ping-pong as fast as the
#   generator goes; it saturates the generator's core, so every server idles part of the
#   time and CPU per message partly tracks the client;
# - fixed rate (workload "echo", the headline): open loop at BENCH_ECHO_LOADS percent of the
#   slowest server's closed-loop rate (below saturation for everyone), the same rate for
#   every server; ns_per_msg (server CPU time in the window / messages) is the server's own
#   cost per message.
# Each repetition runs the generator against every server in turn, in a rotating order, so
# run i of every server belongs to repetition i (report.py pairs them).
# Then "echo-rss": each server alone with 10,000 open connections (--quick: 2,000), messages
# going both ways on every one: its resident memory, total and per connection.
#
# BENCH_ECHO_POINTS (e.g. "16x64 256x4096") overrides the points, BENCH_ECHO_LOADS the
# fixed-rate loads (percent), BENCH_ECHO_SECONDS / BENCH_ECHO_CLOSED_SECONDS the window of a
# fixed-rate / closed-loop run, BENCH_ECHO_WARMUP the warm-up, BENCH_ECHO_RSS_CONNS the
# connections of the memory point (0: skip it), BENCH_ECHO_SERVERS (e.g. "kio-c
# kio-c-timeout") the servers: the named ones alone, so a variant can be run against its
# baseline with as many repetitions as the time allows.
set -u
. "$BENCH_SRC/bench/lib.sh"
# shellcheck disable=SC2034 # read by bench_skip in lib.sh
BENCH_WORKLOAD=${BENCH_WORKLOAD:-echo}

if [ "$BENCH_QUICK" = 1 ]; then
  points=${BENCH_ECHO_POINTS:-"16x64"}
  loads=${BENCH_ECHO_LOADS:-"50"}
  secs=${BENCH_ECHO_SECONDS:-0.5}
  closed_secs=${BENCH_ECHO_CLOSED_SECONDS:-0.4}
  warm=${BENCH_ECHO_WARMUP:-0.2}
  rss_reps=1
  rss_conns=${BENCH_ECHO_RSS_CONNS:-2000}
else
  points=${BENCH_ECHO_POINTS:-"16x64 256x64 16x4096 256x4096"}
  loads=${BENCH_ECHO_LOADS:-"30 60"}
  secs=${BENCH_ECHO_SECONDS:-5}
  closed_secs=${BENCH_ECHO_CLOSED_SECONDS:-2}
  warm=${BENCH_ECHO_WARMUP:-0.5}
  rss_reps=$BENCH_REPS
fi
rss_conns=${rss_conns:-${BENCH_ECHO_RSS_CONNS:-10000}}

# impl:program[:VAR=VALUE...][:--OPTION[=VALUE]...] (bench_start_servers), in the order of
# the table. kio's backend is always named, so kio-c never falls back to epoll unnoticed.
servers="kio-c:kio-bench-echo-kio:KIO_BACKEND=io_uring
kio-c-timeout:kio-bench-echo-kio:KIO_BACKEND=io_uring:--recv-timeout-ms=30000
kio-cxx:kio-bench-echo-kio-cxx:KIO_BACKEND=io_uring
kio-c-epoll:kio-bench-echo-kio:KIO_BACKEND=epoll
kio-cxx-epoll:kio-bench-echo-kio-cxx:KIO_BACKEND=epoll
liburing:kio-bench-echo-uring liburing-direct:kio-bench-echo-uring:--direct
libuv:kio-bench-echo-uv epoll:kio-bench-echo-epoll
asio-uring:kio-bench-echo-asio-uring asio-epoll:kio-bench-echo-asio-epoll
tokio:kio-bench-echo-tokio"
if [ -n "${BENCH_ECHO_SERVERS:-}" ]; then
  kept=""
  for entry in $servers; do
    case " $BENCH_ECHO_SERVERS " in *" ${entry%%:*} "*) kept="$kept $entry" ;; esac
  done
  [ -n "$kept" ] || { echo "echo: BENCH_ECHO_SERVERS names no known server" >&2; exit 1; }
  servers=$kept
fi

load=$(bench_prog kio-bench-echo-load) || exit 1
# The memory point's connections on each side, plus the listening socket and the rings.
# shellcheck disable=SC3045 # dash, bash and busybox sh all have ulimit -n
ulimit -n $((rss_conns + 4096)) 2>/dev/null || ulimit -n 4096 2>/dev/null || true

bench_servers_init

# run_echo IMPL PID PORT: one run of the generator against a server ($rate: empty for the
# closed loop, else messages per second); appends "KEY VALUE" lines to $tmp/IMPL.
# shellcheck disable=SC2317 # called through bench_rounds
run_echo() {
  _w=$secs
  _ropt=""
  if [ -z "$rate" ]; then _w=$closed_secs; else _ropt="--rate $rate"; fi
  # shellcheck disable=SC2086 # _ropt: nothing or "--rate R"
  if ! bench_pin "$BENCH_CLIENT_CPU" "$load" --port "$3" --server-pid "$2" \
    --conns "$conns" --size "$size" --warmup "$warm" --duration "$_w" $_ropt \
    >"$tmp/run" 2>"$tmp/run.err"; then
    echo "echo: $1 at $conns conns, $size B${rate:+, $rate msgs/s}: $(cat "$tmp/run.err" "$tmp/run" | head -c 400)" >&2
    return 1
  fi
  # "key": number pairs of the generator's JSON line (null values are left out).
  tail -n 1 "$tmp/run" | sed 's/[{},]/\n/g' |
    sed -n 's/^ *"\(msgs_per_s\|p50_us\|p99_us\|server_ns_per_msg\|behind\)": *\([0-9.eE+-]*\) *$/\1 \2/p' \
    >>"$tmp/$1"
}

# saturation: the lowest median closed-loop msgs_per_s over the live servers.
saturation() {
  while read -r _impl _ _; do
    [ -s "$tmp/$_impl" ] || continue
    awk '$1 == "msgs_per_s" {print $2}' "$tmp/$_impl" | sort -g |
      awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'
  done <"$tmp/live" | sort -g | head -n 1
}

rc=0
for point in $points; do
  conns=${point%x*}
  size=${point#*x}
  bench_start_servers "$servers" || continue
  rate=""
  bench_rounds run_echo || rc=1
  sat=$(saturation)
  # One line per (impl, metric), in the order of $servers.
  bench_emit_live echo-closed "{\"conns\":$conns,\"size\":$size}" "msgs_per_s msgs/s true
p50_us us false
p99_us us false
server_ns_per_msg ns false ns_per_msg" || rc=1
  if [ -z "$sat" ]; then
    echo "echo: no closed-loop rate at $point: no fixed-rate runs" >&2
    rc=1
    bench_stop_servers
    continue
  fi
  for pct in $loads; do
    # Two significant digits: the same round rate for every server.
    rate=$(awk -v s="$sat" -v p="$pct" 'BEGIN { r = s * p / 100; e = 1;
      while (r >= 100) { r /= 10; e *= 10 } printf "%d", int(r + 0.5) * e }')
    [ "$rate" -gt 0 ] || continue
    bench_rounds run_echo || rc=1
    bench_emit_live echo "{\"conns\":$conns,\"size\":$size,\"load_pct\":$pct,\"rate\":$rate}" \
      "server_ns_per_msg ns false ns_per_msg
msgs_per_s msgs/s true
p50_us us false
p99_us us false
behind msgs false" || rc=1
  done
  bench_stop_servers
done

# Memory with $rss_conns connections open: one server at a time.
if [ "$rss_conns" -gt 0 ]; then
  r=0
  while [ "$r" -lt "$rss_reps" ]; do
    for entry in $servers; do
      bench_start_servers "$entry" || continue
      read -r impl pid port <"$tmp/live"
      if bench_pin "$BENCH_CLIENT_CPU" "$load" --port "$port" --server-pid "$pid" \
        --conns "$rss_conns" --size 64 --warmup 0.2 --duration 0.3 >"$tmp/run" 2>"$tmp/run.err" &&
        python3 - "$tmp/run" "$rss_conns" >>"$tmp/rss.$impl" <<'EOF'; then :
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
after, before = r["server_rss_kib"] * 1024, r["server_rss_before_kib"] * 1024
print(f"rss_bytes {after}\nrss_per_conn {(after - before) / int(sys.argv[2]):.1f}")
EOF
      else
        echo "echo: $impl with $rss_conns connections: $(head -c 300 "$tmp/run.err")" >&2
        rc=1
      fi
      bench_stop_servers
    done
    r=$((r + 1))
  done
  for f in "$tmp"/rss.*; do
    [ -f "$f" ] || continue
    impl=${f##*/rss.}
    for m in rss_bytes rss_per_conn; do
      # shellcheck disable=SC2046 # one argument per value
      bench_emit echo-rss "$impl" "{\"conns\":$rss_conns}" "$m" B false \
        $(awk -v k="$m" '$1 == k {print $2}' "$f") || rc=1
    done
  done
fi
[ -f "$tmp/failed" ] && rc=1
exit $rc
