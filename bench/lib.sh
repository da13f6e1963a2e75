# SPDX-License-Identifier: MIT
# Helpers for bench/workloads/*.sh (sourced; see bench/README.md). Needs BENCH_SRC.

# bench_pin CPU CMD...: runs CMD on CPU (taskset when present).
bench_pin() {
  _cpu=$1
  shift
  if command -v taskset >/dev/null 2>&1; then
    taskset -c "$_cpu" "$@"
  else
    "$@"
  fi
}

# bench_measured CMD...: runs the measured program CMD on $BENCH_SERVER_CPU, under
# SCHED_FIFO (chrt -f 1) when bench/run.sh found that allowed (BENCH_FIFO=1), so the
# neighbours of the moment cannot preempt it. Load generators use bench_pin instead.
bench_measured() {
  if [ "${BENCH_FIFO:-0}" = 1 ]; then
    bench_pin "$BENCH_SERVER_CPU" chrt -f 1 "$@"
  else
    bench_pin "$BENCH_SERVER_CPU" "$@"
  fi
}

# bench_fifo_prefix: "chrt -f 1" when the measured program runs under SCHED_FIFO, else
# nothing (for the scripts that build the command line themselves).
bench_fifo_prefix() {
  [ "${BENCH_FIFO:-0}" = 1 ] && echo "chrt -f 1"
  return 0
}

# bench_have CMD: true when CMD is on PATH.
bench_have() {
  command -v "$1" >/dev/null 2>&1
}

# bench_skip REASON: says why a workload (or one of its peers) is skipped.
bench_skip() {
  echo "skipped: ${BENCH_WORKLOAD:-?}: $*" >&2
}

# bench_merge FILE...: merges single-run result lines (one program run per repetition)
# into one line per point and appends them to $BENCH_OUT.
bench_merge() {
  python3 "$BENCH_SRC/bench/merge.py" "$@" >>"$BENCH_OUT"
}

# bench_emit WORKLOAD IMPL PARAMS_JSON METRIC UNIT HIGHER_IS_BETTER V1 [V2...]:
# appends one result line built from raw values (e.g. parsed from fio or wrk output).
bench_emit() {
  python3 "$BENCH_SRC/bench/merge.py" --emit "$@" >>"$BENCH_OUT"
}

# bench_prog NAME: path of a benchmark program in the build directory, or fails (and
# says so) when it was not built.
bench_prog() {
  if [ -x "$BENCH_BUILD/bench/$1" ]; then
    echo "$BENCH_BUILD/bench/$1"
  else
    bench_skip "$1 was not built"
    return 1
  fi
}

# ---- Servers under load (echo.sh, http.sh) --------------------------------------------
# A workload starts every server of a point, runs its load generator against each in turn
# and stops them all. The files live in the scratch directory $tmp: $tmp/live lists the
# running servers ("impl pid port" lines).

# bench_servers_init: makes $tmp; every server started is stopped, and $tmp removed,
# when the script exits.
bench_servers_init() {
  tmp=$(mktemp -d)
  bench_pids=""
  trap 'bench_stop_servers; rm -rf "$tmp"' EXIT
  trap 'exit 1' INT TERM
}

# bench_stop_servers: SIGTERM to every running server, SIGKILL to one still there 5 s later.
bench_stop_servers() {
  for _p in $bench_pids; do kill -TERM "$_p" 2>/dev/null; done
  for _p in $bench_pids; do
    _n=0
    while kill -0 "$_p" 2>/dev/null && [ "$_n" -lt 50 ]; do sleep 0.1; _n=$((_n + 1)); done
    kill -KILL "$_p" 2>/dev/null
    wait "$_p" 2>/dev/null
  done
  bench_pids=""
}

# bench_start_server IMPL PROG [VAR=VALUE...] [-- ARG...]: runs PROG --port 0 ARG... pinned to
# $BENCH_SERVER_CPU (under SCHED_FIFO when BENCH_FIFO=1), with the VAR=VALUE assignments added to its environment, waits for its
# "port N" line and appends "IMPL pid port" to $tmp/live. The subshell execs env, which
# execs chrt and taskset, which exec the server: $! is the server's pid, whose CPU clock the
# generators read. A server exiting 77 (the kernel lacks a feature) is skipped; one failing
# otherwise is recorded in $tmp/failed.
bench_start_server() {
  _simpl=$1
  _out="$tmp/$1.out"
  _err="$tmp/$1.err"
  _bin=$2
  shift 2
  _senv=""
  while [ $# -gt 0 ] && [ "$1" != -- ]; do _senv="$_senv $1"; shift; done
  [ $# -gt 0 ] && shift
  : >"$_out"
  _fifo=$(bench_fifo_prefix)
  # shellcheck disable=SC2086 # _senv: one word per VAR=VALUE; _fifo: nothing or "chrt -f 1"
  if bench_have taskset; then
    (exec env $_senv $_fifo taskset -c "$BENCH_SERVER_CPU" "$_bin" --port 0 "$@" >"$_out" 2>"$_err") &
  else
    (exec env $_senv $_fifo "$_bin" --port 0 "$@" >"$_out" 2>"$_err") &
  fi
  _pid=$!
  _port=""
  _n=0
  while [ "$_n" -lt 100 ]; do
    _port=$(awk '$1 == "port" {print $2; exit}' "$_out")
    [ -n "$_port" ] && break
    kill -0 "$_pid" 2>/dev/null || break
    sleep 0.05
    _n=$((_n + 1))
  done
  if [ -z "$_port" ]; then
    kill -KILL "$_pid" 2>/dev/null
    wait "$_pid" 2>/dev/null
    _st=$?
    if [ "$_st" = 77 ]; then
      bench_skip "$_simpl: the kernel lacks what it needs ($(head -c 200 "$_err"))"
    else
      echo "${BENCH_WORKLOAD:-?}: $_simpl did not start: $(head -c 300 "$_err")" >&2
      echo fail >>"$tmp/failed"
    fi
    return 1
  fi
  bench_pids="$bench_pids $_pid"
  echo "$_simpl $_pid $_port" >>"$tmp/live"
}

# bench_start_servers "IMPL:PROG[:VAR=VALUE...][:--OPTION[=VALUE]...] ...": starts every
# listed server that was built, in that order (the order of the tables), each VAR=VALUE in
# its environment and each --OPTION (with VALUE as the next argument) on its command line
# (kio-c-epoll:kio-bench-echo-kio:KIO_BACKEND=epoll: the same program on the epoll
# backend; liburing-direct:kio-bench-echo-uring:--direct: the same program with an option;
# values hold no blank and no colon); fails when none runs.
bench_start_servers() {
  : >"$tmp/live"
  for _entry in $1; do
    _rest=${_entry#*:}
    _prog=$(bench_prog "${_rest%%:*}") || continue
    _envs=""
    _args=""
    case "$_rest" in *:*)
      for _w in $(echo "${_rest#*:}" | tr ':' ' '); do
        case "$_w" in
          --*=*) _args="$_args ${_w%%=*} ${_w#*=}" ;;
          --*) _args="$_args $_w" ;;
          *) _envs="$_envs $_w" ;;
        esac
      done ;;
    esac
    # shellcheck disable=SC2086 # one argument per VAR=VALUE and per option word
    bench_start_server "${_entry%%:*}" "$_prog" $_envs -- $_args || continue
  done
  [ -s "$tmp/live" ]
}

# bench_rounds FUNC: $BENCH_REPS repetitions; each calls FUNC IMPL PID PORT for every server
# of $tmp/live, repetition R starting with server R mod n, so the noise of the moment falls
# on all of them alike. A server that died is reported and passed over. Fails when a server
# died or a call failed.
bench_rounds() {
  _rrc=0
  _r=0
  while [ "$_r" -lt "$BENCH_REPS" ]; do
    _shift=$((_r % $(wc -l <"$tmp/live")))
    { tail -n +$((_shift + 1)) "$tmp/live"; head -n "$_shift" "$tmp/live"; } >"$tmp/order"
    while read -r _impl _pid _port; do
      if ! kill -0 "$_pid" 2>/dev/null; then
        echo "${BENCH_WORKLOAD:-?}: $_impl (pid $_pid) died" >&2
        _rrc=1
        continue
      fi
      "$1" "$_impl" "$_pid" "$_port" </dev/null || _rrc=1
    done <"$tmp/order"
    _r=$((_r + 1))
  done
  return $_rrc
}

# bench_emit_live WORKLOAD PARAMS_JSON METRICS: for every server of $tmp/live, in order,
# one result line per metric from the "KEY VALUE" lines its runs appended to $tmp/IMPL,
# which is then removed. METRICS has one "KEY UNIT HIGHER_IS_BETTER [NAME]" line per
# metric (NAME, the metric's name in the results, defaults to KEY). Fails when a line
# could not be written.
bench_emit_live() {
  _rc=0
  while read -r _impl _pid _port; do
    [ -s "$tmp/$_impl" ] || continue
    while read -r _key _unit _hib _name; do
      [ -n "$_key" ] || continue
      _vals=$(awk -v k="$_key" '$1 == k {print $2}' "$tmp/$_impl")
      [ -n "$_vals" ] || continue
      # shellcheck disable=SC2086 # one argument per value
      bench_emit "$1" "$_impl" "$2" "${_name:-$_key}" "$_unit" "$_hib" $_vals </dev/null ||
        _rc=1
    done <<METRICS
$3
METRICS
    rm -f "$tmp/$_impl"
  done <"$tmp/live"
  return $_rc
}
