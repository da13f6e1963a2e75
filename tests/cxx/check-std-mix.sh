#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Translation units built with -std=c++20 (kio's own Result<T>) and with
# -std=c++2b (Result<T> = std::expected) must never link together: the same
# kio::Task<int> is a different type in each. The layer lives in an inline
# namespace named after the mode (kio::v0_cxx20, kio::v0_cxx23), so a
# function defined in one mode and declared in the other is an undefined
# symbol. This builds such a pair and checks that the link fails, that the
# same pair in one mode links, and that nm -C shows the two namespaces.
#
#   check-std-mix.sh C_INCLUDE_DIR CXX_INCLUDE_DIR CXX_COMMAND...
set -euo pipefail

[ "$#" -ge 3 ] || { echo "usage: $0 C_INCLUDE_DIR CXX_INCLUDE_DIR CXX..." >&2; exit 2; }
cinc=$1
xinc=$2
shift 2
cxx=("$@")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-cxx-stdmix.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/def.cpp" <<'CPP'
#include <kio/task.hpp>
int Answer(kio::Task<int> *t) { return t != nullptr ? 42 : 0; }
CPP
cat >"$tmp/use.cpp" <<'CPP'
#include <kio/task.hpp>
int Answer(kio::Task<int> *t);
int main() { return Answer(nullptr); }
CPP

build() { # STD SOURCE OBJECT
  "${cxx[@]}" -std="$1" -c -I"$cinc" -I"$xinc" "$2" -o "$3"
}
build c++20 "$tmp/def.cpp" "$tmp/def20.o"
build c++2b "$tmp/def.cpp" "$tmp/def23.o"
build c++20 "$tmp/use.cpp" "$tmp/use20.o"
build c++2b "$tmp/use.cpp" "$tmp/use23.o"

fail=0
nm -C "$tmp/def20.o" | grep -q 'Answer(kio::v0_cxx20::Task<int>\*)' ||
  { echo "FAIL: C++20 symbol not in kio::v0_cxx20"; nm -C "$tmp/def20.o"; fail=1; }
nm -C "$tmp/def23.o" | grep -q 'Answer(kio::v0_cxx23::Task<int>\*)' ||
  { echo "FAIL: C++2b symbol not in kio::v0_cxx23"; nm -C "$tmp/def23.o"; fail=1; }

for pair in "20 20" "23 23"; do
  set -- $pair
  if "${cxx[@]}" "$tmp/use$1.o" "$tmp/def$2.o" -o "$tmp/prog" 2>"$tmp/log"; then
    echo "ok   c++$1 caller + c++$2 definition link"
  else
    echo "FAIL c++$1 caller + c++$2 definition do not link"; cat "$tmp/log"; fail=1
  fi
done
for pair in "20 23" "23 20"; do
  set -- $pair
  if "${cxx[@]}" "$tmp/use$1.o" "$tmp/def$2.o" -o "$tmp/prog" 2>"$tmp/log"; then
    echo "FAIL c++$1 caller + c++$2 definition linked: the modes would mix silently"; fail=1
  elif grep -q "Answer" "$tmp/log"; then
    echo "ok   c++$1 caller + c++$2 definition: link refused ($(grep -o 'undefined reference to.*' "$tmp/log" | head -n 1))"
  else
    echo "FAIL c++$1 caller + c++$2 definition: link failed for another reason"; cat "$tmp/log"; fail=1
  fi
done
exit "$fail"
