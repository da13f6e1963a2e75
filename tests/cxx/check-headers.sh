#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Every header of the C++ layer compiles on its own, first in a translation
# unit and included twice (include guard), as C++20 and as C++2b, with
# -Wall -Wextra -pedantic -Werror; the core headers also with
# -fno-exceptions.
#
#   check-headers.sh C_INCLUDE_DIR CXX_INCLUDE_DIR CXX_COMMAND...
set -euo pipefail

[ "$#" -ge 3 ] || { echo "usage: $0 C_INCLUDE_DIR CXX_INCLUDE_DIR CXX..." >&2; exit 2; }
cinc=$1
xinc=$2
shift 2
cxx=("$@")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-cxx-headers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail=0
checked=0
cd "$xinc"
for h in kio/*.hpp kio/detail/*.hpp; do
  printf '#include <%s>\n#include <%s>\nint main(void) { return 0; }\n' "$h" "$h" >"$tmp/t.cpp"
  for std in c++20 c++2b; do
    if "${cxx[@]}" -std=$std -pedantic -Wall -Wextra -Werror -fsyntax-only \
      -I"$cinc" -I"$xinc" "$tmp/t.cpp" >"$tmp/log" 2>&1; then
      echo "ok   $h ($std)"
    else
      echo "FAIL $h ($std)"
      sed 's/^/     /' "$tmp/log" | head -40
      fail=1
    fi
    checked=$((checked + 1))
  done
done
# The core needs no exceptions: it builds with -fno-exceptions too (the
# few throws become a message and abort()).
core="kio/result.hpp kio/task.hpp kio/io_context.hpp kio/file.hpp kio/time.hpp kio/poll.hpp
kio/net_ops.hpp kio/task_group.hpp kio/notifier.hpp kio/offload.hpp kio/signal.hpp"
for h in $core; do
  printf '#include <%s>\nint main(void) { return 0; }\n' "$h" >"$tmp/t.cpp"
  if "${cxx[@]}" -std=c++20 -fno-exceptions -pedantic -Wall -Wextra -Werror -fsyntax-only \
    -I"$cinc" -I"$xinc" "$tmp/t.cpp" >"$tmp/log" 2>&1; then
    echo "ok   $h (-fno-exceptions)"
  else
    echo "FAIL $h (-fno-exceptions)"
    sed 's/^/     /' "$tmp/log" | head -40
    fail=1
  fi
  checked=$((checked + 1))
done
echo "$checked header compilations checked"
exit $fail
