#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs kio-cp (the C++ coroutine copy) on generated files and compares the
# copy byte for byte.
#
#   test-kio-cp.sh PATH/TO/kio-cp CASE
#
# Exit 0 pass, 1 fail, 77 skip (no io_uring).
set -u

bin=$1
case_name=$2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-cp-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

run() {
  "$bin" "$@" 2> "$tmp/stderr"
  status=$?
  cat "$tmp/stderr" >&2
  [ $status -eq 77 ] && { echo "SKIP: io_uring unavailable" >&2; exit 77; }
  return $status
}

copy_and_compare() {
  head -c "$1" /dev/urandom > "$tmp/src" || fail "cannot create the source"
  run "$tmp/src" "$tmp/dst" || fail "kio-cp exited $?"
  cmp "$tmp/src" "$tmp/dst" || fail "copy differs from source ($1 bytes)"
  grep -q "^kio-cp: $1 bytes in [0-9]* ms\$" "$tmp/stderr" || fail "summary line wrong"
}

case $case_name in
  copy)
    # 3 MiB + 5 bytes: 25 chunks of 128 KiB, the buffers go round six times,
    # and the last read is short.
    copy_and_compare 3145733
    ;;
  empty)
    copy_and_compare 0
    ;;
  pipe)
    # SRC is a pipe: no size, no offsets; the file position does it.
    head -c 1000000 /dev/urandom > "$tmp/src"
    cat "$tmp/src" | run /dev/stdin "$tmp/dst" || fail "kio-cp exited $?"
    cmp "$tmp/src" "$tmp/dst" || fail "copy from a pipe differs"
    ;;
  overwrite)
    head -c 5000 /dev/urandom > "$tmp/dst"
    copy_and_compare 1234
    ;;
  missing)
    run "$tmp/nope" "$tmp/dst" && fail "a missing SRC must fail"
    grep -q "No such file or directory" "$tmp/stderr" || fail "error not reported"
    [ ! -e "$tmp/dst" ] || fail "DST created although SRC is missing"
    ;;
  *)
    echo "unknown case $case_name" >&2
    exit 1
    ;;
esac
exit 0
