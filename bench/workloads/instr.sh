#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload "instr": instructions per op, beside the wall-clock ratios (a wall ratio depends
# on how slow the machine's kernel path is; an instruction count does not). Counted with
# `perf stat -e instructions:u` where the machine has hardware counters, else with
# valgrind --tool=callgrind (user-space instructions both).
#
# - nop: kio-bench-nop --instr (kio C, kio C with a never-fired 30 s kio_op_timeout on every
#   NOP, plain liburing) and kio-bench-nop-cxx --instr, at batch 1 and 32: the count at 2R
#   rounds minus the count at R rounds, per NOP (start-up and tear-down cancel out).
# - timers: each timer program at 2N and N timers, the difference per timer (arm + fire).
# - echo: each server under callgrind, a warm-up, counters zeroed, a closed-loop run of
#   16 connections x 64 B, counters dumped: instructions / messages echoed (server side).
#   Callgrind only (perf cannot zero a running process's count here). With the variants
#   kio-c-timeout (a 30 s idle deadline re-armed on every receive) and liburing-direct
#   (direct descriptors; what they save is mostly kernel work, which callgrind does not see).
# Repetitions: counts are deterministic to a fraction of a percent; one run per point.
# --quick: the timer and echo counts of kio-c, kio-c-timeout and liburing only (the peers
# under callgrind take a minute).
set -u
. "$BENCH_SRC/bench/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

counter=""
if bench_have perf && perf stat -x, -e instructions:u true 2>"$tmp/perf" >/dev/null &&
  ! grep -q "not supported\|not counted" "$tmp/perf" && grep -q instructions "$tmp/perf"; then
  counter=perf
elif bench_have valgrind; then
  counter=callgrind
else
  bench_skip "neither perf with hardware counters nor valgrind (scripts/install-deps.sh bench)"
  exit 0
fi
echo "instr: counting with $counter" >&2

# count CMD...: user-space instructions of one run of CMD (prints the number).
count() {
  if [ "$counter" = perf ]; then
    perf stat -x, -e instructions:u -o "$tmp/perf.out" "$@" >/dev/null 2>&1 || return 1
    awk -F, '$3 ~ /^instructions/ {print $1; exit}' "$tmp/perf.out"
  else
    rm -f "$tmp/cg.out"
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$@" >/dev/null 2>"$tmp/vg.err" ||
      return 1
    awk '$1 == "totals:" {print $2; exit}' "$tmp/cg.out"
  fi
}

# per_op NAME PARAMS_JSON OPS_A OPS_B CMD_A... -- CMD_B...: emits (count B - count A) /
# (OPS_B - OPS_A) as instr_per_op for NAME.
per_op() {
  _name=$1 _params=$2 _oa=$3 _ob=$4
  shift 4
  _a="" _b=""
  while [ $# -gt 0 ] && [ "$1" != -- ]; do _a="$_a $1"; shift; done
  shift
  # shellcheck disable=SC2086 # one word per argument (no blanks in the programs' paths)
  if ! _ca=$(count $_a) || ! _cb=$(count "$@") || [ -z "$_ca" ] || [ -z "$_cb" ]; then
    echo "instr: $_name $_params: the count failed ($(tail -c 300 "$tmp/vg.err" 2>/dev/null))" >&2
    rc=1
    return 0
  fi
  _v=$(awk -v a="$_ca" -v b="$_cb" -v oa="$_oa" -v ob="$_ob" 'BEGIN { printf "%.2f", (b - a) / (ob - oa) }')
  bench_emit instr "$_name" "$_params" instr_per_op instr false "$_v" || rc=1
}

rc=0
nop=$(bench_prog kio-bench-nop) || nop=""
nopcxx=$(bench_prog kio-bench-nop-cxx) || nopcxx=""
for batch in 1 32; do
  # Rounds: about 20,000 and 40,000 NOPs.
  r=$((20000 / batch))
  p="{\"op\":\"nop\",\"batch\":$batch}"
  if [ -n "$nop" ]; then
    KIO_BACKEND=io_uring per_op kio-c "$p" $((r * batch)) $((2 * r * batch)) \
      "$nop" --instr kio "$batch" "$r" -- "$nop" --instr kio "$batch" $((2 * r))
    per_op liburing "$p" $((r * batch)) $((2 * r * batch)) \
      "$nop" --instr liburing "$batch" "$r" -- "$nop" --instr liburing "$batch" $((2 * r))
    KIO_BACKEND=io_uring per_op kio-c "{\"op\":\"nop-timeout\",\"batch\":$batch}" \
      $((r * batch)) $((2 * r * batch)) \
      "$nop" --instr kio-timeout "$batch" "$r" -- "$nop" --instr kio-timeout "$batch" $((2 * r))
  fi
  if [ -n "$nopcxx" ]; then
    KIO_BACKEND=io_uring per_op kio-cxx "$p" $((r * batch)) $((2 * r * batch)) \
      "$nopcxx" --instr "$batch" "$r" -- "$nopcxx" --instr "$batch" $((2 * r))
  fi
done
export KIO_BACKEND=io_uring

# full NAME: true when NAME is measured in this run (--quick: kio-c, kio-c-timeout and
# liburing only).
full() {
  [ "$BENCH_QUICK" != 1 ] || [ "$1" = kio-c ] || [ "$1" = kio-c-timeout ] || [ "$1" = liburing ]
}

# Timers: arm + fire, per timer.
n=10000
for entry in kio-c:kio-bench-timers:--impl=kio libuv:kio-bench-timers-uv: \
  asio:kio-bench-timers-asio: tokio:kio-bench-timers-tokio:; do
  full "${entry%%:*}" || continue
  name=${entry%%:*}
  rest=${entry#*:}
  p=$(bench_prog "${rest%%:*}") || continue
  args=$(echo "${rest#*:}" | tr '=' ' ')
  # shellcheck disable=SC2086 # args: nothing or "--impl kio"
  per_op "$name" "{\"op\":\"timer\"}" "$n" $((2 * n)) \
    "$p" $args --count "$n" -- "$p" $args --count $((2 * n))
done

# Echo: server instructions per message, callgrind only. Entries: name:program[:options,
# "=" for a blank].
if bench_have valgrind && bench_have callgrind_control; then
  load=$(bench_prog kio-bench-echo-load) || load=""
  for entry in kio-c:kio-bench-echo-kio \
    kio-c-timeout:kio-bench-echo-kio:--recv-timeout-ms=30000 kio-cxx:kio-bench-echo-kio-cxx \
    liburing:kio-bench-echo-uring liburing-direct:kio-bench-echo-uring:--direct \
    libuv:kio-bench-echo-uv epoll:kio-bench-echo-epoll \
    asio-uring:kio-bench-echo-asio-uring asio-epoll:kio-bench-echo-asio-epoll \
    tokio:kio-bench-echo-tokio; do
    [ -n "$load" ] || break
    name=${entry%%:*}
    full "$name" || continue
    rest=${entry#*:}
    p=$(bench_prog "${rest%%:*}") || continue
    args=""
    case "$rest" in *:*) args=$(echo "${rest#*:}" | tr '=' ' ') ;; esac
    out="$tmp/echo.$name"
    # shellcheck disable=SC2086 # args: nothing or the options, one word each
    valgrind --tool=callgrind --callgrind-out-file="$out.cg" "$p" --port 0 $args >"$out" 2>"$out.err" &
    pid=$!
    port=""
    i=0
    while [ "$i" -lt 200 ] && [ -z "$port" ] && kill -0 "$pid" 2>/dev/null; do
      sleep 0.05
      port=$(awk '$1 == "port" {print $2; exit}' "$out")
      i=$((i + 1))
    done
    if [ -z "$port" ]; then
      echo "instr: $name did not start under valgrind: $(tail -c 300 "$out.err")" >&2
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      rc=1
      continue
    fi
    if "$load" --port "$port" --conns 16 --size 64 --warmup 0 --duration 0.5 >/dev/null 2>&1 &&
      callgrind_control -z "$pid" >/dev/null 2>&1 &&
      "$load" --port "$port" --conns 16 --size 64 --warmup 0 --duration 2 >"$out.load" 2>&1 &&
      callgrind_control -d "$pid" >/dev/null 2>&1; then
      msgs=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["msgs"])' "$out.load")
      # The dump after the zeroing ($out.cg.1: the one callgrind_control -d asked for).
      total=""
      for f in "$out.cg".*; do
        [ -f "$f" ] && total=$(awk '$1 == "totals:" {print $2; exit}' "$f")
      done
      if [ -n "$total" ] && [ "${msgs:-0}" -gt 0 ]; then
        v=$(awk -v t="$total" -v m="$msgs" 'BEGIN { printf "%.1f", t / m }')
        bench_emit instr "$name" '{"op":"echo","conns":16,"size":64}' instr_per_op instr false "$v" ||
          rc=1
      else
        echo "instr: $name: no callgrind dump or no messages" >&2
        rc=1
      fi
    else
      echo "instr: $name: the load or callgrind_control failed" >&2
      rc=1
    fi
    bench_pids=$pid
    bench_stop_servers
  done
else
  bench_skip "echo: no valgrind/callgrind_control: no instructions per message"
fi
exit $rc
