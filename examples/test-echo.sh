#!/bin/sh
# SPDX-License-Identifier: MIT
# Starts echo-server on a port the kernel picks, runs echo-client against
# it, stops the server with SIGINT and checks that it stopped cleanly.
# Every case also checks where the server listens: its "listening on" line
# and /proc/net/tcp{,6} (without --bind: 127.0.0.1 and nothing else).
#
#   test-echo.sh PATH/TO/echo-server PATH/TO/echo-client CASE
#
# CASE: basic, many, large, starved, refused (client runs against the
# default server); default-loopback (the default address, checked alone);
# bind (--bind 127.0.0.1); bind-v6 (--bind ::1, the client on ::1; skips
# without IPv6 loopback).
#
# Exit 0 pass, 1 fail, 77 skip (no io_uring, or no buffer rings).
set -u

server=$1
client=$2
case_name=$3

# shellcheck source=echo-test-lib.sh
. "$(dirname "$0")/echo-test-lib.sh"

# Server options per case: a small ring makes receives run dry (-ENOBUFS)
# and start again; --bind picks the address (127.0.0.1 without it).
server_opts=
shown='127\.0\.0\.1'
want_listen=$LISTEN_LO4
host=127.0.0.1
case $case_name in
  starved) server_opts="--bufs 4 --size 512" ;;
  bind) server_opts="--bind 127.0.0.1" ;;
  bind-v6)
    need_ipv6_loopback
    server_opts="--bind ::1"
    shown='\[::1\]'
    want_listen=$LISTEN_LO6
    host=::1
    ;;
esac

# shellcheck disable=SC2086
start_server "$server" --port 0 $server_opts
wait_port "^echo-server: listening on $shown:\\([0-9][0-9]*\\)\$"
expect_listen "$port" "$want_listen"

run_client() {
  "$client" --host "$host" --port "$port" "$@" > "$tmp/client.out" 2> "$tmp/client.err"
  status=$?
  cat "$tmp/client.out"
  cat "$tmp/client.err" >&2
  return $status
}

case $case_name in
  basic)
    run_client --conns 4 --msgs 50 --size 100 || fail "client exited $?"
    grep -q "^echo-client: 4 connections x 50 messages x 100 bytes: 200 of 200 echoes verified" \
      "$tmp/client.out" || fail "client summary missing or wrong"
    ;;
  many)
    run_client --conns 100 --msgs 20 --size 1000 || fail "client exited $?"
    grep -q ": 2000 of 2000 echoes verified" "$tmp/client.out" || fail "client summary wrong"
    ;;
  large)
    # Messages far larger than a buffer: many buffers per message, short
    # sends on both sides.
    run_client --conns 3 --msgs 4 --size 1000000 || fail "client exited $?"
    grep -q ": 12 of 12 echoes verified" "$tmp/client.out" || fail "client summary wrong"
    ;;
  starved)
    run_client --conns 8 --msgs 10 --size 20000 || fail "client exited $?"
    grep -q ": 80 of 80 echoes verified" "$tmp/client.out" || fail "client summary wrong"
    ;;
  default-loopback)
    # Only the address: the wait above read the line, expect_listen the socket.
    echo "listening on 127.0.0.1:$port only"
    ;;
  bind | bind-v6)
    run_client --conns 4 --msgs 20 --size 3000 || fail "client exited $?"
    grep -q ": 80 of 80 echoes verified" "$tmp/client.out" || fail "client summary wrong"
    ;;
  refused)
    # Nobody listens on port 1: the client must say so and fail.
    "$client" --port 1 --conns 2 --msgs 1 > "$tmp/client.out" 2> "$tmp/client.err"
    status=$?
    cat "$tmp/client.err" >&2
    [ $status -eq 1 ] || fail "client exited $status, expected 1"
    grep -q "connect: Connection refused" "$tmp/client.err" || fail "no clear message"
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac

# A clean stop on SIGINT, also with a connection still open and idle.
"$client" --host "$host" --port "$port" --conns 1 --msgs 1000000 --size 10 --timeout-ms 60000 \
  > /dev/null 2>&1 &
idle=$!
sleep 0.2
stop_server INT 5
kill "$idle" 2>/dev/null
wait "$idle" 2>/dev/null
[ $status -eq 0 ] || fail "server exited with $status after SIGINT"
grep -q "^echo-server: Interrupt, stopping$" "$tmp/server.out" || fail "server did not report the signal"
grep -q "^echo-server: stopped after [0-9]* connections, [0-9]* bytes echoed, [0-9]* receives restarted after -ENOBUFS$" \
  "$tmp/server.out" || fail "server summary missing"
if [ "$case_name" = starved ]; then
  # The small ring must have run dry, and the receives gone on.
  grep -q "echoed, 0 receives restarted" "$tmp/server.out" && fail "the ring never ran dry"
fi
cat "$tmp/server.out"
echo "PASS: $case_name"
