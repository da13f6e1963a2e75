#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds kio and shows it doing real work: a verified file copy, a cat, the
# timers demo, a TCP echo server and client (also where io_uring is blocked,
# on the epoll backend), the C++ coroutine examples, a
# TLS echo server and client, the Python bindings under asyncio, and a short
# NOP benchmark against plain liburing.
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
  # The test suites build when CMocka and Criterion are there (tests=auto),
  # so this directory also serves `meson test` later.
  echo "meson setup $build (gcc)"
  quietly env CC=gcc CXX=g++ meson setup "$build" -Dexamples=enabled -Dbench=enabled
else
  echo "reusing the existing $build/"
fi
echo "ninja -C $build"
quietly ninja -C "$build"
if [ ! -f "$build/examples/echo-server" ] || [ ! -f "$build/bench/kio-bench-nop" ]; then
  # An earlier configuration of this directory left these parts out.
  echo "meson configure $build -Dexamples=enabled -Dbench=enabled"
  quietly meson configure "$build" -Dexamples=enabled -Dbench=enabled
  quietly ninja -C "$build"
fi
rm -f "$log"
echo "built: libkio.so, examples/kio-copy, examples/timers, examples/echo-server, examples/echo-client, bench/kio-bench-nop"

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

# Starts SERVER (told to use port 0; every server listens on 127.0.0.1
# unless given --bind ADDR) in the background, waits for the line
# "NAME: ... listening on ADDR:PORT" it prints, and sets $server_pid, $port.
start_server() { # NAME OUTFILE SERVER [ARG...]
  name=$1 out=$2
  shift 2
  : > "$out"
  "$@" > "$out" 2>&1 &
  server_pid=$!
  port=
  i=0
  while [ $i -lt 200 ] && [ -z "$port" ]; do
    port=$(sed -n "s/^$name: .*listening on .*:\([0-9][0-9]*\)\$/\1/p" "$out" | head -n 1)
    [ -n "$port" ] || sleep 0.05
    i=$((i + 1))
  done
  if [ -z "$port" ]; then
    cat "$out" >&2
    echo "showcase: $name did not start" >&2
    exit 1
  fi
  sed 's/^/  /' "$out"
  shown=$(wc -l < "$out")
}

# Sends SIGINT to $server_pid, waits for it and shows what it printed.
stop_server() { # OUTFILE
  kill -INT "$server_pid"
  status=0
  wait "$server_pid" || status=$?
  tail -n +$((shown + 1)) "$1" | sed 's/^/  /'
  echo "  server exit status: $status"
  [ "$status" -eq 0 ]
}

step "Echo over TCP: echo-server (multishot accept + multishot recv into a buffer ring)"
start_server echo-server "$tmp/echo-server.out" "$build/examples/echo-server" --port 0
"$build/examples/echo-client" --port "$port" --conns 16 --msgs 200 --size 4096
"$build/examples/echo-client" --port "$port" --conns 2 --msgs 4 --size 1000000
stop_server "$tmp/echo-server.out"

# The same server where io_uring is refused. kio-no-uring (built with the
# tests) installs the seccomp filter a container runtime would; without it,
# KIO_BACKEND=epoll picks the epoll backend by hand.
no_uring=$build/tests/backend/kio-no-uring
if [ -x "$no_uring" ]; then
  step "Echo where io_uring is blocked: the same echo-server under a seccomp filter (as in Docker)"
  start_server echo-server "$tmp/echo-epoll.out" \
    env -u KIO_BACKEND KIO_LOG_LEVEL=info "$no_uring" --errno EPERM "$build/examples/echo-server" --port 0
else
  step "Echo on the epoll backend (KIO_BACKEND=epoll): the same echo-server, unchanged"
  start_server echo-server "$tmp/echo-epoll.out" \
    env KIO_BACKEND=epoll "$build/examples/echo-server" --port 0
fi
"$build/examples/echo-client" --port "$port" --conns 16 --msgs 200 --size 4096
"$build/examples/echo-client" --port "$port" --conns 2 --msgs 4 --size 1000000
stop_server "$tmp/echo-epoll.out"

if [ -x "$build/examples/multicore-echo" ]; then
  step "C++20 coroutines: the reference-style echo server, one coroutine per connection"
  start_server cxx-echo-server "$tmp/cxx-echo.out" "$build/examples/cxx-echo-server" --port 0
  "$build/examples/echo-client" --port "$port" --conns 8 --msgs 100 --size 1000
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  echo "  (stopped with SIGTERM: like the reference program it has no shutdown path)"

  step "C++20: one Worker per core, SO_REUSEPORT, SIGINT/SIGTERM through a SignalSet"
  start_server multicore-echo "$tmp/multicore.out" "$build/examples/multicore-echo" --port 0
  "$build/examples/echo-client" --port "$port" --conns 16 --msgs 100 --size 4096
  stop_server "$tmp/multicore.out"

  step "C++20: kio-cp, a reader and a writer coroutine joined by channels"
  "$build/examples/kio-cp" "$tmp/random.bin" "$tmp/copy-cxx.bin"
  cmp "$tmp/random.bin" "$tmp/copy-cxx.bin" && echo "cmp: the C++ copy is identical"
fi

if [ -x "$build/examples/kio-tls-echo" ] && command -v openssl >/dev/null 2>&1; then
  step "TLS: kio-tls-echo (C++, tls::Stream) and kio-tls-get (C), throw-away certificates"
  pki=$tmp/pki
  mkdir "$pki"
  ossl() { # openssl's chatter goes to a log, shown if it fails
    openssl "$@" 2>> "$pki/openssl.log" ||
      { cat "$pki/openssl.log" >&2; echo "showcase: openssl $1 failed" >&2; exit 1; }
  }
  ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
  # shellcheck disable=SC2086 # $ec is several options
  ossl req -x509 $ec -days 1 -subj /CN=kio-showcase-ca -keyout "$pki/ca.key" -out "$pki/ca.pem"
  # shellcheck disable=SC2086
  ossl req $ec -subj /CN=localhost -keyout "$pki/server.key" -out "$pki/server.csr"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$pki/leaf.ext"
  ossl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 1 -extfile "$pki/leaf.ext" -out "$pki/server.pem"
  echo "openssl req: a CA, and a certificate it signed for localhost"
  start_server kio-tls-echo "$tmp/tls-echo.out" "$build/examples/kio-tls-echo" \
    --port 0 --cert "$pki/server.pem" --key "$pki/server.key"
  reply=$("$build/examples/kio-tls-get" --ca "$pki/ca.pem" --host localhost --port "$port" \
    --line "hello over TLS")
  echo "reply: $reply"
  [ "$reply" = "hello over TLS" ] || { echo "showcase: wrong TLS reply" >&2; exit 1; }
  echo "Now a name the certificate does not carry: the client must refuse it."
  status=0
  "$build/examples/kio-tls-get" --ca "$pki/ca.pem" --host wrong.example --port "$port" ||
    status=$?
  echo "exit status: $status"
  [ "$status" -eq 1 ]
  stop_server "$tmp/tls-echo.out"
fi

if command -v python3 >/dev/null 2>&1; then
  step "Python: the same libkio.so driven from asyncio through ctypes"
  KIO_LIBRARY="$build/lib/libkio.so.0" PYTHONPATH=bindings/python \
    python3 examples/python/kio_demo.py copy "$tmp/random.bin" "$tmp/copy-py.bin"
  cmp "$tmp/random.bin" "$tmp/copy-py.bin" && echo "cmp: the Python copy is identical"
  KIO_LIBRARY="$build/lib/libkio.so.0" PYTHONPATH=bindings/python \
    python3 examples/python/kio_demo.py echo --port 0 --once
fi

step "NOP round trips: kio against plain liburing (quick run)"
if command -v taskset >/dev/null 2>&1; then
  cpu=$(($(nproc) - 1))
  echo "(pinned to CPU $cpu; bench/run.sh does the full run)"
  taskset -c "$cpu" "$build/bench/kio-bench-nop" --quick
else
  "$build/bench/kio-bench-nop" --quick
fi

step "Done"
echo "Sources of what ran: examples/kio-copy.c, examples/timers.c, examples/echo-server.c,"
echo "examples/echo-client.c, examples/cxx-echo-server.cpp, examples/multicore-echo.cpp,"
echo "examples/kio-cp.cpp, examples/kio-tls-echo.cpp, examples/kio-tls-get.c,"
echo "examples/python/kio_demo.py, bench/nop.c"
