#!/bin/sh
# SPDX-License-Identifier: MIT
# The command line of one example program:
#
#   test-usage.sh NAME PROGRAM [BAD...]
#
# - PROGRAM --help prints "usage: NAME ..." on standard output, nothing on
#   standard error, and exits 0 at once: within 10 s and without a
#   "listening on" line (a server that took --help for a port number, as
#   cxx-echo-server once did, would still be serving when the timeout hits);
# - PROGRAM --no-such-option, and each BAD (one argument string, split on
#   blanks: "--port 70000", "--bind nowhere"), print the usage on standard
#   error, nothing on standard output, and exit 2.
#
# PROGRAM may be several words ("python3 kio_demo.py echo"). Exit 0 pass,
# 1 fail.
set -u

name=$1
prog=$2
shift 2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-usage-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $name: $*" >&2
  for f in out err; do
    [ -s "$tmp/$f" ] && sed "s/^/$f: /" "$tmp/$f" >&2
  done
  exit 1
}

# --- --help -------------------------------------------------------------

# Every server here serves until a signal stops it: one that took --help
# for a port (or ignored it) would still be running when the timeout hits.
start=$(date +%s)
# shellcheck disable=SC2086 # $prog may be an interpreter and a script
timeout 10 $prog --help > "$tmp/out" 2> "$tmp/err"
status=$?
secs=$(($(date +%s) - start))
[ $status -eq 124 ] && fail "--help: still running after 10 s (serving instead of printing usage?)"
[ $status -eq 0 ] || fail "--help: exit status $status, expected 0"
grep -q "^usage: $name" "$tmp/out" || fail "--help: no 'usage: $name' on standard output"
[ -s "$tmp/err" ] && fail "--help wrote to standard error"
grep -q 'listening on' "$tmp/out" && fail "--help: the program started listening"
echo "--help: usage on standard output, exit 0 after ${secs} s"

# --- bad options and arguments ------------------------------------------

for bad in --no-such-option "$@"; do
  # shellcheck disable=SC2086 # both are word lists on purpose
  timeout 10 $prog $bad > "$tmp/out" 2> "$tmp/err"
  status=$?
  [ $status -eq 124 ] && fail "'$bad': still running after 10 s"
  [ $status -eq 2 ] || fail "'$bad': exit status $status, expected 2"
  grep -q "usage: $name" "$tmp/err" || fail "'$bad': no 'usage: $name' on standard error"
  [ -s "$tmp/out" ] && fail "'$bad' wrote to standard output"
  echo "'$bad': usage on standard error, exit 2"
done
echo "PASS: $name"
exit 0
