#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Installs the build into a private DESTDIR and builds a first user program
# the way a user would: only `pkg-config --cflags --libs kio`. Proves kio.pc,
# the installed headers and the library symlinks work together.
#
#   check-pkgconfig.sh --build-dir DIR --prefix DIR --libdir DIR --includedir DIR
#                      --version X.Y.Z --sanitize LIST --meson PROG
#                      --pkg-config PROG --source FILE -- CC_COMMAND...
#
# The argument parsing, the install and the pkg-config environment are
# shared with check-pkgconfig-cxx.sh (pkgconfig-common.sh).
set -euo pipefail

# shellcheck source=pkgconfig-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/pkgconfig-common.sh"

pc_parse_args "$@"
pc_install kio-abi-pkgconfig

[ -f "$inst_lib/pkgconfig/kio.pc" ] || die "kio.pc is not installed in $libdir/pkgconfig"
for f in libkio.so libkio.so.0 "libkio.so.$version"; do
  [ -e "$inst_lib/$f" ] || die "$libdir/$f is not installed"
done
[ -f "$dest$includedir/kio/kio.h" ] || die "kio/kio.h is not installed in $includedir"
echo "installed: $(cd "$dest" && find . -name 'kio.pc' -o -name 'libkio.so*' -o -name kio.h | sort | tr '\n' ' ')"

pc_use kio
pc_flags kio

# shellcheck disable=SC2086 # pkg-config output is a list of words
if ! "${compiler[@]}" -std=c99 -pedantic -Wall -Wextra -Werror "${san[@]}" "$source" \
  -o "$tmp/kio-user" $flags >"$tmp/cc.log" 2>&1; then
  cat "$tmp/cc.log"
  die "cannot build a program with the flags of kio.pc"
fi

# Only the installed copy: meson test points LD_LIBRARY_PATH at the build tree.
export LD_LIBRARY_PATH=$inst_lib
resolved=$(ldd "$tmp/kio-user" | awk '$1 == "libkio.so.0" { print $3 }')
case "$resolved" in
  "$inst_lib"/*) ;;
  *) die "the program loads libkio.so.0 from '${resolved:-nowhere}', not from $libdir in DESTDIR" ;;
esac

set +e
out=$("$tmp/kio-user" "$version" 2>&1)
rc=$?
set -e
echo "$out"
if [ "$rc" -eq 77 ]; then
  exit 77
fi
[ "$rc" -eq 0 ] || die "the installed-kio program exited with $rc"
case "$out" in
  *"kio $version: nop completed"*) ;;
  *) die "the program did not print kio_version_string()" ;;
esac
echo "check-pkgconfig: OK"
