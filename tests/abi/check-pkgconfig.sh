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

# A program using the shared library needs none of kio's dependencies'
# -dev packages: with only kio.pc in the search path, --cflags --libs work.
if ! PKG_CONFIG_LIBDIR="$inst_lib/pkgconfig" PKG_CONFIG_PATH='' "$pkgconfig" --cflags --libs kio \
  >"$tmp/alone.log" 2>&1; then
  cat "$tmp/alone.log"
  die "pkg-config kio needs other packages' .pc files (liburing, openssl) for a shared link"
fi

# A static link, when the static library is installed (-Ddefault_library=both|static).
if [ -f "$inst_lib/libkio.a" ]; then
  static_flags=$("$pkgconfig" --static --cflags --libs kio) || die "pkg-config --static kio failed"
  echo "pkg-config --static --cflags --libs kio: $static_flags"
  # -Wl,-Bstatic for libkio only: the C runtime and the rest stay as the system has them.
  # shellcheck disable=SC2086 # pkg-config output is a list of words
  if ! "${compiler[@]}" -std=c99 -Wall -Werror "${san[@]}" "$source" -o "$tmp/kio-user-static" \
    $(printf '%s\n' $static_flags | sed 's/^-lkio$/-l:libkio.a/') >"$tmp/cc-static.log" 2>&1; then
    cat "$tmp/cc-static.log"
    die "cannot link a program statically with pkg-config --static --libs kio"
  fi
  if ldd "$tmp/kio-user-static" | grep -q 'libkio\.so'; then
    die "the static program still loads libkio.so"
  fi
  out=$("$tmp/kio-user-static" "$version" 2>&1) || die "the statically linked program failed: $out"
  case "$out" in
    *"kio $version: nop completed"*) echo "static: $out" ;;
    *) die "the statically linked program did not complete its nop" ;;
  esac
else
  echo "no libkio.a installed (-Ddefault_library=shared): static link not checked"
fi
echo "check-pkgconfig: OK"
