#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The one command that checks everything, as CI runs it:
#
#   build/       gcc, the whole suite
#   build-asan/  clang-19, ASan + UBSan, the whole suite
#   build-tsan/  clang-19, TSan, the 'threads' suite
#   build-libcxx/ clang-19 with libc++ (-stdlib=libc++, library and tests),
#                the 'cxx' suite: the C++ layer on LLVM's standard library
#   build-fuzz/  clang-19 libFuzzer + ASan + UBSan: each target replays its
#                stored corpus and regressions, then fuzzes for
#                KIO_FUZZ_SECONDS (default 60) from that corpus
#   deb          scripts/deb-test.sh: dpkg-buildpackage -b in a copy of the
#                tree, lintian (no errors), the packages unpacked into a
#                scratch root and used from there (C, static, C++, CMake,
#                Python), the packages kept in build-deb/; skipped
#                when dpkg-buildpackage or lintian is not installed
#                (scripts/install-deps.sh deb)
#   vm           scripts/vm-test.sh: the C suite of build/ inside Debian's
#                6.1 and 6.12 kernels under QEMU (fetched with apt-get
#                download), on io_uring, on epoll, and with io_uring
#                disabled by sysctl where the kernel has it, kernel TLS loaded
#
# Each build's tests run twice: on the io_uring backend (KIO_BACKEND=io_uring;
# where the system refuses io_uring those tests skip) and on the epoll
# backend (KIO_BACKEND=epoll), so every contract test proves both. The gcc
# build then runs a fault pass on each backend: chosen suites once more with
# KIO_FAULTS set (run_fault_pass below; KIO_TEST_FAULT_SEED picks the seed),
# and a page-cache read pass with KIO_READ_NOWAIT=1 (run_nowait_pass).
#
#   scripts/test.sh [normal|asan|tsan|libcxx|fuzz|deb|vm]...   (default: all seven)
#
# Build directories are reused between runs; one configured with another
# compiler or options is wiped. The last line reads "N passed, N failed,
# N skipped", summed over the builds; the exit status is non-zero when
# anything failed, including a build that did not configure or compile.
#
# KIO_TEST_PROCESSES overrides the number of tests run at once (default 2).
# A crash the fuzzers find is kept under build-fuzz/fuzz-artifacts/; copy it
# to tests/fuzz/regressions/TARGET/ with the fix (tests/fuzz/README.md).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

processes=${KIO_TEST_PROCESSES:-2}
total_pass=0
total_fail=0
total_skip=0
summary=()

log() { printf '\n=== %s\n' "$*"; }

# Runs meson setup so that DIR ends up configured with exactly the compilers
# and options given: a fresh setup, a reconfigure when only options moved,
# or a wipe when the compilers differ (meson never changes them in place).
configure() { # DIR CC CXX OPTION...
  local dir=$1 ccname=$2 cxxname=$3
  shift 3
  local want stamp
  want="CC=$ccname CXX=$cxxname $*"
  stamp="$dir/.kio-test-config"
  if [ -f "$dir/meson-private/coredata.dat" ]; then
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
      CC=$ccname CXX=$cxxname meson setup --reconfigure "$dir" "$@" ||
        CC=$ccname CXX=$cxxname meson setup --wipe "$dir" "$@" || return 1
    else
      CC=$ccname CXX=$cxxname meson setup --wipe "$dir" "$@" || return 1
    fi
  else
    rm -rf "$dir"
    CC=$ccname CXX=$cxxname meson setup "$dir" "$@" || return 1
  fi
  printf '%s\n' "$want" >"$stamp"
}

# Reads meson test's closing summary from LOG into $pass $fail $skip.
count_results() { # LOG
  local v
  pass=0 fail=0 skip=0
  for v in Ok 'Expected Fail'; do
    pass=$((pass + $(sed -n "s/^$v: *\([0-9][0-9]*\).*/\1/p" "$1" | tail -n 1 | grep . || echo 0)))
  done
  for v in Fail 'Unexpected Pass' Timeout; do
    fail=$((fail + $(sed -n "s/^$v: *\([0-9][0-9]*\).*/\1/p" "$1" | tail -n 1 | grep . || echo 0)))
  done
  skip=$(sed -n 's/^Skipped: *\([0-9][0-9]*\).*/\1/p' "$1" | tail -n 1 | grep . || echo 0)
}

# One build: configure, compile, test. Adds to the totals and the summary.
# The arrays test_env (VAR=value...) and test_args (extra meson test
# arguments) apply to the test run only.
#   run_build LABEL DIR CC CXX SETUP_OPTION...
run_build() {
  local label=$1 dir=$2 ccname=$3 cxxname=$4
  shift 4

  log "$label: configure $dir"
  if ! configure "$dir" "$ccname" "$cxxname" "$@"; then
    summary+=("$(printf '%-46s configure FAILED' "$label")")
    total_fail=$((total_fail + 1))
    return
  fi
  log "$label: compile"
  if ! ninja -C "$dir"; then
    summary+=("$(printf '%-46s compile FAILED' "$label")")
    total_fail=$((total_fail + 1))
    return
  fi

  local backend
  for backend in io_uring epoll; do
    run_tests "$label [$backend]" "$dir" "$backend"
  done
  if [ "$fault_pass" = yes ]; then
    for backend in io_uring epoll; do
      run_fault_pass "$label" "$dir" "$backend"
      run_nowait_pass "$label" "$dir" "$backend"
    done
  fi
}

# The fault pass: kio's own suites once more with KIO_FAULTS on (kio(7),
# Fault injection), each still holding every contract it tests. Many tests
# assert exact byte counts or results, which some kinds change on purpose
# (short transfers, -ENOMEM at calls, injected cancels), so each suite runs
# with the kinds it holds under for good reasons:
#   all kinds, rate 0.05: test_faults, written for them, and the contract
#     test's storm (its other cases assert exact results);
#   short transfers and the loop's faults (eagain, eintr, delay, overflow),
#     rate 0.05: the suites that loop over partial transfers, the soak test
#     (5 s) and the examples' echo tests, whose client checks every byte;
#   the kinds that keep every result (eagain, eintr, delay, overflow),
#     rate 0.2: those and the suites that assert exact counts.
# The C++ suites run in their C++20 build (the C++23 one is the same code).
# Left out: test_log (it counts log lines, and a context with faults logs
# one), the malloc-counting tests (injection allocates), test_tls_ktls.
# KIO_TEST_FAULT_SEED picks the seed (default 1): a failure repeats with it.
fault_stream_tests=(test_post test_poll test_time test_cancel test_sigpipe test_fastpath
  test_stats test_net_multishot test_bufring test_sendfile test_pool test_resolve test_signal
  test_faults test_tls test_tls_verify test_tls_interop
  cxx_task_20 cxx_time_20 cxx_poll_20 cxx_task_group_20 cxx_signal_20 cxx_awaiter_20
  echo-basic echo-many echo-large echo-starved cxx-echo-server multicore-echo)
fault_kept_tests=("${fault_stream_tests[@]}" test_context test_contract test_file test_backend
  test_embed test_net cxx_file_20 cxx_net_20 cxx_net_ops_20)
fault_pass=no

# The names given that DIR defines as tests (TLS, C++ may be configured out).
defined_tests() { # DIR NAME...
  local dir=$1 list
  shift
  list=$(meson test -C "$dir" --no-rebuild --list 2>/dev/null | sed 's|.* / ||')
  local t
  for t in "$@"; do
    grep -qx -- "$t" <<<"$list" && printf '%s\n' "$t"
  done
}

# Runs the fault pass of a built DIR on BACKEND; adds to the totals.
run_fault_pass() { # LABEL DIR BACKEND
  local label=$1 dir=$2 backend=$3 seed=${KIO_TEST_FAULT_SEED:-1}
  local saved_env=("${test_env[@]}") saved_args=("${test_args[@]}") names
  local loop_kinds=eagain,eintr,delay,overflow
  test_env=("${saved_env[@]}" "KIO_FAULTS=seed=$seed,rate=0.05,kinds=all")
  test_args=("${saved_args[@]}" test_faults test_contract)
  run_tests "$label [$backend, faults: all]" "$dir" "$backend" "$backend-faults-all"
  test_env=("${saved_env[@]}" "KIO_FAULTS=seed=$seed,rate=0.05,kinds=short,$loop_kinds")
  mapfile -t names < <(defined_tests "$dir" "${fault_stream_tests[@]}")
  test_args=("${saved_args[@]}" "${names[@]}")
  run_tests "$label [$backend, faults: short+loop]" "$dir" "$backend" "$backend-faults-short"
  test_args=("${saved_args[@]}" soak --test-args 5)
  run_tests "$label [$backend, faults: short+loop, soak 5 s]" "$dir" "$backend" \
    "$backend-faults-soak"
  test_env=("${saved_env[@]}" "KIO_FAULTS=seed=$seed,rate=0.2,kinds=$loop_kinds")
  mapfile -t names < <(defined_tests "$dir" "${fault_kept_tests[@]}")
  test_args=("${saved_args[@]}" "${names[@]}")
  run_tests "$label [$backend, faults: loop]" "$dir" "$backend" "$backend-faults-loop"
  test_env=("${saved_env[@]}")
  test_args=("${saved_args[@]}")
}

# The page-cache read pass: the suites that read files, once more with
# KIO_READ_NOWAIT=1 (kio_ctx_create(3)): every result must be the same.
nowait_tests=(test_file test_contract test_backend test_read_nowait test_fixed test_files test_sendfile
  test_faults cxx_file_20 kio-copy-copy kio-copy-copy-odd-size kio-copy-cat-file)

# Runs the page-cache read pass of a built DIR on BACKEND; adds to the totals.
run_nowait_pass() { # LABEL DIR BACKEND
  local label=$1 dir=$2 backend=$3 names
  local saved_env=("${test_env[@]}") saved_args=("${test_args[@]}")
  test_env=("${saved_env[@]}" "KIO_READ_NOWAIT=1")
  mapfile -t names < <(defined_tests "$dir" "${nowait_tests[@]}")
  test_args=("${saved_args[@]}" "${names[@]}")
  run_tests "$label [$backend, read nowait]" "$dir" "$backend" "$backend-read-nowait"
  test_env=("${saved_env[@]}")
  test_args=("${saved_args[@]}")
}

# One meson test run of a built DIR on BACKEND; adds to the totals.
run_tests() { # LABEL DIR BACKEND [LOG_NAME]
  local label=$1 dir=$2 backend=$3 start secs rc testlog
  log "$label: KIO_BACKEND=$backend ${test_env[*]} meson test ${test_args[*]}"
  testlog="$dir/meson-logs/kio-test-sh-${4:-$backend}.txt"
  start=$(date +%s)
  env KIO_BACKEND="$backend" "${test_env[@]}" meson test -C "$dir" --no-rebuild --print-errorlogs \
    --num-processes "$processes" "${test_args[@]}" 2>&1 | tee "$testlog"
  rc=${PIPESTATUS[0]}
  secs=$(($(date +%s) - start))
  count_results "$testlog"
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    # meson itself failed (bad suite name, broken test setup...): never silent.
    fail=1
  fi
  if [ "$((pass + fail + skip))" -eq 0 ]; then
    echo "$label: no test ran" >&2
    fail=1
  fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  total_skip=$((total_skip + skip))
  summary+=("$(printf '%-46s %d passed, %d failed, %d skipped; tests took %ds' \
    "$label" "$pass" "$fail" "$skip" "$secs")")
}

# Clang's TSan needs a memory layout that high mmap randomisation
# (vm.mmap_rnd_bits > 28 on newer kernels) can break. LLVM 18+ re-executes
# itself without ASLR when it can; if that does not work here, run each test
# through `setarch -R`. Prints the wrapper to use (possibly empty), or fails
# when TSan cannot run at all.
tsan_wrapper() {
  local dir rc=0
  dir=$(mktemp -d "${TMPDIR:-/tmp}/kio-tsan-probe.XXXXXX")
  cat >"$dir/probe.c" <<'EOF'
#include <pthread.h>
static int shared;
static void *bump(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&shared, 1, __ATOMIC_SEQ_CST);
	return NULL;
}
int main(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, bump, NULL) != 0)
		return 1;
	bump(NULL);
	pthread_join(t, NULL);
	return __atomic_load_n(&shared, __ATOMIC_SEQ_CST) == 2 ? 0 : 1;
}
EOF
  if ! clang-19 -fsanitize=thread -g -O1 "$dir/probe.c" -o "$dir/probe" -pthread >&2; then
    rc=2
  elif "$dir/probe" >/dev/null 2>"$dir/err"; then
    :
  elif setarch "$(uname -m)" -R "$dir/probe" >/dev/null 2>>"$dir/err"; then
    echo "setarch $(uname -m) -R"
  else
    cat "$dir/err" >&2
    rc=1
  fi
  rm -rf "$dir"
  return "$rc"
}

# The fuzz build: the targets' replay tests (suite 'fuzz'), then each
# target fuzzed for a bounded time from a scratch copy of its corpus, so
# the tree stays as it is. The fuzzers pick the backend per input.
run_fuzz() {
  local label="build-fuzz (clang-19 libFuzzer, ASan+UBSan)" dir=build-fuzz t secs start rc
  local seconds=${KIO_FUZZ_SECONDS:-60}
  log "$label: configure $dir"
  if ! configure "$dir" clang-19 clang++-19 -Dtests=disabled -Dbench=disabled -Dexamples=disabled \
    -Dfuzz=enabled -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=fuzzer-no-link -Dcpp_args=-fsanitize=fuzzer-no-link; then
    summary+=("$(printf '%-46s configure FAILED' "$label")")
    total_fail=$((total_fail + 1))
    return
  fi
  log "$label: compile"
  if ! ninja -C "$dir"; then
    summary+=("$(printf '%-46s compile FAILED' "$label")")
    total_fail=$((total_fail + 1))
    return
  fi
  test_env=(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1)
  test_args=(--suite fuzz)
  run_tests "$label [replay]" "$dir" io_uring
  mkdir -p "$dir/fuzz-artifacts"
  for t in fuzz_api fuzz_tls_peer; do
    [ -x "$dir/tests/fuzz/$t" ] || continue
    log "$label: $t for ${seconds}s"
    rm -rf "$dir/fuzz-corpus/$t"
    mkdir -p "$dir/fuzz-corpus/$t"
    cp tests/fuzz/corpus/$t/* "$dir/fuzz-corpus/$t/" 2>/dev/null
    start=$(date +%s)
    # libFuzzer stops itself after max_total_time; the outer timeout only
    # catches a hang it cannot see (an input blocked between its alarms).
    timeout -k 10 $((seconds + 120)) env "${test_env[@]}" "$dir/tests/fuzz/$t" \
      -max_total_time="$seconds" -timeout=60 \
      -error_exitcode=1 -print_final_stats=1 -artifact_prefix="$dir/fuzz-artifacts/$t-" \
      "$dir/fuzz-corpus/$t" >"$dir/meson-logs/$t.txt" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    tail -n 12 "$dir/meson-logs/$t.txt"
    if [ "$rc" -eq 0 ]; then
      total_pass=$((total_pass + 1))
      summary+=("$(printf '%-46s %s: no crash in %ds (%s runs)' "$label" "$t" "$secs" \
        "$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/meson-logs/$t.txt")")")
    else
      total_fail=$((total_fail + 1))
      grep -E -A3 'INVARIANT|ERROR: (Address|Undefined|Leak)Sanitizer|deadly signal' \
        "$dir/meson-logs/$t.txt" | head -n 40
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        summary+=("$(printf '%-46s %s: FAILED, hung (killed after %ds); see %s' "$label" "$t" \
          "$secs" "$dir/meson-logs/$t.txt")")
      else
        summary+=("$(printf '%-46s %s: FAILED (exit %d); input in %s' "$label" "$t" "$rc" \
          "$dir/fuzz-artifacts/")")
      fi
    fi
  done
}

# The Debian packages: scripts/deb-test.sh counts as one test; its exit
# status 77 (dpkg-buildpackage, lintian... not installed) is a skip.
run_deb() {
  local label="deb (dpkg-buildpackage, lintian)" start secs rc
  log "$label: scripts/deb-test.sh"
  start=$(date +%s)
  mkdir -p build-deb
  rm -f build-deb/*.deb build-deb/*.changes
  "$root/scripts/deb-test.sh" build-deb 2>&1 | tee build-deb/deb-test.log
  rc=${PIPESTATUS[0]}
  secs=$(($(date +%s) - start))
  case "$rc" in
    0)
      total_pass=$((total_pass + 1))
      summary+=("$(printf '%-46s %s; took %ds' "$label" \
        "$(sed -n 's/^deb-test: \([0-9]* passed, [0-9]* failed\)$/\1/p' build-deb/deb-test.log)" "$secs")")
      ;;
    77)
      total_skip=$((total_skip + 1))
      summary+=("$(printf '%-46s skipped: packaging tools not installed (scripts/install-deps.sh deb)' "$label")")
      ;;
    *)
      total_fail=$((total_fail + 1))
      summary+=("$(printf '%-46s FAILED (exit %d); log in build-deb/deb-test.log' "$label" "$rc")")
      ;;
  esac
}

# The kernel matrix: the C suite inside Debian's 6.1 and 6.12 kernels under
# QEMU (scripts/vm-test.sh), with the test programs of build/ (the normal
# build, which must come first). One test per kernel in the totals; a
# skip when QEMU is missing or the kernel package cannot be fetched.
run_vm() {
  local label="vm (QEMU: Debian 6.1, 6.12)" start secs rc k line
  if [ ! -x build/tests/c/test_version ]; then
    summary+=("$(printf '%-46s skipped: needs the normal build (scripts/test.sh normal vm)' "$label")")
    total_skip=$((total_skip + 1))
    return
  fi
  if ! command -v qemu-system-x86_64 >/dev/null; then
    summary+=("$(printf '%-46s skipped: QEMU not installed (scripts/install-deps.sh vm)' "$label")")
    total_skip=$((total_skip + 1))
    return
  fi
  for k in 6.1 6.12; do
    log "$label: scripts/vm-test.sh $k"
    start=$(date +%s)
    "$root/scripts/vm-test.sh" --build build "$k" 2>&1 | tee "build/meson-logs/vm-$k.txt"
    rc=${PIPESTATUS[0]}
    secs=$(($(date +%s) - start))
    line=$(sed -n 's/^linux-image-[^:]*: //p' "build/meson-logs/vm-$k.txt" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
      total_pass=$((total_pass + 1))
      summary+=("$(printf '%-46s %s: %s' "$label" "$k" "$line")")
    elif grep -q 'apt-get download .* failed\|no Debian kernel package' "build/meson-logs/vm-$k.txt"; then
      total_skip=$((total_skip + 1))
      summary+=("$(printf '%-46s %s: skipped: the kernel package cannot be fetched' "$label" "$k")")
    else
      total_fail=$((total_fail + 1))
      summary+=("$(printf '%-46s %s: FAILED: %s; log in build/meson-logs/vm-%s.txt' "$label" "$k" \
        "${line:-the guest did not finish}" "$k")")
    fi
  done
}

builds=("$@")
[ "${#builds[@]}" -gt 0 ] || builds=(normal asan tsan libcxx fuzz deb vm)
for b in "${builds[@]}"; do
  case "$b" in
    normal | asan | tsan | libcxx | fuzz | deb | vm) ;;
    *)
      echo "usage: $0 [normal|asan|tsan|libcxx|fuzz|deb|vm]..." >&2
      exit 2
      ;;
  esac
done

log "dependencies"
groups=(test)
for b in "${builds[@]}"; do
  case "$b" in
    deb | vm) groups+=("$b") ;;
  esac
done
for g in "${groups[@]}"; do
  if ! "$root/scripts/install-deps.sh" "$g"; then
    echo "install-deps.sh $g failed" >&2
    exit 1
  fi
done

common_opts=(-Dtests=enabled -Dbench=enabled -Ddefault_library=both)

for b in "${builds[@]}"; do
  case "$b" in
    normal)
      test_env=()
      test_args=()
      fault_pass=yes
      run_build "build (gcc)" build gcc g++ "${common_opts[@]}" -Db_sanitize=none
      fault_pass=no
      ;;
    asan)
      test_env=(UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1)
      test_args=(--timeout-multiplier 3)
      run_build "build-asan (clang-19 ASan+UBSan)" build-asan clang-19 clang++-19 \
        "${common_opts[@]}" -Db_sanitize=address,undefined -Db_lundef=false
      ;;
    tsan)
      if wrapper=$(tsan_wrapper); then
        test_env=(TSAN_OPTIONS=halt_on_error=1)
        test_args=(--suite threads --timeout-multiplier 3)
        if [ -n "$wrapper" ]; then
          echo "TSan: running the tests through '$wrapper'"
          test_args+=(--wrapper "$wrapper")
        fi
        run_build "build-tsan (clang-19 TSan, threads)" build-tsan clang-19 clang++-19 \
          "${common_opts[@]}" -Db_sanitize=thread -Db_lundef=false
      else
        echo "TSan programs built by clang-19 do not run on this machine" >&2
        summary+=("$(printf '%-46s FAILED: TSan cannot run here' "build-tsan (clang-19 TSan)")")
        total_fail=$((total_fail + 1))
      fi
      ;;
    libcxx)
      # libc++ 19 keeps std::stop_token behind -fexperimental-library: the
      # layer's own stop tokens (detail/stop_token.hpp) are what runs here.
      test_env=()
      test_args=(--suite cxx)
      run_build "build-libcxx (clang-19 libc++, cxx)" build-libcxx clang-19 clang++-19 \
        -Dtests=enabled -Dbench=disabled -Dexamples=disabled -Ddefault_library=shared \
        -Db_sanitize=none -Dcpp_args=-stdlib=libc++ -Dcpp_link_args=-stdlib=libc++
      ;;
    fuzz)
      run_fuzz
      ;;
    deb)
      run_deb
      ;;
    vm)
      run_vm
      ;;
  esac
done

log "summary"
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
