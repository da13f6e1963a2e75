# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# Sourced by test-echo.sh and test-cxx-echo.sh: a scratch directory, a
# server started in the background on a port the kernel picks, the wait
# for its "listening" line, and a bounded stop by signal. The scripts keep
# their own client runs and their own checks of how the server ended.
#
# After sourcing: $tmp is a fresh directory (removed at exit, together
# with a server still running). The server writes $tmp/server.out and
# $tmp/server.err.

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-echo-test.XXXXXX") || exit 1
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [ -f "$tmp/server.out" ] && sed 's/^/server out: /' "$tmp/server.out" >&2
  [ -f "$tmp/server.err" ] && sed 's/^/server err: /' "$tmp/server.err" >&2
  exit 1
}

# start_server COMMAND...: runs it in the background, $pid is its pid.
start_server() {
  : > "$tmp/server.out"
  "$@" > "$tmp/server.out" 2> "$tmp/server.err" &
  pid=$!
}

# wait_port SED_PATTERN: waits (at most 10 s) for the line of server.out
# from which the pattern's \1 takes the port, and sets $port. A server that
# exits first fails the test, or skips it when it exited 77.
wait_port() {
  port=
  i=0
  while [ $i -lt 200 ]; do
    port=$(sed -n "s/$1/\\1/p" "$tmp/server.out")
    [ -n "$port" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      status=$?
      pid=
      [ $status -eq 77 ] && { cat "$tmp/server.err" >&2; exit 77; }
      fail "server exited with $status before listening"
    fi
    sleep 0.05
    i=$((i + 1))
  done
  [ -n "$port" ] || fail "server did not print its port"
}

# stop_server SIGNAL SECONDS: signals the server, gives it SECONDS to end
# and sets $status to its exit status.
stop_server() {
  kill -"$1" "$pid" || fail "cannot signal the server"
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt $(($2 * 20)) ]; do
    sleep 0.05
    i=$((i + 1))
  done
  kill -0 "$pid" 2>/dev/null && fail "server still running $2 s after SIG$1"
  wait "$pid"
  status=$?
  pid=
}
