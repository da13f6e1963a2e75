#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs kio-copy on generated files and checks the result byte for byte.
#
#   test-kio-copy.sh PATH/TO/kio-copy CASE
#
# Exit 0 pass, 1 fail, 77 skip (no io_uring on this machine).
set -u

bin=$1
case_name=$2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-copy-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Random bytes: every offset differs, so a chunk written at the wrong place shows.
make_file() {
  head -c "$2" /dev/urandom > "$1" || fail "cannot create $1"
  [ "$(wc -c < "$1")" -eq "$2" ] || fail "short input file $1"
}

# kio-copy exits 1 for every error, including "no io_uring": tell them apart
# by the message so a machine without io_uring skips instead of failing.
run() {
  "$bin" "$@" 2> "$tmp/stderr"
  status=$?
  cat "$tmp/stderr" >&2
  if grep -q "cannot create a kio context" "$tmp/stderr"; then
    echo "SKIP: io_uring unavailable" >&2
    exit 77
  fi
  return $status
}

copy_and_compare() {
  make_file "$tmp/src" "$1"
  run "$tmp/src" "$tmp/dst" || fail "kio-copy exited $?"
  cmp "$tmp/src" "$tmp/dst" || fail "copy differs from source ($1 bytes)"
  grep -q "^kio-copy: $1 bytes in" "$tmp/stderr" || fail "summary line missing or wrong"
  mode=$(stat -c %a "$tmp/dst")
  # The file is created 0644, then the umask applies.
  expected=$(printf '%o' $((0644 & ~$(umask))))
  [ "$mode" = "$expected" ] || fail "mode $mode, expected $expected"
}

case $case_name in
  copy)
    # 1.5 MiB: twelve 128 KiB chunks, so the 4-buffer window is reused three times.
    copy_and_compare 1572864
    ;;
  copy-odd-size)
    # Ends inside a chunk: the last read is short, then one returns 0.
    copy_and_compare 1576963
    ;;
  copy-empty)
    copy_and_compare 0
    ;;
  overwrite)
    # An existing, longer DST must be truncated, not partly overwritten.
    make_file "$tmp/src" 300000
    make_file "$tmp/dst" 900000
    run -q "$tmp/src" "$tmp/dst" || fail "kio-copy exited $?"
    cmp "$tmp/src" "$tmp/dst" || fail "DST not truncated/overwritten"
    [ ! -s "$tmp/stderr" ] || fail "-q still printed something"
    ;;
  cat-file)
    # Standard output redirected to a file.
    make_file "$tmp/src" 1000000
    run -q "$tmp/src" > "$tmp/out" || fail "kio-copy exited $?"
    cmp "$tmp/src" "$tmp/out" || fail "cat output differs"
    run -q "$tmp/src" - > "$tmp/out2" || fail "kio-copy SRC - exited $?"
    cmp "$tmp/src" "$tmp/out2" || fail "cat output (DST -) differs"
    ;;
  cat-pipe)
    # Standard output is a pipe: writes must stay in order.
    make_file "$tmp/src" 1572864
    { "$bin" -q "$tmp/src" 2> "$tmp/stderr"; echo $? > "$tmp/status"; } | cat > "$tmp/out"
    cat "$tmp/stderr" >&2
    ! grep -q "cannot create a kio context" "$tmp/stderr" || exit 77
    [ "$(cat "$tmp/status")" = 0 ] || fail "kio-copy exited $(cat "$tmp/status")"
    cmp "$tmp/src" "$tmp/out" || fail "output through a pipe differs"
    ;;
  stdin-pipe)
    # SRC "-" from a pipe: no offsets, one buffer, data passed on as it comes.
    # (cat is the point: standard input must be a pipe, not the file.)
    make_file "$tmp/src" 1576963
    # shellcheck disable=SC2002
    cat "$tmp/src" | run -q - "$tmp/dst"
    status=$?
    [ $status -ne 77 ] || exit 77
    [ $status -eq 0 ] || fail "kio-copy - DST exited $status"
    cmp "$tmp/src" "$tmp/dst" || fail "copy from a pipe differs"
    # shellcheck disable=SC2002
    cat "$tmp/src" | run -q - > "$tmp/out" || fail "kio-copy - exited $?"
    cmp "$tmp/src" "$tmp/out" || fail "cat from a pipe differs"
    ;;
  dev-null)
    # A device DST: nothing to fsync, still a success.
    make_file "$tmp/src" 300000
    run "$tmp/src" /dev/null || fail "kio-copy SRC /dev/null exited $?"
    grep -q "^kio-copy: 300000 bytes in" "$tmp/stderr" || fail "summary line missing or wrong"
    ;;
  missing-src)
    run "$tmp/no-such-file" "$tmp/dst"
    status=$?
    [ $status -eq 1 ] || fail "exit status $status, expected 1"
    grep -q "no-such-file: No such file or directory" "$tmp/stderr" || fail "no clear message"
    [ ! -e "$tmp/dst" ] || fail "DST created although SRC is missing"
    ;;
  bad-dst)
    make_file "$tmp/src" 1000
    run "$tmp/src" "$tmp/no-such-dir/dst"
    status=$?
    [ $status -eq 1 ] || fail "exit status $status, expected 1"
    grep -q "dst: No such file or directory" "$tmp/stderr" || fail "no clear message"
    ;;
  usage)
    # No SRC, or one argument too many: a usage error (2), as a bad option
    # is (test-usage.sh checks --help and the options).
    for args in "" "a b c"; do
      # shellcheck disable=SC2086
      "$bin" $args > /dev/null 2> "$tmp/stderr"
      status=$?
      [ $status -eq 2 ] || fail "'$args': exit status $status, expected 2"
      grep -q "^usage: kio-copy" "$tmp/stderr" || fail "'$args': no usage message"
    done
    ;;
  *)
    fail "unknown case $case_name"
    ;;
esac
echo "PASS: $case_name"
