#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds the Debian packages from debian/ and checks them without installing
# anything on the system:
#
#   scripts/deb-test.sh [OUTDIR]
#
#  1. copies the tree (the files git knows, committed or not) to a temporary
#     directory and runs `dpkg-buildpackage -b -uc -us` there, so neither the
#     tree nor its parent directory gets debian/ build files or .deb files;
#  2. runs lintian on the .changes: any E: tag fails (warnings are printed);
#  3. unpacks every .deb with `dpkg -x` into a throwaway root and checks the
#     files, the package relationships, kio.pc through PKG_CONFIG_SYSROOT_DIR,
#     a C program linked against the shared library and one linked against
#     libkio.a (both run, LD_LIBRARY_PATH into the root), the C++ layer's
#     headers, and `import kio` from the root's dist-packages running a NOP.
#
# OUTDIR, when given, receives the .deb files (install them with
# `sudo apt install ./OUTDIR/*.deb`). Exit status: 0 when every check
# passed, 1 when one failed, 77 when the packaging tools are not installed
# (scripts/install-deps.sh deb installs them).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=${1:-}
if [ -n "$outdir" ]; then
  mkdir -p "$outdir" && outdir=$(cd "$outdir" && pwd) || exit 1
fi

for tool in dpkg-buildpackage dh lintian fakeroot pkg-config cc c++ python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "deb-test: SKIP: $tool is not installed (scripts/install-deps.sh deb)"
    exit 77
  fi
done

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { # DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$root/debian/changelog")
source=$(sed -n '1s/^\([^ ]*\) .*/\1/p' "$root/debian/changelog")
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
src="$tmp/$source-${version%-*}"
mkdir -p "$src"

# What the tree holds now, and the build products in its parent, to check that
# the build left them alone.
tree_state() {
  ls -a "$root/debian"
  find "$root/.." -maxdepth 1 \( -name '*.deb' -o -name '*.ddeb' -o -name '*.changes' \
    -o -name '*.buildinfo' \) | sort
  git -C "$root" status --porcelain --ignored 2>/dev/null | grep -v '^!! build' || true
}
before=$(tree_state)

# 1. Build in a copy.
echo "deb-test: copying the tree to $src"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$root" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$src" -xf - || exit 1
else
  (cd "$root" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -C "$src" -xf - || exit 1
fi

echo "deb-test: dpkg-buildpackage -b -uc -us (log: $tmp/build.log)"
start=$(date +%s)
if (cd "$src" && dpkg-buildpackage -b -uc -us) >"$tmp/build.log" 2>&1; then
  pass "dpkg-buildpackage -b -uc -us ($(($(date +%s) - start))s)"
else
  tail -n 60 "$tmp/build.log"
  fail "dpkg-buildpackage -b -uc -us"
  echo "deb-test: $passed passed, $failed failed"
  exit 1
fi
# A symbol the library exports and debian/libkio0.symbols does not list (or
# the reverse) makes dpkg-gensymbols warn: add it there, with its version.
check "debian/libkio0.symbols matches the exported symbols" \
  sh -c "! grep -A20 'dpkg-gensymbols: warning' '$tmp/build.log'"
changes=$(ls "$tmp"/*.changes)
debs=("$tmp"/*.deb)
ls -l "${debs[@]}"

# 2. lintian: errors fail, warnings are shown.
lintian --version
lintian --display-info --pedantic "$changes" >"$tmp/lintian.txt" 2>&1
lrc=$?
grep -v '^running with root privileges' "$tmp/lintian.txt"
errors=$(grep -c '^E: ' "$tmp/lintian.txt")
warnings=$(grep -c '^W: ' "$tmp/lintian.txt")
# Exit status 1 is "tags at or above --fail-on found", counted from E: lines;
# anything above it is lintian itself failing.
check "lintian: $errors errors ($warnings warnings)" [ "$errors" -eq 0 -a "$lrc" -le 1 ]

# 3. Unpack into a throwaway root.
sys="$tmp/root"
mkdir -p "$sys"
for d in "${debs[@]}"; do
  case "$d" in *-dbgsym_*) continue ;; esac
  dpkg -x "$d" "$sys" || fail "dpkg -x $(basename "$d")"
done
lib="$sys/usr/lib/$ma"
pydir="$sys/usr/lib/python3/dist-packages"

deb() { basename "$(ls "$tmp/$1"_*.deb)"; }
check "libkio0: libkio.so.0 -> libkio.so.${version%-*}" \
  [ "$(readlink "$lib/libkio.so.0")" = "libkio.so.${version%-*}" -a -f "$lib/libkio.so.${version%-*}" ]
check "libkio0: SONAME libkio.so.0" \
  sh -c "objdump -p '$lib/libkio.so.0' | grep -q 'SONAME *libkio.so.0\$'"
check "libkio0: a symbols file" sh -c "dpkg-deb --ctrl-tarfile '$tmp/$(deb libkio0)' | tar -t | grep -q symbols"
check "libkio-dev: libkio.so -> libkio.so.0, libkio.a" [ "$(readlink "$lib/libkio.so")" = libkio.so.0 -a -f "$lib/libkio.a" ]
check "libkio-dev: C headers and C++ layer" [ -f "$sys/usr/include/kio/kio.h" -a -f "$sys/usr/include/kio/kio.hpp" ]
check "libkio-dev: kio.pc, kio-cxx.pc, CMake package" \
  [ -f "$lib/pkgconfig/kio.pc" -a -f "$lib/pkgconfig/kio-cxx.pc" -a -f "$lib/cmake/kio/kioConfig.cmake" ]
check "libkio-dev: man pages (kio_nop(3), kio(7))" \
  [ -f "$sys/usr/share/man/man3/kio_nop.3.gz" -a -f "$sys/usr/share/man/man7/kio.7.gz" ]
check "libkio-dev depends on libkio0 (= $version)" \
  sh -c "dpkg-deb -f '$tmp/$(deb libkio-dev)' Depends | grep -qF 'libkio0 (= $version)'"
check "python3-kio: kio.py, kio_asyncio.py; depends on libkio0" \
  sh -c "[ -f '$pydir/kio.py' ] && [ -f '$pydir/kio_asyncio.py' ] &&
    dpkg-deb -f '$tmp/$(deb python3-kio)' Depends | grep -q 'libkio0 '"

# pkg-config, as a cross or sysroot build would use it.
export PKG_CONFIG_SYSROOT_DIR="$sys" PKG_CONFIG_LIBDIR="$lib/pkgconfig"
cflags=$(pkg-config --cflags kio) && libs=$(pkg-config --libs kio) &&
  slibs=$(pkg-config --static --libs kio) && cxxflags=$(pkg-config --cflags kio-cxx)
check "pkg-config kio: $(pkg-config --modversion kio 2>&1) $libs" \
  [ "$(pkg-config --modversion kio)" = "${version%-*}" ]
# pkgconf drops -I/usr/include (a system directory) before prefixing the
# sysroot; a compiler pointed at a sysroot would add it back.
case " $cflags " in *" -I$sys/usr/include "*) ;; *) cflags="$cflags -I$sys/usr/include" ;; esac
case " $cxxflags " in *" -I$sys/usr/include "*) ;; *) cxxflags="$cxxflags -I$sys/usr/include" ;; esac
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

cat >"$tmp/nop.c" <<'EOF'
#include <kio/kio.h>
#include <stdio.h>
#include <string.h>
static int got = -1;
static void done(void *user_data, int32_t res, uint32_t flags)
{
	(void)user_data;
	(void)flags;
	got = res;
}
int main(int argc, char **argv)
{
	kio_ctx *ctx;
	if (argc != 2 || strcmp(kio_version_string(), argv[1]) != 0) {
		fprintf(stderr, "version %s\n", kio_version_string());
		return 1;
	}
	if (kio_ctx_create(&ctx, NULL, 0) != 0 || kio_nop(ctx, done, NULL) <= 0)
		return 2;
	if (kio_ctx_run(ctx) < 0 || got != 0)
		return 3;
	kio_ctx_destroy(ctx);
	puts("nop ok");
	return 0;
}
EOF
# shellcheck disable=SC2086
check "C program against libkio.so.0 from the root (kio.pc)" sh -c "
  cc -Wall -Werror $cflags '$tmp/nop.c' -o '$tmp/nop' $libs &&
  LD_LIBRARY_PATH='$lib' '$tmp/nop' '${version%-*}' &&
  LD_LIBRARY_PATH='$lib' ldd '$tmp/nop' | grep -q '$lib/libkio.so.0'"
# shellcheck disable=SC2086
check "C program linked statically with libkio.a (pkg-config --static)" sh -c "
  cc -Wall -Werror $cflags '$tmp/nop.c' -o '$tmp/nop-static' -Wl,-Bstatic -lkio -Wl,-Bdynamic \
    $(printf '%s\n' $slibs | grep -v '^-lkio$' | tr '\n' ' ') &&
  ! ldd '$tmp/nop-static' | grep -q libkio && '$tmp/nop-static' '${version%-*}'"
printf '#include <kio/kio.hpp>\nint main() { return 0; }\n' >"$tmp/cxx.cpp"
# shellcheck disable=SC2086
check "C++20 layer compiles (kio-cxx.pc)" sh -c "c++ -std=c++20 -fsyntax-only $cxxflags '$tmp/cxx.cpp'"

check "python3: import kio from the root's dist-packages runs a NOP" \
  env PYTHONPATH="$pydir" LD_LIBRARY_PATH="$lib" KIO_ROOT="$sys" python3 -c '
import os, kio
assert kio.__file__.startswith(os.environ["KIO_ROOT"]), kio.__file__
with open("/proc/self/maps") as f:
    assert os.environ["KIO_ROOT"] in f.read(), "libkio.so.0 not loaded from the root"
got = []
ctx = kio.Context()
ctx.nop(lambda res, flags: got.append(res))
ctx.run()
backend = ctx.backend
ctx.close()
assert got == [0], got
print("python nop ok: kio", kio.version_string(), "on", backend)
'

if command -v cmake >/dev/null 2>&1; then
  mkdir -p "$tmp/cmake"
  cp "$tmp/nop.c" "$tmp/cmake/nop.c"
  cat >"$tmp/cmake/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(kio_deb_user C)
find_package(kio ${version%.*-*} REQUIRED)
add_executable(nop nop.c)
target_link_libraries(nop PRIVATE kio::kio)
EOF
  check "CMake: find_package(kio) from the root, kio::kio" sh -c "
    cmake -S '$tmp/cmake' -B '$tmp/cmake/b' -DCMAKE_PREFIX_PATH='$sys/usr' >'$tmp/cmake.log' 2>&1 &&
    cmake --build '$tmp/cmake/b' >>'$tmp/cmake.log' 2>&1 &&
    LD_LIBRARY_PATH='$lib' '$tmp/cmake/b/nop' '${version%-*}' || { cat '$tmp/cmake.log'; false; }"
else
  echo "deb-test: cmake is not installed: the CMake package is not tried"
fi

check "the source tree and its parent are as they were" [ "$(tree_state)" = "$before" ]

if [ -n "$outdir" ]; then
  cp "${debs[@]}" "$changes" "$outdir/" && echo "deb-test: packages copied to $outdir"
fi
echo "deb-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
