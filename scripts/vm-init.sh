#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the initramfs scripts/vm-test.sh boots: sets up the guest, runs
# every test in /kio/tests (NAME TIMEOUT PROGRAM [VAR=VALUE...]) on each
# backend, prints "kio-vm: ..." lines and powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
# The initramfs is in memory and writable already: /tmp stays as it is (a
# tmpfs over it would hide test programs built under /tmp).
chmod 1777 /tmp
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
ip link set lo up
ulimit -n 65536 2>/dev/null
# No guest process should be killed for its memory or block on an fd limit.
echo "kio-vm: kernel $(uname -r), $(nproc) CPUs"

loaded=""
for m in /kio/modules/*.ko; do
  [ -f "$m" ] || continue
  name=${m##*/[0-9][0-9]-}
  if insmod "$m" 2>/tmp/insmod.err; then
    loaded="$loaded ${name%.ko}"
  else
    echo "kio-vm: insmod ${name%.ko}: $(cat /tmp/insmod.err)"
  fi
done
case " $loaded " in
  *" tls "*)
    echo "kio-vm: kernel TLS module loaded, with:$loaded"
    export KIO_TEST_REQUIRE_KTLS=1
    ;;
  *) echo "kio-vm: kernel TLS module not loaded" ;;
esac

if [ -f /kio/exec ]; then
  while read -r prog; do
    echo "kio-vm: exec $prog"
    (cd /tmp && timeout 120 "$prog") 2>&1 | sed 's/^/kio-vm:   /'
  done </kio/exec
fi

pass=0 fail=0 skip=0
failed=""
run_pass() { # LABEL [VAR=VALUE...]
  label=$1
  shift
  while read -r name timeout _ run; do
    start=$(date +%s)
    # run: the test's environment, then its command line (vm-test.sh).
    (cd /tmp && eval "env $* timeout $((timeout * 4)) env $run") >/tmp/out 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    case $rc in
      0) pass=$((pass + 1)); result=OK ;;
      77) skip=$((skip + 1)); result=SKIP ;;
      *)
        fail=$((fail + 1)); result="FAIL (exit $rc)"
        failed="$failed $label/$name"
        tail -n 40 /tmp/out | sed 's/^/  | /'
        ;;
    esac
    echo "kio-vm: [$label] $name $result ${secs}s"
    # What the kernel took over, as the kTLS test reports it.
    grep -E '^(kernel TLS taken|OpenSSL .* by itself)' /tmp/out | sed 's/^/kio-vm:   /'
    if [ "$result" = SKIP ]; then
      grep -i -m 2 'skip' /tmp/out | sed 's/^/  | /'
    fi
  done </kio/tests
}

run_pass io_uring KIO_BACKEND=io_uring
if [ "$(cat /kio/quick)" != 1 ]; then
  run_pass epoll KIO_BACKEND=epoll
  if [ -w /proc/sys/kernel/io_uring_disabled ]; then
    # As a hardened host or a container runtime would: kio must fall back by itself.
    echo 2 >/proc/sys/kernel/io_uring_disabled
    run_pass io_uring_disabled
    echo 0 >/proc/sys/kernel/io_uring_disabled
  else
    echo "kio-vm: this kernel has no kernel.io_uring_disabled (added in 6.6)"
  fi
fi

echo "kio-vm: failed:${failed:- none}"
echo "kio-vm: $pass passed, $fail failed, $skip skipped"
sync
poweroff -f
