#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload "tls": TLS 1.3 over loopback, the client measured: kio_tls (kernel TLS off:
# "kio-c", comparable byte for byte; kernel TLS allowed, kio's default: "kio-c-ktls"), a
# plain blocking OpenSSL loop ("openssl") and Boost.Asio SSL ("asio-ssl"), all against the
# same blocking OpenSSL server (kio-bench-tls-peer, on $BENCH_CLIENT_CPU; the clients on
# $BENCH_SERVER_CPU). A self-signed P-256 certificate is made for the run (openssl req).
#   bulk:      one handshake, then 16 KiB writes: mib_per_s and cpu_ns_per_kib;
#   handshake: connect + full handshake + close, repeated: handshakes_per_s and
#              cpu_us_per_handshake (no resumption: the server issues no tickets).
# Repetitions are the outer loop, the clients alternate inside it (paired ratios).
set -u
. "$BENCH_SRC/bench/lib.sh"

peer=$(bench_prog kio-bench-tls-peer) || exit 0
client=$(bench_prog kio-bench-tls) || exit 0
asio=$(bench_prog kio-bench-tls-asio) || asio=""
if ! bench_have openssl; then
  bench_skip "the openssl command is not installed (it makes the certificate)"
  exit 0
fi
if [ "$BENCH_QUICK" = 1 ]; then secs=0.3; else secs=3; fi

tmp=$(mktemp -d)
peer_pid=""
trap '[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -days 1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1; then
  bench_skip "openssl req could not make a certificate"
  exit 0
fi
# A simple command in the background: $! is the server itself (taskset execs it), so the
# trap stops it.
if bench_have taskset; then
  taskset -c "$BENCH_CLIENT_CPU" "$peer" --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
    >"$tmp/peer.out" 2>"$tmp/peer.err" &
else
  "$peer" --cert "$tmp/cert.pem" --key "$tmp/key.pem" >"$tmp/peer.out" 2>"$tmp/peer.err" &
fi
peer_pid=$!
port=""
i=0
while [ -z "$port" ] && [ "$i" -lt 100 ] && kill -0 "$peer_pid" 2>/dev/null; do
  sleep 0.05
  port=$(awk '$1 == "port" {print $2; exit}' "$tmp/peer.out")
  i=$((i + 1))
done
if [ -z "$port" ]; then
  echo "tls: kio-bench-tls-peer did not start: $(head -c 300 "$tmp/peer.err")" >&2
  exit 1
fi

rc=0
r=0
while [ "$r" -lt "$BENCH_REPS" ]; do
  for mode in bulk handshake; do
    for impl in kio kio-ktls openssl asio; do
      if [ "$impl" = asio ]; then
        [ -n "$asio" ] || continue
        set -- "$asio"
      else
        set -- "$client" --impl "$impl"
      fi
      bench_measured "$@" --port "$port" --mode "$mode" --seconds "$secs" >>"$tmp/lines" ||
        { echo "tls: $impl $mode failed" >&2; rc=1; }
    done
  done
  r=$((r + 1))
done
[ -n "$asio" ] || bench_skip "asio-ssl: kio-bench-tls-asio was not built (Boost.Asio SSL)"
bench_merge "$tmp/lines"
exit $rc
