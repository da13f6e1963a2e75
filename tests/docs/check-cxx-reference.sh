#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Compiles every ```cpp block of docs/cxx-reference.md against include/ and
# cxx/, so the C++ reference cannot drift from the headers: each block is
# one translation unit, built as C++20 with warnings as errors (syntax only:
# no library is needed). A block whose first line is
#   // not compiled: <reason>
# is skipped. Also checks that every public header cxx/kio/*.hpp has its
# section (a "## ... kio/<name>.hpp" heading) on the page.
#
# Usage: check-cxx-reference.sh SOURCE_ROOT CXX [CXX ARGS...]

set -u

usage="usage: check-cxx-reference.sh SOURCE_ROOT CXX [CXX ARGS...]"
root=${1:?$usage}
shift
[ $# -gt 0 ] || { echo "$usage" >&2; exit 1; }

doc=$root/docs/cxx-reference.md
[ -f "$doc" ] || { echo "check-cxx-reference: $doc is missing" >&2; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail=0

# Every header has a section.
for h in "$root"/cxx/kio/*.hpp; do
  name=${h##*/}
  if ! grep -q "^## .*kio/$name" "$doc"; then
    echo "check-cxx-reference: cxx/kio/$name has no section (## ... kio/$name) in docs/cxx-reference.md" >&2
    fail=1
  fi
done

# Split the ```cpp blocks into block-N.cpp; block-N.line holds the line of
# the page where block N starts. A fence must start its line.
awk -v dir="$tmp" '
  incode && /^```[ \t]*$/ { incode = 0; close(out); next }
  incode { print > out; next }
  /^```cpp[ \t]*$/ {
    n++
    out = dir "/block-" n ".cpp"
    printf "" > out
    print NR + 1 > (dir "/block-" n ".line")
    close(dir "/block-" n ".line")
    incode = 1
  }
  END {
    if (incode) { print "check-cxx-reference: unterminated ```cpp block" > "/dev/stderr"; exit 1 }
  }' "$doc" || exit 1

count=0
skipped=0
for src in $(ls "$tmp"/block-*.cpp 2>/dev/null | sort -t- -k2 -n); do
  base=${src%.cpp}
  line=$(cat "$base.line")
  if head -n 1 "$src" | grep -q '^[[:space:]]*// not compiled:'; then
    skipped=$((skipped + 1))
    continue
  fi
  count=$((count + 1))
  if ! out=$("$@" -std=c++20 -fsyntax-only -Wall -Wextra -Werror \
    -I"$root/include" -I"$root/cxx" -x c++ "$src" 2>&1); then
    echo "check-cxx-reference: docs/cxx-reference.md:$line: the block does not compile:" >&2
    # Compiler positions "block-N.cpp:L:" become "docs/cxx-reference.md:LINE:".
    printf '%s\n' "$out" | awk -v src="$src" -v first="$line" '
    {
      out = ""
      while ((i = index($0, src ":")) > 0) {
        rest = substr($0, i + length(src) + 1)
        if (match(rest, /^[0-9]+/)) {
          out = out substr($0, 1, i - 1) "docs/cxx-reference.md:" \
            (substr(rest, 1, RLENGTH) + first - 1)
          $0 = substr(rest, RLENGTH + 1)
        } else {
          out = out substr($0, 1, i - 1) "docs/cxx-reference.md:"
          $0 = rest
        }
      }
      gsub(src, "docs/cxx-reference.md")
      print out $0
    }' >&2
    fail=1
  fi
done

if [ "$count" -eq 0 ]; then
  echo "check-cxx-reference: no \`\`\`cpp block found" >&2
  fail=1
fi

if [ "$fail" -ne 0 ]; then
  echo "check-cxx-reference: FAILED" >&2
  exit 1
fi
echo "check-cxx-reference: ok ($count blocks compiled, $skipped skipped)"
