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
# Everything lives under a fresh mktemp directory, so runs in parallel with
# other tests (or with itself on another build dir) do not collide.
set -euo pipefail

usage() {
  echo "usage: $0 --build-dir DIR --prefix DIR --libdir DIR --includedir DIR" \
    "--version V --sanitize S --meson PROG --pkg-config PROG --source FILE -- CC..." >&2
  exit 2
}

builddir="" prefix="" libdir="" includedir="" version="" sanitize=none
meson="" pkgconfig="" source=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --build-dir) builddir=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --libdir) libdir=$2; shift 2 ;;
    --includedir) includedir=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --sanitize) sanitize=$2; shift 2 ;;
    --meson) meson=$2; shift 2 ;;
    --pkg-config) pkgconfig=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
cc=("$@")
for v in builddir prefix libdir includedir version meson pkgconfig source; do
  [ -n "${!v}" ] || usage
done
[ "${#cc[@]}" -gt 0 ] || usage

# meson passes libdir/includedir relative to the prefix unless set absolute.
case "$libdir" in /*) ;; *) libdir=$prefix/$libdir ;; esac
case "$includedir" in /*) ;; *) includedir=$prefix/$includedir ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-abi-pkgconfig.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
inst_lib=$dest$libdir

die() {
  echo "FAIL: $*"
  exit 1
}

# --no-rebuild: the build is already done, and ninja must not run while other
# tests are using the build directory.
if ! "$meson" install -C "$builddir" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  die "meson install into $dest failed"
fi

[ -f "$inst_lib/pkgconfig/kio.pc" ] || die "kio.pc is not installed in $libdir/pkgconfig"
for f in libkio.so libkio.so.0 "libkio.so.$version"; do
  [ -e "$inst_lib/$f" ] || die "$libdir/$f is not installed"
done
[ -f "$dest$includedir/kio/kio.h" ] || die "kio/kio.h is not installed in $includedir"
echo "installed: $(cd "$dest" && find . -name 'kio.pc' -o -name 'libkio.so*' -o -name kio.h | sort | tr '\n' ' ')"

# The sysroot makes pkg-config prefix every -I/-L of kio.pc with DESTDIR;
# kio.pc itself keeps the real prefix, as a distribution package ships it.
export PKG_CONFIG_PATH="$inst_lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_SYSROOT_DIR=$dest
modversion=$("$pkgconfig" --modversion kio) || die "pkg-config cannot read kio.pc"
[ "$modversion" = "$version" ] || die "kio.pc says version $modversion, expected $version"
flags=$("$pkgconfig" --cflags --libs kio) || die "pkg-config --cflags --libs kio failed"
echo "pkg-config --cflags --libs kio: $flags"
case " $flags " in
  *" -lkio "*) ;;
  *) die "pkg-config --libs kio does not give -lkio" ;;
esac

san=()
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then
  # The library was built with these: its undefined sanitizer symbols need
  # the runtime in the program that links it.
  san=("-fsanitize=$sanitize")
fi
# shellcheck disable=SC2086 # pkg-config output is a list of words
if ! "${cc[@]}" -std=c99 -pedantic -Wall -Wextra -Werror "${san[@]}" "$source" \
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
