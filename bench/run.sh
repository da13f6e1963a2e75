#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the benchmarks (release build, own build directory), runs every workload in
# bench/workloads/ with the measured program pinned to one CPU and load generators to
# another, and writes DIR/results.json, DIR/results.md and DIR/results.png.
#
#   bench/run.sh [--quick] [--out DIR] [--only NAME[,NAME...]]
#
# --quick: 3 repetitions per point, short runs and fewer points (under 3 minutes on an idle
# machine); the full run does 5, with 5 s windows per fixed-rate echo point (about 80 minutes
# on 2 CPUs). --only runs just the named workloads (nop, fileread, ...).
# Environment: BUILD_DIR (default build-bench), BENCH_SERVER_CPU / BENCH_CLIENT_CPU
# (default 1 and 0; both 0 on a single-CPU machine), BENCH_TMPDIR (big temporary files),
# BENCH_FIFO=0 (never run the measured programs under SCHED_FIFO).
# See bench/README.md for the result format and what each workload measures.
set -eu

usage() {
  echo "usage: bench/run.sh [--quick] [--out DIR] [--only NAME[,NAME...]]" >&2
  exit 2
}

quick=0
out=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift ;;
    --only) [ $# -ge 2 ] || usage; only=$2; shift ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
  shift
done

cd "$(dirname "$0")/.."
src=$(pwd)
build_dir=${BUILD_DIR:-build-bench}
out=${out:-bench/results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$(date +%s)

if [ ! -f "$build_dir/build.ninja" ]; then
  # Only the library, the C++ layer and the benchmarks: no tests, examples or man pages.
  meson setup "$build_dir" --buildtype=release -Dbench=enabled -Dtests=disabled \
    -Dexamples=disabled -Dman=false >/dev/null
fi
echo "building $build_dir..." >&2
if ! build_log=$(ninja -C "$build_dir" 2>&1); then
  printf '%s\n' "$build_log" >&2
  echo "bench/run.sh: the build failed" >&2
  exit 1
fi
build=$(cd "$build_dir" && pwd)
# The Tokio peers: cargo, offline, against the distribution's crates (skipped with the
# reason when cargo or the crates are missing).
sh bench/tokio/build.sh "$build" || echo "bench/run.sh: the Tokio peers were not built" >&2

ncpu=$(nproc 2>/dev/null || echo 1)
if [ "$ncpu" -ge 2 ]; then
  server_cpu=${BENCH_SERVER_CPU:-1}
  client_cpu=${BENCH_CLIENT_CPU:-0}
else
  server_cpu=${BENCH_SERVER_CPU:-0}
  client_cpu=${BENCH_CLIENT_CPU:-0}
fi
command -v taskset >/dev/null 2>&1 || echo "taskset not found (util-linux): running unpinned" >&2
if [ "$quick" = 1 ]; then reps=3; else reps=5; fi
# BENCH_REPS overrides the repetitions per point (at least 2: a pair needs two runs' worth of
# alternation to mean anything, and the report's ranges need more than one pair).
case "${BENCH_REPS:-}" in
  "") ;;
  *[!0-9]*|0|1) echo "bench/run.sh: BENCH_REPS must be a whole number >= 2" >&2; exit 2 ;;
  *) reps=$BENCH_REPS ;;
esac
# SCHED_FIFO for the measured programs where the system allows it (BENCH_FIFO=0: never).
fifo=0
fifo_text="not requested (BENCH_FIFO=0)"
if [ "${BENCH_FIFO:-1}" != 0 ]; then
  if command -v chrt >/dev/null 2>&1 && chrt -f 1 true 2>/dev/null; then
    fifo=1
    fifo_text="granted (chrt -f 1)"
  else
    fifo_text="not granted (chrt -f 1 refused: no CAP_SYS_NICE or RLIMIT_RTPRIO)"
  fi
fi
echo "SCHED_FIFO for the measured programs: $fifo_text" >&2

lines="$out/results.jsonl"
: >"$lines"
export BENCH_OUT="$lines" BENCH_QUICK="$quick" BENCH_REPS="$reps"
export BENCH_SERVER_CPU="$server_cpu" BENCH_CLIENT_CPU="$client_cpu"
export BENCH_BUILD="$build" BENCH_SRC="$src" BENCH_FIFO="$fifo"

failed=""
timing=""
for script in bench/workloads/*.sh; do
  [ -f "$script" ] || continue
  name=$(basename "$script" .sh)
  if [ -n "$only" ]; then
    case ",$only," in *",$name,"*) ;; *) continue ;; esac
  fi
  echo "== $name" >&2
  t0=$(date +%s)
  if ! BENCH_WORKLOAD="$name" sh "$script"; then
    echo "== $name: FAILED (the run goes on)" >&2
    failed="$failed $name"
  fi
  timing="$timing $name=$(($(date +%s) - t0))"
done

duration=$(($(date +%s) - start))
python3 bench/report.py --in "$lines" --out "$out" --quick "$quick" --reps "$reps" \
  --duration "$duration" --failed "$failed" --timing "$timing" \
  --cpus "server=$server_cpu client=$client_cpu" --fifo "$fifo_text"
echo "run took ${duration}s; results in $out (results.json, results.md, results.png)" >&2
[ -z "$failed" ] || echo "failed workloads:$failed" >&2
