#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the Tokio peers offline: copies this directory to BUILD/tokio and points cargo at
# the crates the distribution installs (librust-tokio-dev puts them in
# /usr/share/cargo/registry) with a directory source replacement written there, so nothing
# is fetched and no machine path is kept in the tree. Programs: BUILD/bench/kio-bench-*-tokio.
#
#   bench/tokio/build.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")" && pwd)
registry=${KIO_BENCH_CARGO_REGISTRY:-/usr/share/cargo/registry}
if ! command -v cargo >/dev/null 2>&1; then
  echo "skipped: tokio: cargo is not installed (scripts/install-deps.sh bench)" >&2
  exit 0
fi
if [ ! -d "$registry/tokio-1.24.2" ] && ! ls -d "$registry"/tokio-1.* >/dev/null 2>&1; then
  echo "skipped: tokio: no tokio crate in $registry (librust-tokio-dev)" >&2
  exit 0
fi
work="$build/tokio"
mkdir -p "$work/.cargo" "$work/src/bin" "$build/bench"
cp "$src/Cargo.toml" "$work/"
cp "$src/src/lib.rs" "$work/src/"
cp "$src/src/bin/"*.rs "$work/src/bin/"
cat >"$work/.cargo/config.toml" <<CONFIG
[source.crates-io]
replace-with = "distribution"

[source.distribution]
directory = "$registry"

[net]
offline = true
CONFIG
if ! (cd "$work" && cargo build --release --quiet) >"$work/build.log" 2>&1; then
  echo "tokio: cargo build failed (see $work/build.log):" >&2
  tail -n 20 "$work/build.log" >&2
  exit 1
fi
for b in echo http timers; do
  cp "$work/target/release/$b" "$build/bench/kio-bench-$b-tokio"
done
