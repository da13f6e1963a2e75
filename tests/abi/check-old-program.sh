#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A program built for kio 0.1 keeps working on this build's library:
# old-program.c is compiled at test time against the 0.1.0 headers stored in
# tests/abi/v0.1/include (C99, -Werror), linked with the libkio.so of this
# build (-L, rpath), checked to bind every kio symbol to the KIO_0.1 version
# node and nothing newer, and run. KIO_BACKEND is passed through as it is,
# so the suite runs it on whichever backend the run asks for.
#
#   check-old-program.sh --lib-dir DIR --headers DIR --source FILE
#                        --version X.Y.Z --sanitize LIST -- CC_COMMAND...
#
# In a sanitizer build the program is compiled with the same -fsanitize
# list, as the library's instrumentation needs the runtime in the program.
set -euo pipefail

usage() {
  echo "usage: $0 --lib-dir DIR --headers DIR --source FILE --version X.Y.Z" \
    "--sanitize LIST -- CC..." >&2
  exit 2
}
die() {
  echo "FAIL: $*"
  exit 1
}

libdir="" headers="" source="" version="" sanitize=none
while [ "$#" -gt 0 ]; do
  case "$1" in
    --lib-dir) libdir=$2; shift 2 ;;
    --headers) headers=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --sanitize) sanitize=$2; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
compiler=("$@")
for v in libdir headers source version; do
  [ -n "${!v}" ] || usage
done
[ "${#compiler[@]}" -gt 0 ] || usage
[ -f "$headers/kio/kio.h" ] || die "no kio/kio.h under $headers"
[ -e "$libdir/libkio.so" ] || die "no libkio.so in $libdir"
for tool in readelf objdump; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (binutils)"; exit 77; }
done

# The stored headers must be the 0.1 ones, not a copy of today's.
grep -q '^#define KIO_VERSION_MINOR 1$' "$headers/kio/common.h" ||
  die "$headers/kio/common.h is not the 0.1 header"

san=()
if [ -n "$sanitize" ] && [ "$sanitize" != none ]; then
  san=("-fsanitize=$sanitize")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-abi-old.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
libdir=$(cd "$libdir" && pwd)
prog=$tmp/old-program

if ! "${compiler[@]}" -std=c99 -pedantic -Wall -Wextra -Werror "${san[@]}" -I "$headers" \
  -o "$prog" "$source" -L"$libdir" -Wl,-rpath,"$libdir" -lkio >"$tmp/cc.log" 2>&1; then
  cat "$tmp/cc.log"
  die "cannot build old-program.c against the 0.1 headers and $libdir/libkio.so"
fi

# Every kio function the program imports is bound to KIO_0.1, and that is
# the only node it needs from libkio.so.0.
readelf --dyn-syms -W "$prog" |
  awk '$7 == "UND" && $8 ~ /^kio_/ { print $8 }' | sort >"$tmp/imports"
[ -s "$tmp/imports" ] || die "the program imports no kio_* symbol"
n=$(wc -l <"$tmp/imports")
bad=$(grep -v '^kio_[a-z0-9_]*@KIO_0\.1\( (\?[0-9]*)\?\)\?$' "$tmp/imports" || true)
[ -z "$bad" ] || die "imports not bound to KIO_0.1: $(tr '\n' ' ' <<<"$bad")"
# objdump -T shows the same binding in its version column ("(KIO_0.1)" for
# an import).
objdump -T "$prog" | awk '$NF ~ /^kio_/ { print $(NF - 1), $NF }' >"$tmp/objdump"
[ "$(grep -c '^(KIO_0\.1) ' "$tmp/objdump" || true)" -eq "$(wc -l <"$tmp/imports")" ] ||
  die "objdump -T: kio symbols not all bound to KIO_0.1: $(grep -v '^(KIO_0\.1) ' "$tmp/objdump" | tr '\n' ' ')"
needs=$(readelf -V -W "$prog" |
  awk '/File: libkio\.so\.0/ { on = 1; next } /File:/ { on = 0 } on && /Name:/ { for (i = 1; i < NF; i++) if ($i == "Name:") print $(i + 1) }' |
  sort -u | tr '\n' ' ')
[ "$needs" = "KIO_0.1 " ] || die "version needs from libkio.so.0 are '${needs}', expected only KIO_0.1"
dynamic=$(readelf -d "$prog")
grep -q 'NEEDED.*\[libkio\.so\.0\]' <<<"$dynamic" || die "the program does not need libkio.so.0"
echo "old-program imports $n kio functions, all @KIO_0.1 (readelf --dyn-syms, objdump -T);" \
  "version needs from libkio.so.0: ${needs}"

resolved=$(ldd "$prog" | awk '$1 == "libkio.so.0" { print $3 }')
[ "$(readlink -f "$resolved")" = "$(readlink -f "$libdir/libkio.so.0")" ] ||
  die "the program loads libkio.so.0 from '${resolved:-nowhere}', not from $libdir"

set +e
"$prog" "$version" >"$tmp/out" 2>&1
rc=$?
set -e
cat "$tmp/out"
[ "$rc" -ne 77 ] || exit 77
[ "$rc" -eq 0 ] || die "old-program exited with $rc (KIO_BACKEND=${KIO_BACKEND:-unset})"
grep -qx 'old-program: OK' "$tmp/out" || die "old-program did not print 'old-program: OK'"
echo "check-old-program: OK (KIO_BACKEND=${KIO_BACKEND:-unset})"
