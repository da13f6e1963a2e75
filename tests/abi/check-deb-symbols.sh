#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# debian/libkio0.symbols lists exactly the symbols lib/libkio.map exports,
# each under its version node. dpkg-gensymbols would notice a missing one
# only when the packages are built (scripts/deb-test.sh); this catches it in
# every build, the moment a function is added.
#   check-deb-symbols.sh MAP SYMBOLS
set -euo pipefail
map=$1 symbols=$2
# name@NODE for every global symbol of the map, sorted.
from_map=$(awk '
  /^KIO_[0-9.]+ *\{/ { node = $1; sub(/\{/, "", node); next }
  /^[ \t]+kio_[a-z0-9_]+;/ { s = $1; sub(/;/, "", s); print s "@" node }
' "$map" | sort)
from_deb=$(awk '/^ kio_/ { print $1 }' "$symbols" | sort)
if [ "$from_map" != "$from_deb" ]; then
  echo "debian/libkio0.symbols and lib/libkio.map differ (< map only, > symbols file only):"
  diff <(echo "$from_map") <(echo "$from_deb") | grep '^[<>]' || true
  exit 1
fi
echo "$(echo "$from_map" | wc -l) symbols listed in both"
