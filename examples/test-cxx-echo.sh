#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one of the C++ echo servers on a port the kernel picks, drives it
# with echo-client (which checks every echoed byte), then signals it and
# checks how the server ended.
#
#   test-cxx-echo.sh single PATH/TO/cxx-echo-server PATH/TO/echo-client [CASE]
#   test-cxx-echo.sh multicore PATH/TO/multicore-echo PATH/TO/echo-client [CASE]
#
# CASE (the address; every case checks the "listening on" line and
# /proc/net/tcp{,6}):
#   default     --port 0: 127.0.0.1 only, the default
#   positional  the reference program's form, PORT (and WORKERS) as
#               arguments: also 127.0.0.1 only
#   bind        --bind 127.0.0.1
#   bind-v6     --bind ::1, the client on ::1 (skips without IPv6 loopback)
#
# single:    the reference-shaped server has no shutdown path: SIGTERM
#            must kill it (status 143) after it served every echo. (Not
#            SIGINT: sh starts background jobs with SIGINT ignored, and
#            this server does not touch its signals.)
# multicore: SIGINT must make it stop its workers and exit 0, after
#            printing how many connections it served (its SignalSet
#            blocks SIGINT, and a blocked signal is delivered to the
#            signalfd even when the job started with it ignored).
# Exit 0 pass, 1 fail, 77 skip (no io_uring).
set -u

mode=$1
server=$2
client=$3
case_name=${4:-default}

# shellcheck source=echo-test-lib.sh
. "$(dirname "$0")/echo-test-lib.sh"

shown='127\.0\.0\.1'
want_listen=$LISTEN_LO4
host=127.0.0.1
case $case_name in
  default) args="--port 0" ;;
  positional) args=0 ;;
  bind) args="--bind 127.0.0.1 --port 0" ;;
  bind-v6)
    need_ipv6_loopback
    args="--bind ::1 --port 0"
    shown='\[::1\]'
    want_listen=$LISTEN_LO6
    host=::1
    ;;
  *) echo "unknown case $case_name" >&2; exit 1 ;;
esac
# shellcheck disable=SC2086 # $args is several arguments
case $mode in
  single) start_server "$server" $args ;;
  multicore)
    if [ "$case_name" = positional ]; then
      start_server "$server" 0 2
    else
      start_server "$server" $args --workers 2
    fi
    ;;
  *) echo "unknown mode $mode" >&2; exit 1 ;;
esac
wait_port "^.* listening on $shown:\\([0-9][0-9]*\\)\$"
[ "$port" -gt 0 ] || fail "port 0 printed"
expect_listen "$port" "$want_listen"

# 8 connections x 100 messages x 1000 bytes, every byte checked.
"$client" --host "$host" --port "$port" --conns 8 --msgs 100 --size 1000 \
  > "$tmp/client.out" 2> "$tmp/client.err"
status=$?
cat "$tmp/client.out"
[ $status -eq 77 ] && { cat "$tmp/client.err" >&2; exit 77; }
[ $status -eq 0 ] || { cat "$tmp/client.err" >&2; fail "echo-client exited $status"; }
grep -q ": 800 of 800 echoes verified" "$tmp/client.out" || fail "client summary wrong"

# At most 10 s to end.
case $mode in
  single) stop_server TERM 10 ;;
  multicore) stop_server INT 10 ;;
esac

case $mode in
  single)
    [ $status -eq 143 ] || fail "expected death by SIGTERM (143), got $status"
    ;;
  multicore)
    [ $status -eq 0 ] || fail "exit status $status after SIGINT"
    grep -q "^multicore-echo: 2 workers listening on $shown:$port\$" "$tmp/server.out" ||
      fail "listening line wrong"
    grep -q "^multicore-echo: signal 2, stopping\$" "$tmp/server.out" || fail "no signal line"
    grep -q "^multicore-echo: served 8 connections, 800000 bytes\$" "$tmp/server.out" ||
      fail "summary wrong"
    ;;
esac
cat "$tmp/server.out"
exit 0
