#!/bin/sh
# SPDX-License-Identifier: MIT
# The examples, unchanged, doing their real work where io_uring is blocked
# the way a container runtime blocks it: this script re-runs itself under
# kio-no-uring (a seccomp filter, inherited by everything it starts), so
# every program below meets io_uring_setup failing with ERRNO and must fall
# back to the epoll backend, say so once on stderr, and still get its job
# done.
#
#   test-no-uring.sh ERRNO CASE PATH/TO/kio-no-uring PATH/TO/backend-probe [ARG...]
#
# ERRNO: EPERM (Docker's default profile, Kubernetes RuntimeDefault,
# kernel.io_uring_disabled), ENOSYS (a kernel without io_uring) or EACCES.
# CASE and its ARGs (the programs, as meson built them):
#   probe                        only the premise, below, plus: without the
#                                filter, a machine with io_uring gets it
#   tool                         kio-no-uring's own behaviour (usage, exit
#                                statuses, inheritance, stacking)
#   kio-copy KIO_COPY            file to file and pipe to pipe, cmp
#   echo SERVER CLIENT           echo-server + echo-client, a roomy and a
#                                starved buffer ring, SIGINT stop
#   cxx-echo SERVER CLIENT       cxx-echo-server + echo-client, SIGTERM
#   multicore-echo SERVER CLIENT multicore-echo (2 workers, 2 contexts, one
#                                process) + echo-client, SIGINT stop
#   timers TIMERS                every timer step behaves as documented
#   kio-cp KIO_CP                file and pipe copies through the C++ layer
#   tls TLS_ECHO TLS_GET OPENSSL kio-tls-get against kio-tls-echo, verified
#   python PYTHON3 LIBKIO        examples/python/kio_demo.py copy and echo
# An ARG "missing:WHY" means the build lacks that piece: the test skips.
#
# The premise, checked first in every case under the filter: the three
# io_uring system calls fail with ERRNO, a context that demands io_uring
# (KIO_CTX_NO_FALLBACK) fails with ERRNO, a default one runs on epoll.
# Every process that creates a context must print the fallback line
# ("kio: INFO: ... using the epoll backend", KIO_LOG_LEVEL=info) exactly
# once, naming ERRNO's message. A program exiting 77 ("no io_uring here")
# is a failure here: falling back is the point.
#
# Exit 0 pass, 1 fail, 77 skip (a missing piece, or a kernel without
# seccomp filters).
set -u

filtered=0
if [ "${1:-}" = --filtered ]; then
  filtered=1
  shift
fi
if [ $# -lt 4 ]; then
  echo "usage: $0 ERRNO CASE PATH/TO/kio-no-uring PATH/TO/backend-probe [ARG...]" >&2
  exit 1
fi
errno_name=$1
case_name=$2
wrap=$3
probe=$4
shift 4

# The test runner exports KIO_BACKEND=io_uring or =epoll for the whole
# suite; this test is about the choice kio makes by itself.
unset KIO_BACKEND
# strerror() text in the fallback line, and grep, in one known language.
LC_ALL=C
export LC_ALL

case $errno_name in
  EPERM) errno_text="Operation not permitted" ;;
  ENOSYS) errno_text="Function not implemented" ;;
  EACCES) errno_text="Permission denied" ;;
  *) echo "unknown ERRNO $errno_name" >&2; exit 1 ;;
esac

for arg in "$@"; do
  case $arg in
    missing:*) echo "SKIP: ${arg#missing:}"; exit 77 ;;
  esac
done

if [ $filtered -eq 0 ]; then
  # CONFIG_SECCOMP adds this line; without it no filter can be installed.
  if ! grep -q '^Seccomp:' /proc/self/status; then
    echo "SKIP: this kernel has no seccomp filters"
    exit 77
  fi
fi

# After this: $tmp (removed at exit, with a server still running), fail,
# start_server, stop_server. wait_port is replaced below.
src_root=${KIO_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../../examples/echo-test-lib.sh
. "$src_root/examples/echo-test-lib.sh"

# wait_port SED_PATTERN: as in echo-test-lib.sh, except that a server that
# exits first always fails, 77 included: "no io_uring" is no excuse here.
wait_port() {
  port=
  i=0
  while [ $i -lt 200 ]; do
    port=$(sed -n "s/$1/\\1/p" "$tmp/server.out")
    [ -n "$port" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      status=$?
      pid=
      fail "server exited with $status before listening"
    fi
    sleep 0.05
    i=$((i + 1))
  done
  [ -n "$port" ] || fail "server did not print its port"
}

# wait_fallback FILE: the log is written by a thread of its own; a server
# about to be killed by a signal must have written its line first. At most
# 10 s.
wait_fallback() {
  i=0
  while [ $i -lt 200 ] && ! grep -q 'using the epoll backend' "$1"; do
    sleep 0.05
    i=$((i + 1))
  done
}

# check_fallback FILE WHO: FILE (WHO's stderr) holds the fallback line
# exactly once, and the line names the errno the filter gave.
check_fallback() {
  n=$(grep -c 'using the epoll backend' "$1")
  [ "$n" -eq 1 ] || fail "$2: the fallback line appears $n times in its stderr, expected once"
  grep -q "^kio: INFO: io_uring unavailable (io_uring_setup: $errno_text): .*; using the epoll backend\$" \
    "$1" || fail "$2: the fallback line does not name $errno_name: $(grep 'epoll backend' "$1")"
  if grep -q '^kio: \(ERROR\|FATAL\): ' "$1"; then
    fail "$2 logged errors: $(grep '^kio: \(ERROR\|FATAL\): ' "$1")"
  fi
}

# run WHO COMMAND...: stdout in $tmp/WHO.out, stderr in $tmp/WHO.err
# (shown), $status its exit status.
run() {
  who=$1
  shift
  "$@" > "$tmp/$who.out" 2> "$tmp/$who.err"
  status=$?
  sed "s/^/$who: /" "$tmp/$who.err" >&2
}

# expect_ok WHO: WHO exited 0 (77, "no io_uring", is a failure here).
expect_ok() {
  [ "$status" -eq 0 ] || fail "$1 exited $status$([ "$status" -eq 77 ] && echo ': it did not fall back')"
}

make_file() { # PATH SIZE
  head -c "$2" /dev/urandom > "$1" || fail "cannot create $1"
}

# --- without the filter ----------------------------------------------------

if [ $filtered -eq 0 ]; then
  case $case_name in
    probe)
      # Where the machine has io_uring, nothing here may fall back.
      run strict "$probe" --strict
      if [ "$status" -eq 0 ]; then
        [ "$(cat "$tmp/strict.out")" = backend=io_uring ] || fail "strict: $(cat "$tmp/strict.out")"
        run default env KIO_LOG_LEVEL=info "$probe"
        expect_ok "backend-probe"
        [ "$(cat "$tmp/default.out")" = backend=io_uring ] ||
          fail "without the filter: $(cat "$tmp/default.out"), expected backend=io_uring"
        grep -q 'using the epoll backend' "$tmp/default.err" && fail "fell back without the filter"
        echo "without the filter: backend=io_uring"
      else
        case $(cat "$tmp/strict.out") in
          error=EPERM | error=ENOSYS | error=EACCES)
            echo "this machine refuses io_uring ($(cat "$tmp/strict.out")): the unfiltered check is skipped"
            ;;
          *)
            fail "backend-probe --strict without the filter: status $status, $(cat "$tmp/strict.out")"
            ;;
        esac
      fi
      ;;
    tool)
      run usage "$wrap"
      [ "$status" -eq 2 ] || fail "no arguments: exit $status, expected 2"
      grep -q '^usage: kio-no-uring ' "$tmp/usage.err" || fail "no usage message"
      for bad in "--errno EFOO true" "--errno=" "--bogus true" "--errno" "--errno ENOSYS"; do
        # shellcheck disable=SC2086
        run usage "$wrap" $bad
        [ "$status" -eq 2 ] || fail "'$bad': exit $status, expected 2"
        grep -q '^usage: kio-no-uring ' "$tmp/usage.err" || fail "'$bad': no usage message"
      done
      run help "$wrap" --help
      [ "$status" -eq 0 ] || fail "--help: exit $status"
      grep -q '^usage: kio-no-uring ' "$tmp/help.out" || fail "--help: no usage on stdout"
      run missing "$wrap" "$tmp/no-such-program"
      [ "$status" -eq 127 ] || fail "a missing PROGRAM: exit $status, expected 127"
      run exit3 "$wrap" sh -c 'exit 3'
      [ "$status" -eq 3 ] || fail "PROGRAM's exit status not passed on: $status"
      # The filter reaches grandchildren; the newest filter's errno wins, so
      # an ENOSYS run inside a container that answers EPERM still sees ENOSYS.
      # shellcheck disable=SC2016
      run nested "$wrap" --errno=ENOSYS sh -c '"$1" --syscalls' sh "$probe"
      expect_ok "nested"
      [ "$(cat "$tmp/nested.out")" = \
        "io_uring_setup=ENOSYS io_uring_enter=ENOSYS io_uring_register=ENOSYS" ] ||
        fail "through sh -c: $(cat "$tmp/nested.out")"
      run stacked "$wrap" --errno EPERM "$wrap" --errno ENOSYS -- "$probe" --syscalls
      expect_ok "stacked"
      [ "$(cat "$tmp/stacked.out")" = \
        "io_uring_setup=ENOSYS io_uring_enter=ENOSYS io_uring_register=ENOSYS" ] ||
        fail "stacked filters: $(cat "$tmp/stacked.out")"
      run status "$wrap" cat /proc/self/status
      grep -q '^NoNewPrivs:[[:space:]]*1$' "$tmp/status.out" || fail "no_new_privs not set"
      grep -q '^Seccomp:[[:space:]]*2$' "$tmp/status.out" || fail "not in seccomp filter mode"
      echo "PASS: tool"
      exit 0
      ;;
  esac
  # Everything from here on, and everything it starts, runs under the filter.
  rm -rf "$tmp"
  trap - EXIT
  exec "$wrap" --errno "$errno_name" sh "$0" --filtered "$errno_name" "$case_name" \
    "$wrap" "$probe" "$@"
fi

# --- under the filter: the premise -----------------------------------------

export KIO_LOG_LEVEL=info

run syscalls "$probe" --syscalls
expect_ok "backend-probe --syscalls"
want="io_uring_setup=$errno_name io_uring_enter=$errno_name io_uring_register=$errno_name"
[ "$(cat "$tmp/syscalls.out")" = "$want" ] ||
  fail "the filter is not in place: $(cat "$tmp/syscalls.out"), expected $want"

run strict "$probe" --strict
[ "$status" -eq 1 ] || fail "backend-probe --strict exited $status, expected 1"
[ "$(cat "$tmp/strict.out")" = "error=$errno_name" ] ||
  fail "a context that demands io_uring: $(cat "$tmp/strict.out"), expected error=$errno_name"
grep -q 'using the epoll backend' "$tmp/strict.err" && fail "KIO_CTX_NO_FALLBACK fell back"

run default "$probe"
expect_ok "backend-probe"
[ "$(cat "$tmp/default.out")" = backend=epoll ] ||
  fail "a default context: $(cat "$tmp/default.out"), expected backend=epoll"
check_fallback "$tmp/default.err" backend-probe

# --- under the filter: the programs ----------------------------------------

case $case_name in
  probe) ;;

  kio-copy)
    bin=$1
    # Ends inside a 128 KiB chunk: the window is reused, the last read short.
    make_file "$tmp/src" 1576963
    run copy "$bin" "$tmp/src" "$tmp/dst"
    expect_ok kio-copy
    cmp "$tmp/src" "$tmp/dst" || fail "kio-copy: the copy differs"
    grep -q '^kio-copy: 1576963 bytes in' "$tmp/copy.err" || fail "kio-copy: no summary"
    check_fallback "$tmp/copy.err" kio-copy
    # Pipe to pipe: no offsets, readiness instead of regular files.
    # (cat is the point: both ends must be pipes.)
    # shellcheck disable=SC2002
    { cat "$tmp/src" | "$bin" -q - 2> "$tmp/pipe.err"; echo $? > "$tmp/pipe.status"; } |
      cat > "$tmp/pipe.out"
    sed 's/^/kio-copy (pipe): /' "$tmp/pipe.err" >&2
    status=$(cat "$tmp/pipe.status")
    expect_ok "kio-copy - (pipe to pipe)"
    cmp "$tmp/src" "$tmp/pipe.out" || fail "kio-copy: the copy through pipes differs"
    check_fallback "$tmp/pipe.err" "kio-copy (pipe)"
    ;;

  echo)
    server=$1
    client=$2
    # A roomy ring (the defaults), then a starved one that must run dry
    # (-ENOBUFS) and start its receives again.
    for ring in roomy starved; do
      opts=
      [ $ring = starved ] && opts="--bufs 4 --size 512"
      # shellcheck disable=SC2086
      start_server "$server" --port 0 $opts
      wait_port '^echo-server: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$'
      run client "$client" --port "$port" --conns 50 --msgs 20 --size 1000
      expect_ok "echo-client ($ring)"
      grep -q ': 1000 of 1000 echoes verified' "$tmp/client.out" ||
        fail "echo-client ($ring): $(cat "$tmp/client.out")"
      check_fallback "$tmp/client.err" "echo-client ($ring)"
      # Messages far larger than a buffer: short sends on both sides.
      run large "$client" --port "$port" --conns 3 --msgs 4 --size 1000000
      expect_ok "echo-client ($ring, large)"
      grep -q ': 12 of 12 echoes verified' "$tmp/large.out" ||
        fail "echo-client ($ring, large): $(cat "$tmp/large.out")"
      check_fallback "$tmp/large.err" "echo-client ($ring, large)"
      stop_server INT 10
      [ "$status" -eq 0 ] || fail "echo-server ($ring) exited $status after SIGINT"
      grep -q '^echo-server: Interrupt, stopping$' "$tmp/server.out" ||
        fail "echo-server ($ring) did not report the signal"
      grep -q '^echo-server: stopped after 53 connections, 13000000 bytes echoed, ' \
        "$tmp/server.out" || fail "echo-server ($ring): summary wrong"
      if [ $ring = starved ]; then
        grep -q 'echoed, 0 receives restarted' "$tmp/server.out" && fail "the ring never ran dry"
      fi
      check_fallback "$tmp/server.err" "echo-server ($ring)"
      sed "s/^/server: /" "$tmp/server.err" >&2
      cat "$tmp/server.out"
    done
    ;;

  cxx-echo)
    server=$1
    client=$2
    start_server "$server" --port 0
    wait_port '^.* listening on 127\.0\.0\.1:\([0-9][0-9]*\)$'
    run client "$client" --host 127.0.0.1 --port "$port" --conns 8 --msgs 100 --size 1000
    expect_ok echo-client
    grep -q ': 800 of 800 echoes verified' "$tmp/client.out" ||
      fail "echo-client: $(cat "$tmp/client.out")"
    check_fallback "$tmp/client.err" echo-client
    # This server has no shutdown path: SIGTERM kills it, so its log line
    # must be out before.
    wait_fallback "$tmp/server.err"
    stop_server TERM 10
    [ "$status" -eq 143 ] || fail "cxx-echo-server: expected death by SIGTERM (143), got $status"
    check_fallback "$tmp/server.err" cxx-echo-server
    sed "s/^/server: /" "$tmp/server.err" >&2
    ;;

  multicore-echo)
    server=$1
    client=$2
    # Two workers: two contexts in one process, still one line.
    start_server "$server" --port 0 --workers 2
    wait_port '^multicore-echo: 2 workers listening on 127\.0\.0\.1:\([0-9][0-9]*\)$'
    run client "$client" --host 127.0.0.1 --port "$port" --conns 8 --msgs 100 --size 1000
    expect_ok echo-client
    grep -q ': 800 of 800 echoes verified' "$tmp/client.out" ||
      fail "echo-client: $(cat "$tmp/client.out")"
    check_fallback "$tmp/client.err" echo-client
    stop_server INT 10
    [ "$status" -eq 0 ] || fail "multicore-echo exited $status after SIGINT"
    grep -q '^multicore-echo: signal 2, stopping$' "$tmp/server.out" || fail "no signal line"
    grep -q '^multicore-echo: served 8 connections, 800000 bytes$' "$tmp/server.out" ||
      fail "multicore-echo: summary wrong"
    check_fallback "$tmp/server.err" multicore-echo
    sed "s/^/server: /" "$tmp/server.err" >&2
    ;;

  timers)
    run timers "$1"
    cat "$tmp/timers.out"
    expect_ok timers
    grep -q '^all timers behaved as documented$' "$tmp/timers.out" || fail "timers: no summary"
    grep -q 'FAIL' "$tmp/timers.out" && fail "timers: a step failed"
    check_fallback "$tmp/timers.err" timers
    ;;

  kio-cp)
    bin=$1
    # 3 MiB + 5 bytes: the buffers go round several times, the last read is short.
    make_file "$tmp/src" 3145733
    run cp "$bin" "$tmp/src" "$tmp/dst"
    expect_ok kio-cp
    cmp "$tmp/src" "$tmp/dst" || fail "kio-cp: the copy differs"
    grep -q '^kio-cp: 3145733 bytes in [0-9]* ms$' "$tmp/cp.err" || fail "kio-cp: summary wrong"
    check_fallback "$tmp/cp.err" kio-cp
    # SRC a pipe: no size, no offsets. (A pipeline would lose $status in a
    # subshell, so sh -c builds it.)
    # shellcheck disable=SC2016
    run pipe sh -c 'cat "$1" | "$2" /dev/stdin "$3"' sh "$tmp/src" "$bin" "$tmp/dst2"
    expect_ok "kio-cp (pipe)"
    cmp "$tmp/src" "$tmp/dst2" || fail "kio-cp: the copy from a pipe differs"
    check_fallback "$tmp/pipe.err" "kio-cp (pipe)"
    ;;

  tls)
    echo_server=$1
    get=$2
    openssl=$3
    # A throw-away CA and a server certificate it signs for localhost.
    d=$tmp/pki
    mkdir "$d" || fail "mkdir"
    "$openssl" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj /CN=kio-test-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2> "$d/log" ||
      { cat "$d/log" >&2; fail "openssl req (CA)"; }
    "$openssl" req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj /CN=localhost -keyout "$d/server.key" -out "$d/server.csr" 2> "$d/log" ||
      { cat "$d/log" >&2; fail "openssl req (server)"; }
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$d/leaf.ext"
    "$openssl" x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -CAcreateserial -days 2 -extfile "$d/leaf.ext" -out "$d/server.pem" 2> "$d/log" ||
      { cat "$d/log" >&2; fail "openssl x509 (server)"; }

    start_server "$echo_server" --port 0 --cert "$d/server.pem" --key "$d/server.key"
    wait_port '^kio-tls-echo: listening on 127\.0\.0\.1:\([0-9][0-9]*\)$'
    line="hello over TLS, no io_uring: 0123456789"
    run get "$get" --ca "$d/ca.pem" --host localhost --port "$port" --line "$line"
    expect_ok kio-tls-get
    printf '%s\n' "$line" > "$tmp/want"
    cmp "$tmp/want" "$tmp/get.out" || fail "kio-tls-get: reply differs: $(cat "$tmp/get.out")"
    grep -q '^kio-tls-get: handshake done: TLS 1\.3, server verified, ' "$tmp/get.err" ||
      fail "kio-tls-get: no verified handshake"
    check_fallback "$tmp/get.err" kio-tls-get
    stop_server INT 10
    [ "$status" -eq 0 ] || fail "kio-tls-echo exited $status after SIGINT"
    grep -q '^kio-tls-echo: signal 2, stopping$' "$tmp/server.out" || fail "no signal line"
    grep -q "^kio-tls-echo: #1: closed by close_notify, $((${#line} + 1)) bytes in all\$" \
      "$tmp/server.out" || fail "kio-tls-echo: no clean close"
    check_fallback "$tmp/server.err" kio-tls-echo
    sed "s/^/server: /" "$tmp/server.err" >&2
    cat "$tmp/server.out"
    ;;

  python)
    python=$1
    KIO_LIBRARY=$2
    PYTHONPATH=$src_root/bindings/python
    export KIO_LIBRARY PYTHONPATH
    demo=$src_root/examples/python/kio_demo.py
    run backend "$python" -c 'import kio; c = kio.Context(); print(c.backend); c.close()'
    expect_ok "python: kio.Context()"
    [ "$(cat "$tmp/backend.out")" = epoll ] || fail "kio.Context().backend(): $(cat "$tmp/backend.out")"
    check_fallback "$tmp/backend.err" "python kio.Context()"
    make_file "$tmp/src" $((3 * 128 * 1024 + 12345))
    run copy "$python" "$demo" copy "$tmp/src" "$tmp/dst"
    expect_ok "kio_demo.py copy"
    grep -q "copied $((3 * 128 * 1024 + 12345)) bytes" "$tmp/copy.out" ||
      fail "kio_demo.py copy: $(cat "$tmp/copy.out")"
    cmp "$tmp/src" "$tmp/dst" || fail "kio_demo.py copy: the copy differs"
    check_fallback "$tmp/copy.err" "kio_demo.py copy"
    run echo "$python" "$demo" echo --port 0 --once
    cat "$tmp/echo.out"
    expect_ok "kio_demo.py echo"
    head -n 1 "$tmp/echo.out" | grep -q '^server: listening on 127\.0\.0\.1:' ||
      fail "kio_demo.py echo: no listening line"
    [ "$(grep -c 'got the same back' "$tmp/echo.out")" -eq 3 ] || fail "kio_demo.py echo: echoes wrong"
    tail -n 1 "$tmp/echo.out" | grep -q 'sent 100042 bytes, echoed them all' ||
      fail "kio_demo.py echo: summary wrong"
    check_fallback "$tmp/echo.err" "kio_demo.py echo"
    ;;

  *)
    fail "unknown case $case_name"
    ;;
esac
echo "PASS: $case_name under $errno_name"
exit 0
