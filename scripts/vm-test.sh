#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs kio's C test suite inside the kernels its users run, under QEMU:
#
#   scripts/vm-test.sh [--build DIR] [--quick] [--only TEST,...] [--exec PROG]... [KERNEL...]
#
# KERNEL is 6.1 (Debian 12's own kernel) or 6.12 (its newer stable line);
# both by default. Each kernel is Debian's cloud image, fetched with
# `apt-get download` into a cache (KIO_VM_CACHE, default ~/.cache/kio-vm)
# and booted with a small initramfs that holds a static busybox, the test
# programs of DIR (default build/, built by meson with tests enabled), the
# shared objects they load, and the kernel's tls module. Inside, every test
# of the 'c' suite runs on the io_uring backend and on the epoll backend;
# where the kernel has kernel.io_uring_disabled, once more with io_uring
# disabled there, so that the fallback engages by itself. kernel TLS is
# loaded first (KIO_TEST_REQUIRE_KTLS=1: the kTLS tests must run, not skip).
#
# --quick runs a shorter list (the contract, backend, TLS and kTLS tests)
# on io_uring only: the pass scripts/test.sh runs in CI. --only runs the
# named tests (on every backend unless --quick). --exec runs PROG (a host
# program, copied in with its libraries) in the guest first and prints its
# output: for looking at what a kernel does.
#
# KVM is used when /dev/kvm works (a probe boot says so), TCG otherwise.
# The guest prints one line per test and a summary; this script prints
# them (with the output of each failed test) and exits non-zero when a test
# failed or the guest did not finish; the whole console log is kept in the
# cache as NAME.log.
# Everything it needs comes from Debian packages (install-deps.sh vm).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
quick=0
only=
exec_prog=()
kernels=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd) || exit 2; shift 2 ;;
    --quick) quick=1; shift ;;
    --only) only=$2; shift 2 ;;
    --exec) exec_prog+=("$2"); shift 2 ;;
    -h | --help)
      sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    6.1 | 6.12) kernels+=("$1"); shift ;;
    *) echo "usage: $0 [--build DIR] [--quick] [6.1] [6.12]" >&2; exit 2 ;;
  esac
done
[ "${#kernels[@]}" -gt 0 ] || kernels=(6.1 6.12)

cache=${KIO_VM_CACHE:-${HOME:-/tmp}/.cache/kio-vm}
mkdir -p "$cache" || exit 1

die() {
  echo "vm-test: $*" >&2
  exit 1
}

for tool in qemu-system-x86_64 cpio; do
  command -v "$tool" >/dev/null || die "$tool is missing: scripts/install-deps.sh vm"
done
busybox=/bin/busybox
[ -x "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
  busybox=$(command -v busybox 2>/dev/null)
[ -n "$busybox" ] || die "busybox (static) is missing: scripts/install-deps.sh vm"
[ -d "$build/tests/c" ] || die "$build has no tests/c: configure it with -Dtests=enabled and build it"

# The kernel package for a version: Debian's meta-packages name the newest.
kernel_package() { # VERSION
  local meta
  case "$1" in
    6.1) meta=linux-image-cloud-amd64 ;;
    6.12) meta=linux-image-6.12-cloud-amd64 ;;
  esac
  apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1
}

# Unpacks the kernel VERSION into $cache/NAME; sets $kdir $kname.
fetch_kernel() { # VERSION
  kname=$(kernel_package "$1")
  [ -n "$kname" ] || die "no Debian kernel package found for $1 (apt-get update?)"
  kdir=$cache/$kname
  if [ ! -f "$kdir/.unpacked" ]; then
    rm -rf "$kdir"
    mkdir -p "$kdir"
    (cd "$cache" && chmod 0777 . && apt-get download "$kname" >/dev/null 2>&1) ||
      die "apt-get download $kname failed"
    dpkg-deb -x "$cache/${kname}"_*.deb "$kdir" || die "cannot unpack $kname"
    touch "$kdir/.unpacked"
  fi
}

# The test list: name, timeout, program, and the environment and command line
# that run it (from meson's introspection).
test_list() {
  meson introspect --tests "$build" | python3 -c '
import json, os, shlex, sys
quick = sys.argv[1] == "1"
only = set(filter(None, sys.argv[2].split(",")))
keep = {"test_contract", "test_backend", "test_context", "test_net", "test_file",
        "test_tls", "test_tls_ktls", "test_sendfile", "test_cancel", "test_sigpipe"}
for t in json.load(sys.stdin):
    suites = [s.split(":")[-1] for s in t["suite"]]
    if "c" not in suites or quick and t["name"] not in keep or only and t["name"] not in only:
        continue
    env = [shlex.quote(k + "=" + v) for k, v in sorted(t["env"].items())
           if k != "LD_LIBRARY_PATH"]
    # The program alone (what the image needs), then what runs it: the
    # environment and the whole command line, arguments included.
    print(t["name"], t["timeout"], t["cmd"][0],
          " ".join(env + [shlex.quote(a) for a in t["cmd"]]))
' "$quick" "$only"
}

# Copies FILE and every shared object it loads into the tree DEST, at
# the same absolute paths.
copy_with_libs() { # DEST FILE...
  local dest=$1 f lib
  shift
  for f in "$@"; do
    mkdir -p "$dest$(dirname "$f")"
    cp -L "$f" "$dest$f"
    ldd "$f" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' |
      while read -r lib; do
        if [ ! -e "$dest$lib" ]; then
          mkdir -p "$dest$(dirname "$lib")"
          cp -L "$lib" "$dest$lib"
        fi
      done
  done
}

# Builds $work/initrd.gz for kernel $kdir: busybox, tests, libraries, tls.ko.
make_initramfs() {
  local r=$work/root f ko
  rm -rf "$r"
  mkdir -p "$r"/{bin,dev,proc,sys,tmp,etc,kio,run}
  cp "$busybox" "$r/bin/busybox"
  # The tests, at their build paths (their RUNPATH finds libkio.so there).
  mkdir -p "$r$build/lib"
  cp -a "$build"/lib/libkio.so* "$r$build/lib/"
  test_list >"$r/kio/tests"
  [ -s "$r/kio/tests" ] || die "no test of the 'c' suite found in $build"
  while read -r name _ exe _; do
    copy_with_libs "$r" "$exe"
  done <"$r/kio/tests"
  copy_with_libs "$r" "$build"/lib/libkio.so.0
  # openssl(1) for the interoperability tests (s_server, s_client), with its config.
  if [ -x /usr/bin/openssl ]; then
    copy_with_libs "$r" /usr/bin/openssl
    [ -f /usr/lib/ssl/openssl.cnf ] && mkdir -p "$r/usr/lib/ssl" && cp -L /usr/lib/ssl/openssl.cnf "$r/usr/lib/ssl/"
  fi
  # Debug info is for the host: a smaller image boots faster.
  find "$r" -type f \( -name '*.so*' -o -path "*/tests/*" \) -exec strip --strip-debug {} + 2>/dev/null
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$r/etc/hosts"
  printf 'hosts: files\n' >"$r/etc/nsswitch.conf"
  printf 'root:x:0:0:root:/:/bin/sh\n' >"$r/etc/passwd"
  # Kernel TLS and the ciphers it asks the crypto API for (gcm(aes),
  # ccm(aes), chacha20-poly1305): modules in Debian's cloud kernels, which a
  # guest without a module tree cannot load on demand.
  python3 "$root/scripts/vm-modules.py" "$(ls -d "$kdir"/lib/modules/* | head -n 1)" "$r/kio/modules" \
    tls gcm ghash-generic ctr seqiv ccm aesni-intel chacha20poly1305 chacha-generic \
    poly1305-generic >/dev/null || die "cannot collect the kernel modules"
  if [ "${#exec_prog[@]}" -gt 0 ]; then
    copy_with_libs "$r" "${exec_prog[@]}"
    printf '%s\n' "${exec_prog[@]}" >"$r/kio/exec"
  fi
  cp "$root/scripts/vm-init.sh" "$r/init"
  chmod +x "$r/init"
  printf '%s\n' "$quick" >"$r/kio/quick"
  (cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz" ||
    die "cannot pack the initramfs"
}

# Whether KVM boots a guest here (it has been seen to hang): a 15 s probe.
kvm_works() {
  [ -w /dev/kvm ] || return 1
  [ -n "${kvm_ok:-}" ] && return "$kvm_ok"
  timeout 15 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nographic -no-reboot \
    -kernel "$1" -append "console=ttyS0 panic=-1 rdinit=/nonexistent" \
    </dev/null >"$work/kvm-probe.log" 2>&1
  if grep -q 'Kernel panic\|No working init\|Run /nonexistent' "$work/kvm-probe.log"; then
    kvm_ok=0
  else
    kvm_ok=1
  fi
  return "$kvm_ok"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/kio-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
summary=()
for k in "${kernels[@]}"; do
  fetch_kernel "$k"
  vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n 1)
  echo "=== $kname ($(basename "$vmlinuz"))"
  make_initramfs
  if kvm_works "$vmlinuz"; then
    accel=(-accel kvm -cpu host)
    limit=1200
  else
    accel=(-accel tcg -cpu max)
    limit=${KIO_VM_TIMEOUT:-2400}
  fi
  echo "booting with ${accel[1]}; initramfs $(du -h "$work/initrd.gz" | cut -f1)"
  start=$(date +%s)
  timeout "$limit" qemu-system-x86_64 "${accel[@]}" -smp 2 -m 2048 -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1 loglevel=3" </dev/null 2>&1 |
    tee "$work/guest.log" | grep --line-buffered -E '^(kio-vm:|  \| )'
  secs=$(($(date +%s) - start))
  cp "$work/guest.log" "$cache/$kname.log"
  line=$(grep -E '^kio-vm: [0-9]+ passed' "$work/guest.log" | tail -n 1 | tr -d '\r')
  if [ -z "$line" ]; then
    tail -n 30 "$work/guest.log"
    summary+=("$kname: the guest did not finish (${secs}s)")
    status=1
    continue
  fi
  summary+=("$kname: ${line#kio-vm: } (${secs}s, ${accel[1]})")
  case "$line" in
    *" 0 failed"*) ;;
    *) status=1 ;;
  esac
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit "$status"
