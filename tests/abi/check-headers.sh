#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Every public header must compile on its own, first thing in a translation
# unit, as strict C99 and as C++ (C++11, the oldest the headers promise, and
# C++20, what the C++ layer uses). Each header is included twice to prove its
# include guard.
#
#   check-headers.sh INCLUDE_DIR CC_COMMAND... -- CXX_COMMAND... -- HEADER...
#
# CC_COMMAND and CXX_COMMAND are compiler command lines, possibly several
# words (e.g. "ccache gcc"), as meson's cmd_array() gives them.
set -euo pipefail

usage() {
  echo "usage: $0 INCLUDE_DIR CC... -- CXX... -- HEADER..." >&2
  exit 2
}

[ "$#" -ge 6 ] || usage
incdir=$1
shift
cc=()
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do cc+=("$1"); shift; done
[ "$#" -gt 0 ] || usage
shift
cxx=()
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do cxx+=("$1"); shift; done
[ "$#" -gt 0 ] || usage
shift
if [ "${#cc[@]}" -eq 0 ] || [ "${#cxx[@]}" -eq 0 ] || [ "$#" -eq 0 ]; then usage; fi
[ -d "$incdir" ] || { echo "check-headers: no directory $incdir" >&2; exit 2; }

c_flags=(-std=c99 -pedantic -Wall -Wextra -Werror -Wstrict-prototypes -fsyntax-only)
cxx_flags=(-pedantic -Wall -Wextra -Werror -fsyntax-only)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-abi-headers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail=0
checked=0
try() { # LABEL COMMAND...
  local label=$1
  shift
  if "$@" >"$tmp/log" 2>&1; then
    echo "ok   $label"
  else
    echo "FAIL $label"
    echo "     \$ $*"
    sed 's/^/     /' "$tmp/log"
    fail=1
  fi
  checked=$((checked + 1))
}

for h in "$@"; do
  name=$(basename "$h")
  # The installed name is what users write, so include it through the
  # include directory, not by the path given here.
  [ -f "$incdir/kio/$name" ] || { echo "FAIL $name is not under $incdir/kio"; fail=1; continue; }
  stem=${name%.h}
  printf '#include <kio/%s>\n#include <kio/%s>\n' "$name" "$name" >"$tmp/$stem.c"
  cp "$tmp/$stem.c" "$tmp/$stem.cpp"
  try "$name as C99" "${cc[@]}" "${c_flags[@]}" -I "$incdir" "$tmp/$stem.c"
  try "$name as C++11" "${cxx[@]}" -std=c++11 "${cxx_flags[@]}" -I "$incdir" "$tmp/$stem.cpp"
  try "$name as C++20" "${cxx[@]}" -std=c++20 "${cxx_flags[@]}" -I "$incdir" "$tmp/$stem.cpp"
done

echo "check-headers: $checked compilations"
if [ "$fail" -ne 0 ]; then
  echo "check-headers: FAILED"
  exit 1
fi
echo "check-headers: OK"
