#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Compares the ABI of a released kio (a stored abidw description,
# tests/abi/abi-X.Y.xml, made by make-abi-xml.sh) with the libkio.so of this
# build. Fails on anything the rules in CHANGELOG.md forbid: a removed or
# changed function or variable, a changed type or struct layout, a symbol
# that moved to another version node or was added to a released node.
# Passes on what they allow: new functions in a new node, fields appended to
# the structs listed in abi-suppressions.abignore.
#
#   check-abidiff.sh --xml FILE --lib LIBRARY --headers DIR
#                    --suppressions FILE --layout abi-layout.py
#
# Three checks, all of which must pass:
#  1. abidiff, public view: --headers-dir2 DIR (the build's include/kio) with
#     --drop-private-types, so that only the public types count (kio_ctx and
#     the other handles stay opaque), as the stored descriptions were made.
#  2. abidiff, whole view: the same without --headers-dir2. abidiff 2.2 treats
#     every type defined outside the headers dir as private, including the
#     <stdint.h> typedefs the public functions and fields are made of, and
#     hides their changes: kio_op_timeout's `uint64_t timeout_ns` becoming
#     `uint32_t` passed view 1 and fails here. (The stored descriptions keep
#     the handles opaque already, so this view adds no internal noise.)
#  3. abi-layout.py: symbol version nodes (a symbol added to a released node
#     is an addition to abidiff), and the public struct layouts field by
#     field: the append suppression makes abidiff overlook every change of
#     kio_ctx_opts and kio_stats that does not shrink them or delete a field
#     (`int32_t sqpoll_cpu` becoming `int64_t` passed views 1 and 2).
#
# abidiff flags, and why:
#   --exported-interfaces-only  only what libkio.so exports (as abidw wrote it)
#   --fail-no-debug-info        a library without DWARF would otherwise be
#                               compared by symbol names alone, silently
#   --suppressions FILE         fields appended to kio_ctx_opts / kio_stats
#   not --harmless              it turns harmless changes (a field's typedef
#                               replaced by the same underlying type) into
#                               "Changed" functions, which fail below
#   not --no-added-syms         it would make additions exit 0, but only by
#                               dropping them from the report and from the
#                               judgement: the log should list what a build
#                               adds, and an addition is not always allowed
#                               (in a released node it is not: abi-layout.py)
#
# abidiff's exit status is a bit set; how each bit is judged:
#   1 ABIDIFF_ERROR, 2 ABIDIFF_USAGE_ERROR  fail: nothing was compared
#   8 ABIDIFF_ABI_INCOMPATIBLE_CHANGE       fail: a function or variable was
#                                           removed (a symbol that moved to
#                                           another node counts as removed)
#   4 ABIDIFF_ABI_CHANGE                    set for every difference, added
#                                           functions included, and also (with
#                                           bit 8 clear) for changed functions,
#                                           variables and types: it passes only
#                                           when the report's summaries count
#                                           0 Removed and 0 Changed (changes
#                                           "filtered out" by the suppressions
#                                           and abidiff's harmless categories
#                                           do not count); anything else,
#                                           including a summary it cannot read,
#                                           fails
#
# Skips (77) with the reason when abidiff/abidw or python3 are missing, the
# library has no DWARF (buildtype plain/release, debug=false), or it is not
# for the architecture the descriptions were made on (x86_64).
#
# Sanitizer builds (ASan+UBSan, TSan with clang-19) are compared like any
# other: instrumentation changes code, not the exported functions' DWARF
# types, and abidiff normalises the integer type names gcc and clang write
# differently; the stored descriptions, made with gcc, compare clean with them.
set -uo pipefail

usage() {
  echo "usage: $0 --xml FILE --lib LIBRARY --headers DIR --suppressions FILE --layout SCRIPT" >&2
  exit 2
}

xml="" lib="" headers="" suppr="" layout=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --xml) xml=$2; shift 2 ;;
    --lib) lib=$2; shift 2 ;;
    --headers) headers=$2; shift 2 ;;
    --suppressions) suppr=$2; shift 2 ;;
    --layout) layout=$2; shift 2 ;;
    *) usage ;;
  esac
done
for v in xml lib headers suppr layout; do
  [ -n "${!v}" ] || usage
done
for f in "$xml" "$lib" "$suppr" "$layout"; do
  [ -r "$f" ] || { echo "check-abidiff: cannot read $f" >&2; exit 2; }
done
[ -d "$headers" ] || { echo "check-abidiff: no headers directory $headers" >&2; exit 2; }

skip() {
  echo "SKIP: $*"
  exit 77
}
for tool in abidiff abidw; do
  command -v "$tool" >/dev/null ||
    skip "$tool is not installed (Debian: abigail-tools; scripts/install-deps.sh test installs it)"
done
command -v python3 >/dev/null || skip "python3 is not installed (abi-layout.py needs it)"
command -v readelf >/dev/null || skip "readelf is not installed (binutils)"

lib=$(readlink -f "$lib")
# (Not `readelf | grep -q`: with pipefail, grep quitting early can SIGPIPE readelf.)
sections=$(readelf -S -W "$lib")
if ! grep -q '\.debug_info' <<<"$sections"; then
  skip "$lib has no DWARF (a build without debug info: buildtype plain/release or -Ddebug=false);" \
    "abidiff can only compare the types of a library built with -g"
fi
arch=$(sed -n "s/^<abi-corpus [^>]*architecture='\([^']*\)'.*/\1/p" "$xml")
machine=$(readelf -h "$lib" | sed -n 's/^ *Machine: *//p')
case "$arch:$machine" in
  elf-amd-x86_64:*X86-64*) ;;
  *) skip "$(basename "$xml") describes $arch, but $lib is for '$machine'" ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-abi-diff.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
name=$(basename "$xml" .xml)
fail=0

# judge VIEW REPORT STATUS: prints a verdict, sets fail=1 on a forbidden change.
judge() {
  local view=$1 report=$2 status=$3 why=""
  if [ $((status & 3)) -ne 0 ]; then
    why="abidiff failed (exit $status: error or usage bits set), nothing was compared"
  elif [ $((status & 8)) -ne 0 ]; then
    why="incompatible change (exit $status: bit 8): a function or variable was removed or moved to another version node"
  elif [ $((status & 4)) -ne 0 ]; then
    # Summary lines look like
    #   Functions changes summary: 0 Removed, 1 Changed (2 filtered out), 3 Added functions
    #   Function symbols changes summary: 0 Removed, 0 Added function symbols not referenced by debug info
    local summaries bad
    summaries=$(grep -E '^(Functions|Variables|Function symbols|Variable symbols) changes summary:' "$report")
    if ! grep -q '^Functions changes summary:' <<<"$summaries" ||
      ! grep -q '^Variables changes summary:' <<<"$summaries"; then
      why="ABI change (exit $status: bit 4) and no summary line this script can read: failing to be safe"
    else
      bad=$(grep -Ev ': 0 Removed(, 0 Changed( \([0-9]+ filtered out\))?)?, [0-9]+ Added' <<<"$summaries" || true)
      if [ -n "$bad" ]; then
        why="changed or removed interfaces (exit $status: bit 4): $bad"
      elif grep -qiE '^(ELF SONAME changed|architecture changed)' "$report"; then
        why="SONAME or architecture changed (exit $status: bit 4)"
      fi
    fi
  fi
  if [ -n "$why" ]; then
    echo "FAIL [$view]: $why"
    echo "----- abidiff report ($view) -----"
    cat "$report"
    echo "----- end of report -----"
    fail=1
  else
    echo "ok [$view]: exit $status; $(grep -E '^(Functions|Variables) changes summary:' "$report" | tr '\n' ' ')"
  fi
}

common=(--exported-interfaces-only --fail-no-debug-info --suppressions "$suppr")

echo "== $name vs $lib"
abidiff "${common[@]}" --headers-dir2 "$headers" --drop-private-types "$xml" "$lib" >"$tmp/public.txt" 2>&1
judge "public view: --headers-dir2 $headers" "$tmp/public.txt" $?

abidiff "${common[@]}" "$xml" "$lib" >"$tmp/whole.txt" 2>&1
judge "whole view: all DWARF types" "$tmp/whole.txt" $?

# What this build adds over the release, for the log.
added=$(grep -E '^  \[A\] ' "$tmp/public.txt" | sed -n 's/.*{\(.*\)}.*/\1/p' | tr '\n' ' ')
[ -z "$added" ] || echo "added since $name: $added"

# The same abidw options as make-abi-xml.sh.
if ! abidw --headers-dir "$headers" --drop-private-types --exported-interfaces-only \
  --no-corpus-path --no-comp-dir-path --short-locs --type-id-style hash \
  --out-file "$tmp/new.xml" "$lib" >"$tmp/abidw.log" 2>&1; then
  cat "$tmp/abidw.log"
  echo "FAIL: abidw could not read $lib"
  fail=1
elif ! python3 "$layout" "$xml" "$tmp/new.xml" "$suppr"; then
  fail=1
fi

if [ "$fail" -ne 0 ]; then
  echo "check-abidiff: $name: FAILED (the released ABI of $name is broken; see CHANGELOG.md, ABI rules)"
  exit 1
fi
echo "check-abidiff: $name: OK"
