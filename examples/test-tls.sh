#!/bin/sh
# SPDX-License-Identifier: MIT
# TLS between the examples and OpenSSL's own tools, over loopback, with
# throw-away certificates made by `openssl req` in a scratch directory: a
# CA, a server certificate it signs (for localhost and 127.0.0.1) and a
# self-signed one.
#
#   test-tls.sh CASE PATH/TO/kio-tls-echo PATH/TO/kio-tls-get PATH/TO/openssl
#
# echo:        kio-tls-get against kio-tls-echo: the reply is the line sent,
#              byte for byte; the server logs the handshake, the echo and
#              the close_notify, and exits 0 on SIGINT.
# s_server:    kio-tls-get against `openssl s_server -rev`: the reply is
#              the line reversed.
# s_client:    `openssl s_client` (verifying, TLS 1.3 and then TLS 1.2)
#              against kio-tls-echo gets its line back.
# wrong-host:  kio-tls-get refuses a valid certificate that names another
#              host (Key was rejected, with OpenSSL's reason).
# self-signed: kio-tls-get refuses a self-signed certificate, with the
#              system's CAs and with the test CA.
# insecure:    with --insecure, kio-tls-get talks to that same server.
# bind:        kio-tls-echo --bind 127.0.0.1, kio-tls-get --connect 127.0.0.1.
# bind-v6:     kio-tls-echo --bind ::1, kio-tls-get --connect ::1 (skips
#              without IPv6 loopback).
# Every kio-tls-echo run also checks where it listens: its "listening on"
# line and /proc/net/tcp{,6} (without --bind: 127.0.0.1 and nothing else).
# Exit 0 pass, 1 fail, 77 skip (no io_uring).
set -u

case=$1
echo_server=$2
get=$3
openssl=$4

# shellcheck source=echo-test-lib.sh
. "$(dirname "$0")/echo-test-lib.sh"

# Certificates valid for two days, EC P-256 keys.
make_certs() {
  d=$tmp/pki
  mkdir "$d" || fail "mkdir"
  "$openssl" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=kio-test-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2> "$d/log" ||
    { cat "$d/log" >&2; fail "openssl req (CA)"; }
  "$openssl" req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=localhost -keyout "$d/server.key" -out "$d/server.csr" 2> "$d/log" ||
    { cat "$d/log" >&2; fail "openssl req (server)"; }
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$d/leaf.ext"
  "$openssl" x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
    -CAcreateserial -days 2 -extfile "$d/leaf.ext" -out "$d/server.pem" 2> "$d/log" ||
    { cat "$d/log" >&2; fail "openssl x509 (server)"; }
  "$openssl" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$d/self.key" -out "$d/self.pem" 2> "$d/log" ||
    { cat "$d/log" >&2; fail "openssl req (self-signed)"; }
}

# start_echo CERT KEY [--bind ADDR]: kio-tls-echo on a port the kernel
# picks, listening on 127.0.0.1 only, or on ADDR (127.0.0.1 or ::1) only.
start_echo() {
  start_server "$echo_server" --port 0 --cert "$1" --key "$2" ${3:+"$3" "$4"}
  case ${4:-127.0.0.1} in
    ::1) shown='\[::1\]' want_listen=$LISTEN_LO6 ;;
    *) shown='127\.0\.0\.1' want_listen=$LISTEN_LO4 ;;
  esac
  wait_port "^kio-tls-echo: listening on $shown:\\([0-9][0-9]*\\)\$"
  expect_listen "$port" "$want_listen"
}

# stop_echo: SIGINT, a clean exit within 10 s and the closing lines.
stop_echo() {
  stop_server INT 10
  [ "$status" -eq 0 ] || fail "kio-tls-echo exited $status after SIGINT"
  grep -q '^kio-tls-echo: signal 2, stopping$' "$tmp/server.out" || fail "no signal line"
}

# get ARGS...: runs kio-tls-get, $get_status its status; stdout in
# $tmp/get.out, stderr in $tmp/get.err.
get() {
  "$get" "$@" > "$tmp/get.out" 2> "$tmp/get.err"
  get_status=$?
  cat "$tmp/get.err"
  [ "$get_status" -eq 77 ] && exit 77
}

# expect_reply TEXT: kio-tls-get succeeded and printed exactly TEXT and a newline.
expect_reply() {
  [ "$get_status" -eq 0 ] || fail "kio-tls-get exited $get_status"
  printf '%s\n' "$1" > "$tmp/want"
  cmp "$tmp/want" "$tmp/get.out" || fail "reply differs: $(cat "$tmp/get.out")"
}

# expect_rejected: kio-tls-get failed the handshake on verification.
expect_rejected() {
  [ "$get_status" -eq 1 ] || fail "kio-tls-get exited $get_status, expected 1"
  [ -s "$tmp/get.out" ] && fail "kio-tls-get printed a reply: $(cat "$tmp/get.out")"
  grep -q '^kio-tls-get: handshake: Key was rejected by service (.*verif' "$tmp/get.err" ||
    fail "not a verification failure"
}

make_certs
pki=$tmp/pki
line="hello over TLS: 0123456789 !\"#\$%&'()*+,-./:;<=>?@[\\]^_\`{|}~"

case $case in
echo)
  start_echo "$pki/server.pem" "$pki/server.key"
  get --ca "$pki/ca.pem" --host localhost --port "$port" --line "$line"
  expect_reply "$line"
  grep -q '^kio-tls-get: handshake done: TLS 1\.3, server verified, ' "$tmp/get.err" ||
    fail "handshake line"
  # The IP address in the certificate works as the name too.
  get --ca "$pki/ca.pem" --host 127.0.0.1 --port "$port" --line "by address"
  expect_reply "by address"
  stop_echo
  n=$((${#line} + 1))
  grep -q '^kio-tls-echo: #1 from 127\.0\.0\.1:[0-9]*: handshake done, TLS 1\.3, ' \
    "$tmp/server.out" || fail "server handshake line"
  grep -q "^kio-tls-echo: #1: echoed $n bytes\$" "$tmp/server.out" || fail "server echo line"
  grep -q "^kio-tls-echo: #1: closed by close_notify, $n bytes in all\$" "$tmp/server.out" ||
    fail "server close line"
  grep -q "^kio-tls-echo: served 2 connections, $((n + 11)) bytes\$" "$tmp/server.out" ||
    fail "server summary"
  ;;
s_server)
  start_server "$openssl" s_server -accept 127.0.0.1:0 -cert "$pki/server.pem" \
    -key "$pki/server.key" -rev -naccept 1
  wait_port '^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$'
  get --ca "$pki/ca.pem" --host localhost --port "$port" --line "hello kio"
  expect_reply "oik olleh"
  # -naccept 1: it ends by itself after this connection.
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  kill -0 "$pid" 2>/dev/null && fail "s_server still running after its connection"
  wait "$pid"
  status=$?
  pid=
  [ "$status" -eq 0 ] || fail "s_server exited $status"
  ;;
s_client)
  start_echo "$pki/server.pem" "$pki/server.key"
  for v in -tls1_3 -tls1_2; do
    # s_client's input stays open (fd 3 on a fifo) until the echo is back;
    # closing it then makes s_client send close_notify and exit.
    rm -f "$tmp/in"
    mkfifo "$tmp/in" || fail "mkfifo"
    "$openssl" s_client -connect "127.0.0.1:$port" -CAfile "$pki/ca.pem" \
      -verify_hostname localhost -verify_return_error -brief $v \
      < "$tmp/in" > "$tmp/sc.out" 2> "$tmp/sc.err" &
    sc=$!
    exec 3> "$tmp/in"
    printf 'ping %s\n' "$v" >&3
    i=0
    while [ $i -lt 200 ] && ! grep -q "^ping $v\$" "$tmp/sc.out"; do
      kill -0 $sc 2>/dev/null || break
      sleep 0.05
      i=$((i + 1))
    done
    exec 3>&-
    wait $sc
    sc_status=$?
    sed 's/^/s_client: /' "$tmp/sc.err"
    [ $sc_status -eq 0 ] || fail "s_client $v exited $sc_status"
    grep -q "^ping $v\$" "$tmp/sc.out" || fail "s_client $v got no echo"
    grep -q '^Verification: OK$' "$tmp/sc.err" || fail "s_client $v did not verify"
  done
  stop_echo
  grep -q '^kio-tls-echo: #1 from .*: handshake done, TLS 1\.3, ' "$tmp/server.out" ||
    fail "TLS 1.3 handshake line"
  grep -q '^kio-tls-echo: #2 from .*: handshake done, TLS 1\.2, ' "$tmp/server.out" ||
    fail "TLS 1.2 handshake line"
  grep -q '^kio-tls-echo: #2: closed by close_notify, 13 bytes in all$' "$tmp/server.out" ||
    fail "s_client's close_notify not seen"
  ;;
wrong-host)
  start_echo "$pki/server.pem" "$pki/server.key"
  get --ca "$pki/ca.pem" --host not-localhost.example --port "$port"
  expect_rejected
  stop_echo
  grep -q '^kio-tls-echo: #1 from .*: handshake failed: ' "$tmp/server.out" ||
    fail "the server did not see the handshake fail"
  ;;
self-signed)
  start_echo "$pki/self.pem" "$pki/self.key"
  get --host localhost --port "$port"
  expect_rejected
  get --ca "$pki/ca.pem" --host localhost --port "$port"
  expect_rejected
  stop_echo
  ;;
insecure)
  start_echo "$pki/self.pem" "$pki/self.key"
  get --insecure --host localhost --port "$port" --line "$line"
  expect_reply "$line"
  grep -q '^kio-tls-get: handshake done: TLS 1\.3, server NOT verified (--insecure), ' \
    "$tmp/get.err" || fail "handshake line"
  stop_echo
  ;;
bind | bind-v6)
  addr=127.0.0.1
  shown_get='127\.0\.0\.1'
  if [ "$case" = bind-v6 ]; then
    need_ipv6_loopback
    addr=::1
    shown_get='\[::1\]'
  fi
  start_echo "$pki/server.pem" "$pki/server.key" --bind "$addr"
  # The certificate names localhost: the name checked is not the address.
  get --ca "$pki/ca.pem" --host localhost --connect "$addr" --port "$port" --line "$line"
  expect_reply "$line"
  grep -q "^kio-tls-get: connected to $shown_get:$port\$" "$tmp/get.err" ||
    fail "kio-tls-get did not connect to $addr"
  stop_echo
  grep -q "^kio-tls-echo: #1 from $shown_get:[0-9]*: handshake done, TLS 1\.3, " \
    "$tmp/server.out" || fail "server handshake line"
  ;;
*)
  echo "unknown case $case" >&2
  exit 1
  ;;
esac
cat "$tmp/server.out"
exit 0
