#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 3: HTTP/1.1 keep-alive "hello" servers (kio C++ on io_uring and on kio's epoll
# backend, Boost.Asio on io_uring and on epoll, Tokio current_thread) loaded by wrk (-t1, 64 and 512
# connections). Every server is started pinned to $BENCH_SERVER_CPU; each repetition runs
# wrk pinned to $BENCH_CLIENT_CPU against every server in turn, in a rotating order. Metrics: req_per_s, p50_us and p99_us (wrk --latency)
# and ns_per_req (server CPU time while wrk ran / requests wrk completed).
#
# BENCH_HTTP_CONNS (e.g. "64") and BENCH_HTTP_SECONDS (whole seconds) override the defaults.
set -u
. "$BENCH_SRC/bench/lib.sh"
# shellcheck disable=SC2034 # read by bench_skip in lib.sh
BENCH_WORKLOAD=${BENCH_WORKLOAD:-http}

if ! bench_have wrk; then
  bench_skip "wrk is not installed (scripts/install-deps.sh bench)"
  exit 0
fi
conns_list=${BENCH_HTTP_CONNS:-"64 512"}
if [ "$BENCH_QUICK" = 1 ]; then
  conns_list=${BENCH_HTTP_CONNS:-64}
  secs=${BENCH_HTTP_SECONDS:-1}
  warm=0
else
  secs=${BENCH_HTTP_SECONDS:-3}
  warm=1
fi

# impl:program[:VAR=VALUE...] (bench_start_servers): the kio server once per backend.
servers="kio-cxx:kio-bench-http-kio:KIO_BACKEND=io_uring
kio-cxx-epoll:kio-bench-http-kio:KIO_BACKEND=epoll
asio-uring:kio-bench-http-asio-uring asio-epoll:kio-bench-http-asio-epoll
tokio:kio-bench-http-tokio"

# The generator's --cpu-of reads a process's CPU clock (every thread, in ns).
load=$(bench_prog kio-bench-echo-load) || exit 1
# 512 connections on each side, plus the listening socket and the ring.
# shellcheck disable=SC3045 # dash, bash and busybox sh all have ulimit -n
ulimit -n 4096 2>/dev/null || true

bench_servers_init

# wrk_parse WRK_OUTPUT CPU_NS: prints "req_per_s N", "p50_us N", "p99_us N", "ns_per_req N"
# lines; fails when wrk saw errors or no request completed.
# shellcheck disable=SC2317 # called by run_wrk, through bench_rounds
wrk_parse() {
  python3 - "$1" "$2" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
cpu_ns = int(sys.argv[2])
scale = {"us": 1.0, "ms": 1e3, "s": 1e6}
def lat(pct):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, text, re.M)
    return round(float(m.group(1)) * scale[m.group(2)], 2)
rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M).group(1))
total = int(re.search(r"^\s*(\d+) requests in", text, re.M).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
if errors or total == 0:
    sys.exit(f"wrk: {total} requests, {errors} errors")
print(f"req_per_s {rps}\np50_us {lat(50)}\np99_us {lat(99)}")
if cpu_ns >= 0:
    print(f"ns_per_req {cpu_ns / total:.1f}")
EOF
}

# run_wrk IMPL PID PORT: one wrk run against a server, the server's CPU time read around
# it; appends "KEY VALUE" lines to $tmp/IMPL.
# shellcheck disable=SC2317 # called through bench_rounds
run_wrk() {
  c0=$("$load" --cpu-of "$2") || c0=""
  if ! bench_pin "$BENCH_CLIENT_CPU" wrk -t1 -c"$conns" -d"${secs}s" --latency \
    "http://127.0.0.1:$3/" >"$tmp/wrk" 2>&1; then
    echo "http: wrk failed against $1 at $conns conns: $(head -c 300 "$tmp/wrk")" >&2
    return 1
  fi
  c1=$("$load" --cpu-of "$2") || c1=""
  cpu=-1
  [ -n "$c0" ] && [ -n "$c1" ] && cpu=$((c1 - c0))
  if ! wrk_parse "$tmp/wrk" "$cpu" >>"$tmp/$1"; then
    echo "http: $1 at $conns conns: $(head -c 600 "$tmp/wrk")" >&2
    return 1
  fi
}

rc=0
for conns in $conns_list; do
  params="{\"conns\":$conns}"
  bench_start_servers "$servers" || continue

  if [ "$warm" -gt 0 ]; then
    while read -r _ _ port; do
      bench_pin "$BENCH_CLIENT_CPU" wrk -t1 -c"$conns" -d"${warm}s" \
        "http://127.0.0.1:$port/" >/dev/null 2>&1 </dev/null
    done <"$tmp/live"
  fi

  bench_rounds run_wrk || rc=1
  bench_stop_servers

  bench_emit_live http "$params" "req_per_s req/s true
p50_us us false
p99_us us false
ns_per_req ns false" || rc=1
done
[ -f "$tmp/failed" ] && rc=1
exit $rc
