#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The C++ layer as a user gets it: installs the build into a private DESTDIR
# and builds a coroutine program with only
# `pkg-config --cflags --libs kio-cxx` (which must pull in kio), as C++20
# and as C++2b, then runs it against the installed library.
#
#   check-pkgconfig-cxx.sh --build-dir DIR --prefix DIR --libdir DIR
#                          --includedir DIR --version X.Y.Z --sanitize LIST
#                          --meson PROG --pkg-config PROG --source FILE
#                          -- CXX_COMMAND...
#
# The argument parsing, the install and the pkg-config environment are
# shared with check-pkgconfig.sh (pkgconfig-common.sh).
set -euo pipefail

# shellcheck source=pkgconfig-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/pkgconfig-common.sh"

pc_parse_args "$@"
pc_install kio-abi-pkgconfig-cxx

[ -f "$inst_lib/pkgconfig/kio-cxx.pc" ] || die "kio-cxx.pc is not installed in $libdir/pkgconfig"
for h in kio.hpp task.hpp result.hpp io_context.hpp detail/awaiter.hpp; do
  [ -f "$dest$includedir/kio/$h" ] || die "kio/$h is not installed in $includedir"
done

pc_use kio-cxx
"$pkgconfig" --print-requires kio-cxx | grep -qw kio || die "kio-cxx.pc does not require kio"
pc_flags kio-cxx

export LD_LIBRARY_PATH=$inst_lib
for std in c++20 c++2b; do
  # shellcheck disable=SC2086 # pkg-config output is a list of words
  if ! "${compiler[@]}" -std=$std -Wall -Wextra -Werror "${san[@]}" "$source" \
    -o "$tmp/kio-cxx-user" $flags >"$tmp/cc.log" 2>&1; then
    cat "$tmp/cc.log"
    die "cannot build a $std program with the flags of kio-cxx.pc"
  fi
  set +e
  out=$("$tmp/kio-cxx-user" "$version" 2>&1)
  rc=$?
  set -e
  echo "$std: $out"
  [ "$rc" -eq 77 ] && exit 77
  [ "$rc" -eq 0 ] || die "the installed-kio C++ program ($std) exited with $rc"
  case "$out" in
    *"kio-cxx $version: task completed"*) ;;
    *) die "the $std program did not complete its task" ;;
  esac
done
echo "check-pkgconfig-cxx: OK"
