#!/bin/sh
# SPDX-License-Identifier: MIT
# Workload 4: 4 KiB random reads of a 1 GiB file.
#
# Cached (the file in the page cache), QD 1 and 32: kio C and C++ on each of kio's backends
# (KIO_BACKEND=io_uring, then epoll); at QD 1 a plain pread(2) loop (kio-bench-fileread
# --pread: the same process, back to back with the kio run); fio io_uring at its best
# (fio-batched: iodepth_batch_submit, iodepth_batch_complete_min=1, norandommap, no latency
# statistics) and fio psync at QD 1. When kio-bench-fileread --help offers --nowait (the
# preadv2(RWF_NOWAIT) attempt), a kio-c-nowait line too.
#
# O_DIRECT (the file on a filesystem that supports it; skipped with the reason otherwise),
# QD 1, 32 and 128: kio-c, fio-batched, fio psync at QD 1; when kio-bench-fileread offers
# --fixed (registered buffers and file), kio-c-fixed against fio-batched-fixed (fixedbufs,
# registerfiles).
#
# Repetitions are the outer loop, the implementations alternate inside it (one process per
# run): run i of every line of a point belongs to pair i (report.py's paired ratios).
# The file goes to $BENCH_TMPDIR (default ${TMPDIR:-/var/tmp}) and is removed afterwards.
set -u
. "$BENCH_SRC/bench/lib.sh"

size_mib=1024
# Run length per repetition: the same for kio (seconds) and fio (milliseconds: fio reads a
# bare "0.5" as 0).
if [ "$BENCH_QUICK" = 1 ]; then ms=200; else ms=4000; fi
secs=$(awk "BEGIN { print $ms / 1000 }")

# The file must fit in the page cache with room to spare.
avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [ "${avail_kib:-0}" -lt $((size_mib * 1024 * 3 / 2)) ]; then
  bench_skip "needs $((size_mib * 3 / 2)) MiB of available memory, ${avail_kib:-?} KiB free"
  exit 0
fi
dir=${BENCH_TMPDIR:-${TMPDIR:-/var/tmp}}
file=$(mktemp "$dir/kio-bench-fileread.XXXXXX") || { bench_skip "cannot create a file in $dir"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$file" "$tmp"' EXIT
if ! head -c $((size_mib * 1024 * 1024)) /dev/zero >"$file" 2>/dev/null; then
  bench_skip "cannot write $size_mib MiB to $dir"
  exit 0
fi
cat "$file" >/dev/null # into the page cache (it is there already after the write)

c_prog=$(bench_prog kio-bench-fileread) || c_prog=""
cxx_prog=$(bench_prog kio-bench-fileread-cxx) || cxx_prog=""
# Options a later kio-bench-fileread may offer: each gets its own line when present.
has_opt() {
  [ -n "$c_prog" ] && "$c_prog" --help 2>&1 | grep -q -- "$1"
}
nowait=0
has_opt --nowait && nowait=1
fixed=0
has_opt --fixed && fixed=1
[ "$nowait" = 1 ] || bench_skip "kio-c-nowait: kio-bench-fileread has no --nowait"
[ "$fixed" = 1 ] || bench_skip "kio-c-fixed: kio-bench-fileread has no --fixed"
have_fio=0
if bench_have fio; then have_fio=1; else bench_skip "fio is not installed (scripts/install-deps.sh bench)"; fi

# O_DIRECT needs a filesystem that takes it (tmpfs does not).
direct=1
if ! dd if="$file" of=/dev/null bs=4096 count=1 iflag=direct 2>"$tmp/dd"; then
  bench_skip "O_DIRECT points: $dir does not support O_DIRECT ($(head -c 120 "$tmp/dd"))"
  direct=0
fi

rc=0

# kio RENAME DIRECT QD BACKEND PROG [OPTION...]: one run of a kio program (--reps 1); the
# line is renamed from the name the program gives (kio-c, kio-cxx, with -epoll on the
# epoll backend) to RENAME when RENAME is not "-". Lines go to $tmp/lines.
kio() {
  _name=$1 _direct=$2 _qd=$3 _backend=$4 _prog=$5
  shift 5
  [ -n "$_prog" ] || return 0
  _d=""
  [ "$_direct" = 1 ] && _d="--direct"
  # shellcheck disable=SC2086 # _d: nothing or one option
  if ! bench_measured env KIO_BACKEND="$_backend" "$_prog" --file "$file" --qd "$_qd" \
    --seconds "$secs" --reps 1 $_d "$@" >"$tmp/out"; then
    echo "fileread: $_prog $* failed at QD $_qd (direct $_direct, $_backend)" >&2
    rc=1
    return 0
  fi
  if [ "$_name" = - ]; then
    cat "$tmp/out" >>"$tmp/lines"
  else
    sed "s/\"impl\":\"kio-c\"/\"impl\":\"$_name\"/" "$tmp/out" >>"$tmp/lines"
  fi
}

# fio_run NAME DIRECT QD ENGINE [OPTION...]: one fio run; appends its IOPS to $tmp/fio.NAME.
fio_run() {
  _name=$1 _direct=$2 _qd=$3 _engine=$4
  shift 4
  [ "$have_fio" = 1 ] || return 0
  # --invalidate=0: fio would otherwise drop the file from the page cache first.
  if bench_measured fio --name=randread --filename="$file" --ioengine="$_engine" \
    --rw=randread --bs=4k --iodepth="$_qd" --direct="$_direct" --size=${size_mib}m \
    --time_based --runtime="${ms}ms" --invalidate=0 --randrepeat=1 "$@" \
    --output-format=json >"$tmp/fio.json" 2>"$tmp/fio.err"; then
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"])' \
      "$tmp/fio.json" >>"$tmp/fio.$_name" || rc=1
  else
    echo "fileread: fio $_name failed at QD $_qd (direct $_direct): $(head -c 300 "$tmp/fio.err")" >&2
    rc=1
  fi
}

# fio at its best: submit the whole depth per enter, reap whatever completed, no random
# map, no latency or bandwidth statistics (gtod_reduce).
fio_batched() {
  _fn=$1 _fd=$2 _fq=$3
  shift 3
  fio_run "$_fn" "$_fd" "$_fq" io_uring --iodepth_batch_submit="$_fq" \
    --iodepth_batch_complete_min=1 --iodepth_batch_complete_max="$_fq" --norandommap \
    --gtod_reduce=1 "$@"
}

# point DIRECT QD: every implementation of one point, $BENCH_REPS times alternating.
point() {
  _pd=$1 _pq=$2
  params="{\"qd\":$_pq}"
  [ "$_pd" = 1 ] && params="{\"qd\":$_pq,\"direct\":1}"
  : >"$tmp/lines"
  rm -f "$tmp"/fio.*
  _r=0
  while [ "$_r" -lt "$BENCH_REPS" ]; do
    if [ "$_pd" = 0 ]; then
      _pr=""
      [ "$_pq" = 1 ] && _pr="--pread"
      # shellcheck disable=SC2086 # _pr: nothing or one option
      kio - 0 "$_pq" io_uring "$c_prog" $_pr
      kio - 0 "$_pq" io_uring "$cxx_prog"
      # The epoll run's own pread line would pair with nothing: only its kio line is kept.
      # shellcheck disable=SC2086
      kio - 0 "$_pq" epoll "$c_prog" $_pr
      [ -n "$_pr" ] && sed -i '$ { /"impl":"pread"/d }' "$tmp/lines"
      kio - 0 "$_pq" epoll "$cxx_prog"
      [ "$nowait" = 1 ] && kio kio-c-nowait 0 "$_pq" io_uring "$c_prog" --nowait
    else
      kio - 1 "$_pq" io_uring "$c_prog"
      [ "$fixed" = 1 ] && kio kio-c-fixed 1 "$_pq" io_uring "$c_prog" --fixed
    fi
    fio_batched fio-batched "$_pd" "$_pq"
    [ "$_pd" = 1 ] && [ "$fixed" = 1 ] &&
      fio_batched fio-batched-fixed "$_pd" "$_pq" --fixedbufs=1 --registerfiles=1
    [ "$_pq" = 1 ] && fio_run fio-psync "$_pd" 1 psync
    _r=$((_r + 1))
  done
  bench_merge "$tmp/lines"
  for _f in "$tmp"/fio.*; do
    [ -f "$_f" ] || continue
    case "$_f" in *.json|*.err) continue ;; esac
    _n=${_f##*/fio.}
    # shellcheck disable=SC2046 # one argument per value
    bench_emit fileread "$_n" "$params" iops IOPS true $(cat "$_f") || rc=1
  done
}

direct_qds="1 32 128"
# --quick: the O_DIRECT point at QD 32 only.
[ "$BENCH_QUICK" = 1 ] && direct_qds=32
for qd in 1 32; do point 0 "$qd"; done
if [ "$direct" = 1 ]; then
  for qd in $direct_qds; do point 1 "$qd"; done
fi
exit $rc
