#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the benchmarks (release build, own build directory) and runs them,
# pinned to one CPU so the scheduler does not move the loop mid-run.
#
#   bench/run.sh [kio-bench-nop options...]     e.g. bench/run.sh --quick --json
#
# Environment: BUILD_DIR (default build-bench), BENCH_CPU (default: the last
# CPU, usually the quietest; CPU 0 takes most interrupts).
set -eu

cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-bench}

if [ ! -f "$build_dir/build.ninja" ]; then
  # Only the library and the benchmarks: no test runners or man tools needed.
  meson setup "$build_dir" --buildtype=release -Dbench=true -Dtests=false \
    -Dexamples=false -Dman=false >/dev/null
fi
ninja -C "$build_dir" bench/kio-bench-nop >/dev/null

bin="$build_dir/bench/kio-bench-nop"
if command -v taskset >/dev/null 2>&1; then
  cpus=$(nproc)
  cpu=${BENCH_CPU:-$((cpus - 1))}
  echo "pinned to CPU $cpu with taskset" >&2
  exec taskset -c "$cpu" "$bin" "$@"
fi
echo "taskset not found: running unpinned" >&2
exec "$bin" "$@"
