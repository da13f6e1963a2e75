#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages kio needs. Safe to run any number of times.
#
#   scripts/install-deps.sh            build + tests + sanitizers + benchmarks + packaging + vm
#   scripts/install-deps.sh build      only what building libkio and the examples needs
#   scripts/install-deps.sh test       build + test runners + sanitizer runtimes
#   scripts/install-deps.sh bench      build + every peer and tool bench/run.sh uses
#   scripts/install-deps.sh deb        build + the tools that build and check the Debian
#                                      packages (dpkg-buildpackage, scripts/deb-test.sh)
#   scripts/install-deps.sh vm         QEMU, a static busybox and cpio: the kernel matrix
#                                      (scripts/vm-test.sh boots Debian's 6.1 and 6.12)
#
# Runs apt-get as root, or through sudo when the caller is not root.
set -eu

# systemtap-sdt-dev: <sys/sdt.h> for the USDT probes (-Dusdt; a header, no runtime dependency).
build="build-essential pkg-config meson ninja-build liburing-dev libssl-dev python3 systemtap-sdt-dev"
# test: abigail-tools gives abidiff and abidw, which tests/abi compares the released ABIs with;
# cmake builds the CMake consumer of an installed kio (tests/abi/check-cmake.sh);
# libc++-19-dev libc++abi-19-dev: the C++ suite built against libc++ (build-libcxx).
test="openssl libcmocka-dev libcriterion-dev clang-19 libclang-rt-19-dev llvm-19 libc++-19-dev libc++abi-19-dev mandoc valgrind abigail-tools cmake python3-pip python3-setuptools python3-wheel"
# bench/run.sh: peers (libuv, Boost.Asio, fio, wrk; Tokio: cargo and the tokio crate, built
# offline from the distribution's crates), the chart (gnuplot), pinning and SCHED_FIFO
# (taskset, chrt from util-linux), profilers (perf, valgrind); its report is plain Python 3.
bench="libuv1-dev libboost1.81-dev fio wrk gnuplot-nox linux-perf valgrind util-linux python3 cargo librust-tokio-dev"
# deb: dpkg-buildpackage -b with debian/ (debhelper, dh-python for python3-kio), lintian
# for the checks, fakeroot to build without root (build-essential and the build group cover
# debian/control's other Build-Depends).
deb="debhelper devscripts dh-python lintian fakeroot dpkg-dev"
# vm: scripts/vm-test.sh boots Debian's kernels (fetched with apt-get download) in QEMU
# with an initramfs of a static busybox and the test programs, packed by cpio.
vm="qemu-system-x86 busybox-static cpio xz-utils"

case "${1:-all}" in
  build) pkgs="$build" ;;
  test)  pkgs="$build $test" ;;
  bench) pkgs="$build $bench" ;;
  deb)   pkgs="$build $deb" ;;
  vm)    pkgs="$build $vm" ;;
  all)   pkgs="$build $test $bench $deb $vm" ;;
  *) echo "usage: $0 [build|test|bench|deb|vm|all]" >&2; exit 2 ;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Skip the network entirely when everything is already there (second run, CI re-run).
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing$missing"
if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
  echo "install-deps: not root and no sudo: install these packages by hand:$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
