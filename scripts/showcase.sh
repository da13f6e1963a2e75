#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds kio and shows it doing real work: a verified file copy, a cat, the
# timers demo and a short NOP benchmark against plain liburing.
#
#   scripts/showcase.sh
#
# Installs the build packages (Debian 12; asks for sudo when not root),
# configures build/ with gcc unless it already exists, and builds there.
# BUILD_DIR picks another directory.
set -eu

cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

step() {
  printf '\n==> %s\n' "$*"
}

step "Installing build dependencies"
scripts/install-deps.sh build

# Build chatter goes to a log, shown only when something fails.
log=$(mktemp "${TMPDIR:-/tmp}/kio-showcase-build.XXXXXX")
quietly() {
  if ! "$@" > "$log" 2>&1; then
    cat "$log" >&2
    echo "showcase: failed: $*" >&2
    exit 1
  fi
}

step "Configuring and building in $build/ (log: $log)"
if [ ! -f "$build/build.ninja" ]; then
  # The test suites need CMocka (scripts/install-deps.sh test); build them
  # when it is there so this directory also serves `meson test` later.
  tests=false
  if pkg-config --exists cmocka 2>/dev/null; then
    tests=true
  fi
  echo "meson setup $build (gcc, tests=$tests)"
  quietly env CC=gcc CXX=g++ meson setup "$build" -Dtests=$tests -Dexamples=true -Dbench=true
else
  echo "reusing the existing $build/"
fi
echo "ninja -C $build"
quietly ninja -C "$build"
if [ ! -f "$build/examples/kio-copy" ] || [ ! -f "$build/bench/kio-bench-nop" ]; then
  # An earlier configuration of this directory left these parts out.
  echo "meson configure $build -Dexamples=true -Dbench=true"
  quietly meson configure "$build" -Dexamples=true -Dbench=true
  quietly ninja -C "$build"
fi
rm -f "$log"
echo "built: libkio.so, examples/kio-copy, examples/timers, bench/kio-bench-nop"

copy=$build/examples/kio-copy
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-showcase.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

step "kio-copy: copying a 24 MiB file of random bytes, then comparing"
head -c $((24 * 1024 * 1024 + 12345)) /dev/urandom > "$tmp/random.bin"
"$copy" "$tmp/random.bin" "$tmp/copy.bin"
if cmp "$tmp/random.bin" "$tmp/copy.bin"; then
  echo "cmp: the copy is identical ($(wc -c < "$tmp/copy.bin") bytes)"
else
  echo "cmp: the copy DIFFERS" >&2
  exit 1
fi

step "kio-copy as cat: printing a small text file to standard output"
cat > "$tmp/hello.txt" <<'TEXT'
Hello from kio.
These lines were read with kio_read() at explicit offsets
and written to standard output with kio_write(), in order.
TEXT
"$copy" "$tmp/hello.txt"

step "kio-copy on a missing file: a clean error and exit status 1"
status=0
"$copy" "$tmp/does-not-exist" "$tmp/out" || status=$?
echo "exit status: $status"
[ "$status" -eq 1 ]

step "Timers: sleep, wall-clock deadline, periodic + cancel, op timeout"
"$build/examples/timers"

step "NOP round trips: kio against plain liburing (quick run)"
if command -v taskset >/dev/null 2>&1; then
  cpu=$(($(nproc) - 1))
  echo "(pinned to CPU $cpu; bench/run.sh does the full run)"
  taskset -c "$cpu" "$build/bench/kio-bench-nop" --quick
else
  "$build/bench/kio-bench-nop" --quick
fi

step "Done"
echo "Sources of what ran: examples/kio-copy.c, examples/timers.c, bench/nop.c"
