# SPDX-License-Identifier: MIT
# Helpers for bench/workloads/*.sh (sourced; see bench/README.md). Needs BENCH_SRC.

# bench_pin CPU CMD...: runs CMD on CPU (taskset when present).
bench_pin() {
  _cpu=$1
  shift
  if command -v taskset >/dev/null 2>&1; then
    taskset -c "$_cpu" "$@"
  else
    "$@"
  fi
}

# bench_have CMD: true when CMD is on PATH.
bench_have() {
  command -v "$1" >/dev/null 2>&1
}

# bench_skip REASON: says why a workload (or one of its peers) is skipped.
bench_skip() {
  echo "skipped: ${BENCH_WORKLOAD:-?}: $*" >&2
}

# bench_merge FILE...: merges single-run result lines (one program run per repetition)
# into one line per point and appends them to $BENCH_OUT.
bench_merge() {
  python3 "$BENCH_SRC/bench/merge.py" "$@" >>"$BENCH_OUT"
}

# bench_emit WORKLOAD IMPL PARAMS_JSON METRIC UNIT HIGHER_IS_BETTER V1 [V2...]:
# appends one result line built from raw values (e.g. parsed from fio or wrk output).
bench_emit() {
  python3 "$BENCH_SRC/bench/merge.py" --emit "$@" >>"$BENCH_OUT"
}

# bench_prog NAME: path of a benchmark program in the build directory, or fails (and
# says so) when it was not built.
bench_prog() {
  if [ -x "$BENCH_BUILD/bench/$1" ]; then
    echo "$BENCH_BUILD/bench/$1"
  else
    bench_skip "$1 was not built"
    return 1
  fi
}
