# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# Sourced by test-echo.sh, test-cxx-echo.sh and test-tls.sh: a scratch
# directory, a server started in the background on a port the kernel picks,
# the wait for its "listening" line, a check of the addresses it listens on,
# and a bounded stop by signal. The scripts keep their own client runs and
# their own checks of how the server ended.
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

# The addresses as /proc/net/tcp and /proc/net/tcp6 spell them (hex, in the
# kernel's byte order), for the scripts that source this one.
# shellcheck disable=SC2034
LISTEN_LO4=tcp:0100007F
# shellcheck disable=SC2034
LISTEN_LO6=tcp6:00000000000000000000000001000000

# listen_addrs PORT: the local addresses of the sockets of this network
# namespace listening on TCP port PORT, one per line as tcp:HEX or
# tcp6:HEX, sorted, repeats (SO_REUSEPORT) once.
listen_addrs() {
  hex=$(printf '%04X' "$1")
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    awk -v port="$hex" -v fam="${f##*/}" \
      'NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == port) print fam ":" a[1] }' "$f"
  done | sort -u
}

# expect_listen PORT WANT: the server listens on PORT at WANT
# ($LISTEN_LO4...) and on no other address.
expect_listen() {
  got=$(listen_addrs "$1")
  [ "$got" = "$2" ] ||
    fail "port $1: listening on '$(echo "$got" | tr '\n' ' ')', expected '$2' only"
}

# need_ipv6_loopback: skips (77) where lo has no ::1.
need_ipv6_loopback() {
  grep -q '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6 2>/dev/null ||
    { echo "SKIP: no IPv6 loopback (::1) here"; exit 77; }
}
