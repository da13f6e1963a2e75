# SPDX-License-Identifier: MIT
# Its variables are read by the scripts that source it.
# shellcheck shell=bash disable=SC2034
#
# Sourced by check-pkgconfig.sh (C, kio.pc) and check-pkgconfig-cxx.sh
# (C++, kio-cxx.pc): their shared argument parsing, the install into a
# private DESTDIR and the pkg-config environment that points into it. Each
# script keeps its own checks of what got installed and its own program.
#
#   SCRIPT --build-dir DIR --prefix DIR --libdir DIR --includedir DIR
#          --version X.Y.Z --sanitize LIST --meson PROG --pkg-config PROG
#          --source FILE -- COMPILER_COMMAND...
#
# Everything lives under a fresh mktemp directory, so runs in parallel with
# other tests (or with itself on another build dir) do not collide.

usage() {
  echo "usage: $0 --build-dir DIR --prefix DIR --libdir DIR --includedir DIR" \
    "--version V --sanitize S --meson PROG --pkg-config PROG --source FILE -- COMPILER..." >&2
  exit 2
}

die() {
  echo "FAIL: $*"
  exit 1
}

# Sets builddir prefix libdir includedir version sanitize meson pkgconfig
# source, compiler (the command after --) and san (the -fsanitize flag the
# program needs, if any).
pc_parse_args() {
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
  compiler=("$@")
  for v in builddir prefix libdir includedir version meson pkgconfig source; do
    [ -n "${!v}" ] || usage
  done
  [ "${#compiler[@]}" -gt 0 ] || usage

  # meson passes libdir/includedir relative to the prefix unless set absolute.
  case "$libdir" in /*) ;; *) libdir=$prefix/$libdir ;; esac
  case "$includedir" in /*) ;; *) includedir=$prefix/$includedir ;; esac

  san=()
  if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then
    # The library was built with these: its undefined sanitizer symbols need
    # the runtime in the program that links it.
    san=("-fsanitize=$sanitize")
  fi
}

# pc_install TAG: makes $tmp (removed at exit), installs the build into
# $dest=$tmp/root; $inst_lib is the installed libdir.
pc_install() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  dest=$tmp/root
  inst_lib=$dest$libdir

  # --no-rebuild: the build is already done, and ninja must not run while
  # other tests are using the build directory.
  if ! "$meson" install -C "$builddir" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    die "meson install into $dest failed"
  fi
}

# pc_use MODULE: points pkg-config at the installed .pc files and checks
# MODULE's version.
pc_use() {
  # The sysroot makes pkg-config prefix every -I/-L of a .pc with DESTDIR;
  # the .pc itself keeps the real prefix, as a distribution package ships it.
  export PKG_CONFIG_PATH="$inst_lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export PKG_CONFIG_SYSROOT_DIR=$dest
  local modversion
  modversion=$("$pkgconfig" --modversion "$1") || die "pkg-config cannot read $1.pc"
  [ "$modversion" = "$version" ] || die "$1.pc says version $modversion, expected $version"
}

# pc_flags MODULE: sets $flags to MODULE's --cflags --libs, which must link
# libkio.
pc_flags() {
  flags=$("$pkgconfig" --cflags --libs "$1") || die "pkg-config --cflags --libs $1 failed"
  echo "pkg-config --cflags --libs $1: $flags"
  case " $flags " in
    *" -lkio "*) ;;
    *) die "pkg-config --libs $1 does not give -lkio" ;;
  esac
}
