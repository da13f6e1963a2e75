#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 4: 4 KiB random reads of a 1 GiB file in the page cache at QD 1 and 32:
# kio C and kio C++ on each of kio's backends (KIO_BACKEND=io_uring, then epoll), fio
# --ioengine=io_uring with the same parameters, and at QD 1 a plain pread(2) loop (run by
# kio-bench-fileread --pread in the epoll run's process, back to back with it: the report
# takes the paired kio-c-epoll/pread ratio).
# The file goes to $BENCH_TMPDIR (default ${TMPDIR:-/var/tmp}) and is removed afterwards.
set -u
. "$BENCH_SRC/bench/lib.sh"

size_mib=1024
# Run length per repetition: the same for kio (seconds) and fio (milliseconds: fio reads a
# bare "0.5" as 0).
if [ "$BENCH_QUICK" = 1 ]; then ms=500; else ms=4000; fi
secs=$(awk "BEGIN { print $ms / 1000 }")

# The file must fit in the page cache with room to spare.
avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [ "${avail_kib:-0}" -lt $((size_mib * 1024 * 3 / 2)) ]; then
  bench_skip "needs $((size_mib * 3 / 2)) MiB of available memory, ${avail_kib:-?} KiB free"
  exit 0
fi
dir=${BENCH_TMPDIR:-${TMPDIR:-/var/tmp}}
file=$(mktemp "$dir/kio-bench-fileread.XXXXXX") || { bench_skip "cannot create a file in $dir"; exit 0; }
tmp=$(mktemp)
trap 'rm -f "$file" "$tmp"' EXIT
if ! head -c $((size_mib * 1024 * 1024)) /dev/zero >"$file" 2>/dev/null; then
  bench_skip "cannot write $size_mib MiB to $dir"
  exit 0
fi
cat "$file" >/dev/null # into the page cache (it is there already after the write)

rc=0
for qd in 1 32; do
  for backend in io_uring epoll; do
    for prog in kio-bench-fileread kio-bench-fileread-cxx; do
      p=$(bench_prog "$prog") || continue
      pread=""
      [ "$qd" = 1 ] && [ "$backend" = epoll ] && [ "$prog" = kio-bench-fileread ] &&
        pread="--pread"
      # The programs name the backend they ran on: kio-c, kio-c-epoll, kio-cxx, ...
      # shellcheck disable=SC2086 # $pread: nothing or one option
      bench_pin "$BENCH_SERVER_CPU" env KIO_BACKEND="$backend" "$p" --file "$file" \
        --qd "$qd" --seconds "$secs" --reps "$BENCH_REPS" $pread >>"$BENCH_OUT" || rc=1
    done
  done

  if ! bench_have fio; then
    [ "$qd" = 1 ] && bench_skip "fio is not installed (scripts/install-deps.sh bench)"
    continue
  fi
  # --invalidate=0: fio would otherwise drop the file from the page cache first.
  vals=""
  r=0
  while [ "$r" -lt "$BENCH_REPS" ]; do
    if bench_pin "$BENCH_SERVER_CPU" fio --name=randread --filename="$file" \
      --ioengine=io_uring --rw=randread --bs=4k --iodepth="$qd" --direct=0 \
      --size=${size_mib}m --time_based --runtime="${ms}ms" --invalidate=0 \
      --randrepeat=1 --output-format=json >"$tmp" 2>/dev/null; then
      v=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"])' "$tmp") &&
        vals="$vals $v"
    else
      echo "fileread: fio failed at QD $qd" >&2
      rc=1
    fi
    r=$((r + 1))
  done
  # shellcheck disable=SC2086
  [ -n "$vals" ] && bench_emit fileread fio "{\"qd\":$qd}" iops IOPS true $vals
done
exit $rc
