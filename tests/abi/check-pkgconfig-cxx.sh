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
set -euo pipefail

usage() {
  echo "usage: $0 --build-dir DIR --prefix DIR --libdir DIR --includedir DIR" \
    "--version V --sanitize S --meson PROG --pkg-config PROG --source FILE -- CXX..." >&2
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
cxx=("$@")
for v in builddir prefix libdir includedir version meson pkgconfig source; do
  [ -n "${!v}" ] || usage
done
[ "${#cxx[@]}" -gt 0 ] || usage

case "$libdir" in /*) ;; *) libdir=$prefix/$libdir ;; esac
case "$includedir" in /*) ;; *) includedir=$prefix/$includedir ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-abi-pkgconfig-cxx.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
inst_lib=$dest$libdir

die() {
  echo "FAIL: $*"
  exit 1
}

if ! "$meson" install -C "$builddir" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  die "meson install into $dest failed"
fi

[ -f "$inst_lib/pkgconfig/kio-cxx.pc" ] || die "kio-cxx.pc is not installed in $libdir/pkgconfig"
for h in kio.hpp task.hpp result.hpp io_context.hpp detail/awaiter.hpp; do
  [ -f "$dest$includedir/kio/$h" ] || die "kio/$h is not installed in $includedir"
done

export PKG_CONFIG_PATH="$inst_lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_SYSROOT_DIR=$dest
modversion=$("$pkgconfig" --modversion kio-cxx) || die "pkg-config cannot read kio-cxx.pc"
[ "$modversion" = "$version" ] || die "kio-cxx.pc says version $modversion, expected $version"
"$pkgconfig" --print-requires kio-cxx | grep -qw kio || die "kio-cxx.pc does not require kio"
flags=$("$pkgconfig" --cflags --libs kio-cxx) || die "pkg-config --cflags --libs kio-cxx failed"
echo "pkg-config --cflags --libs kio-cxx: $flags"
case " $flags " in
  *" -lkio "*) ;;
  *) die "pkg-config --libs kio-cxx does not give -lkio (through Requires: kio)" ;;
esac

san=()
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then
  san=("-fsanitize=$sanitize")
fi
export LD_LIBRARY_PATH=$inst_lib
rc_all=0
for std in c++20 c++2b; do
  # shellcheck disable=SC2086 # pkg-config output is a list of words
  if ! "${cxx[@]}" -std=$std -Wall -Wextra -Werror "${san[@]}" "$source" \
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
