#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Writes the ABI description of a released kio, the reference that
# check-abidiff.sh compares every build against:
#
#   tests/abi/make-abi-xml.sh VERSION COMMIT [OUTPUT]
#
# VERSION is the release (0.1 or 0.1.0), COMMIT the commit it was made from;
# OUTPUT defaults to tests/abi/abi-MAJOR.MINOR.xml. The commit is cloned and
# built under a temporary directory (only libkio: debug info on, tests,
# examples, benchmarks and man pages off), and abidw describes what its
# libkio.so exports, as seen through that commit's public headers.
#
# The stored descriptions were made on Debian 12 (gcc 12.2, abigail-tools
# 2.2) with:
#
#   tests/abi/make-abi-xml.sh 0.1 "$(git rev-parse b12bcb3^)"  # 81cf269d3155
#   tests/abi/make-abi-xml.sh 0.2 "$(git rev-parse 28b2178^)"  # 622bbbe7ec6a
#   tests/abi/make-abi-xml.sh 0.3 bf26562                      # bf26562f777c
#
# Only a new release adds a file (and a test in tests/abi/meson.build); a
# stored description is never regenerated to make a failing check pass.
#
# abidw options, chosen so that the file is deterministic and holds only the
# public ABI:
#   --headers-dir include/kio     types defined outside the public headers are
#   --drop-private-types          private: kio_ctx and the other handles stay
#                                 opaque declarations
#   --exported-interfaces-only    only what the version script exports
#   --no-corpus-path --no-comp-dir-path --short-locs
#                                 no path of the build machine (file names only)
#   --type-id-style hash          type ids from the types, not from the order
#                                 they were read in
# check-abidiff.sh reads the new library with the same options.
#
# Environment: CC, CXX (default gcc, g++), ABIDW (default abidw).
set -euo pipefail

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  echo "usage: $0 VERSION COMMIT [OUTPUT]" >&2
  exit 2
fi
version=$1
commit=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)

case "$version" in
  [0-9]*.[0-9]* | [0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "make-abi-xml: VERSION must look like 0.1 or 0.1.0, not '$version'" >&2; exit 2 ;;
esac
short=$(echo "$version" | cut -d. -f1-2)
out=${3:-$here/abi-$short.xml}
abidw=${ABIDW:-abidw}
command -v "$abidw" >/dev/null || {
  echo "make-abi-xml: $abidw not found (Debian: abigail-tools)" >&2
  exit 1
}

sha=$(git -C "$repo" rev-parse --verify "$commit^{commit}")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kio-make-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

git clone --quiet --no-checkout "$repo" "$tmp/src"
git -C "$tmp/src" checkout --quiet --detach "$sha"

# The commit must be the release it is said to be.
project_version=$(sed -n "/^ *version: *'/{s/^ *version: *'\([^']*\)'.*/\1/p;q}" "$tmp/src/meson.build")
case "$project_version" in
  "$version" | "$version".*) ;;
  *)
    echo "make-abi-xml: $sha builds kio $project_version, not $version" >&2
    exit 1
    ;;
esac

echo "make-abi-xml: kio $project_version from $sha"
if ! CC=${CC:-gcc} CXX=${CXX:-g++} meson setup "$tmp/build" "$tmp/src" -Dbuildtype=debug \
  -Dtests=disabled -Dexamples=disabled -Dbench=disabled -Dman=false >"$tmp/setup.log" 2>&1; then
  cat "$tmp/setup.log" >&2
  exit 1
fi
if ! ninja -C "$tmp/build" >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  exit 1
fi
lib=$(readlink -f "$tmp/build/lib/libkio.so")

"$abidw" --headers-dir "$tmp/src/include/kio" --drop-private-types --exported-interfaces-only \
  --no-corpus-path --no-comp-dir-path --short-locs --type-id-style hash \
  --out-file "$tmp/abi.xml" "$lib"

# No path of this machine may end up in the file.
if grep -n -e "$tmp" -e "$repo" "$tmp/abi.xml" >&2; then
  echo "make-abi-xml: the description still names build paths" >&2
  exit 1
fi
mv "$tmp/abi.xml" "$out"
echo "make-abi-xml: wrote $out: $(grep -c '<elf-symbol ' "$out") symbols," \
  "$(grep -c '<function-decl ' "$out") function declarations, sha256 $(sha256sum "$out" | cut -c1-16)"
