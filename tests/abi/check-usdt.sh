#!/bin/bash
# SPDX-License-Identifier: MIT
# The USDT probes are in the library's ELF notes exactly when the build asked
# for them (-Dusdt): provider kio, probes op_start and op_done, four
# arguments each. usage: check-usdt.sh READELF LIBRARY yes|no
set -eu
readelf=$1 lib=$2 want=$3

notes=$("$readelf" -n "$lib")
count() { # provider name: how many probe sites
  awk -v p="$1" -v n="$2" '
    /Provider:/ { prov = $2 }
    /Name:/ { name = $2 }
    /Arguments:/ { if (prov == p && name == n) { c++; if (NF != 5) bad++ } }
    END { print c + 0; if (bad) exit 1 }' <<<"$notes"
}

start=$(count kio op_start) || { echo "an op_start probe without four arguments" >&2; exit 1; }
done_=$(count kio op_done) || { echo "an op_done probe without four arguments" >&2; exit 1; }
echo "op_start sites: $start, op_done sites: $done_"
if [ "$want" = yes ]; then
  [ "$start" -gt 0 ] || { echo "no kio:op_start probe in $lib" >&2; exit 1; }
  [ "$done_" -gt 0 ] || { echo "no kio:op_done probe in $lib" >&2; exit 1; }
else
  if grep -q stapsdt <<<"$notes"; then
    echo "$lib has USDT notes, but the build did not ask for them" >&2
    exit 1
  fi
fi
