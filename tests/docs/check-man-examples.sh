#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Compiles the EXAMPLE of every man page under man/ against include/, so the
# code users copy from the pages stays correct as the headers change.
# The code is taken from the .EX/.EE blocks of the EXAMPLE section, roff
# escapes undone; each page's blocks together must form one translation
# unit, built as strict C11 with warnings as errors (syntax only: no library
# is needed).
#
# Usage: check-man-examples.sh SOURCE_ROOT CC [CC ARGS...]

set -u

root=${1:?usage: check-man-examples.sh SOURCE_ROOT CC [CC ARGS...]}
shift
[ $# -gt 0 ] || { echo "usage: check-man-examples.sh SOURCE_ROOT CC [CC ARGS...]" >&2; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail=0
count=0
for f in $(find "$root/man" -type f -name '*.[1-9]' | LC_ALL=C sort); do
  # Alias pages hold no example.
  grep -v '^\.\\"' "$f" | grep -q '^\.so ' && continue
  rel=${f#"$root"/}
  base=${f##*/}
  src=$tmp/${base%.*}.c
  awk '
  /^\.SH/ { insec = ($0 ~ /^\.SH[ \t]+"?EXAMPLES?"?[ \t]*$/); next }
  insec && /^\.EX/ { incode = 1; next }
  insec && /^\.EE/ { incode = 0; next }
  insec && incode {
    if ($0 ~ /^\./) next
    line = $0
    gsub(/\\\(aq/, "\047", line); gsub(/\\\(dq/, "\"", line)
    gsub(/\\-/, "-", line); gsub(/\\&/, "", line)
    gsub(/\\e/, "\\", line)
    print line
  }' "$f" >"$src"
  if [ ! -s "$src" ]; then
    echo "check-man-examples: $rel: no code in EXAMPLE (.EX/.EE)" >&2
    fail=1
    continue
  fi
  count=$((count + 1))
  if ! out=$("$@" -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only \
    -I"$root/include" "$src" 2>&1); then
    echo "check-man-examples: $rel: the example does not compile:" >&2
    printf '%s\n' "$out" >&2
    fail=1
  fi
done

if [ "$fail" -ne 0 ]; then
  echo "check-man-examples: FAILED" >&2
  exit 1
fi
echo "check-man-examples: ok ($count examples)"
