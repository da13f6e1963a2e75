#!/bin/sh
# SPDX-License-Identifier: MIT
# kio-soak's command line: --help prints usage on stdout and exits 0 at
# once (no run); bad options and arguments exit 2 with usage on stderr.
#
#   test-soak-usage.sh PATH/TO/kio-soak
set -u
bin=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-soak-usage.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

timeout 10 "$bin" --help > "$tmp/out" 2> "$tmp/err"
status=$?
[ $status -eq 0 ] || fail "--help: exit $status, expected 0"
grep -q '^usage: soak ' "$tmp/out" || fail "--help: no usage on stdout"
[ -s "$tmp/err" ] && fail "--help wrote to stderr: $(cat "$tmp/err")"

for bad in "--bogus" "--interval" "--interval 0" "--seed" "abc" "10 20" "0"; do
  # shellcheck disable=SC2086
  timeout 10 "$bin" $bad > "$tmp/out" 2> "$tmp/err"
  status=$?
  [ $status -eq 2 ] || fail "'$bad': exit $status, expected 2"
  grep -q '^usage: soak ' "$tmp/err" || fail "'$bad': no usage on stderr"
  [ -s "$tmp/out" ] && fail "'$bad' wrote to stdout: $(cat "$tmp/out")"
done

KIO_SOAK_SECONDS=soon timeout 10 "$bin" > "$tmp/out" 2> "$tmp/err"
status=$?
[ $status -eq 2 ] || fail "KIO_SOAK_SECONDS=soon: exit $status, expected 2"
echo "PASS"
