#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the result lines of a bench/run.sh run into results.json, results.md and
results.png (through a gnuplot script, results.gp).

  report.py --in results.jsonl --out DIR [--quick 0|1] [--reps N] [--duration S]
            [--failed "names"] [--timing "name=s ..."] [--cpus "..."]

Ratios: every kio line (impl starting with "kio") is paired with every peer line of the
same workload, params and metric, and every variant line with its baseline (VARIANTS:
kio-c-timeout with kio-c, liburing-direct with liburing). The workload scripts run repetitions in the outer loop
and the implementations alternating inside, so runs[i] of every line of a point belong to
repetition i: the ratio is the median [min-max] of the per-pair ratios kio.runs[i] /
peer.runs[i] (extra.paired_ratio, from a program that measured both itself, wins; with
unequal run counts, the ratio of the medians, marked as such). The goals of the benchmark
and performance issues are marked met or missed on the median, with whether the range
crosses the line; nothing here fails the run. kio impls ending in "-epoll" ran on kio's epoll backend
(KIO_BACKEND=epoll): they have goals of their own, against epoll-based peers, and the
io_uring goals stay with the others. Standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

# Panels of the chart: the figures that compare implementations best, per workload.
CHART_METRICS = {
    "nop": ["ops_per_s"],
    "instr": ["instr_per_op"],
    "echo": ["ns_per_msg"],
    "echo-closed": ["ns_per_msg"],
    "echo-rss": ["rss_per_conn"],
    "http": ["req_per_s"],
    "fileread": ["iops"],
    "timers": ["late_p99_us", "late_run_p99_us", "arm_ns", "bytes_per_timer"],
    "tls": ["mib_per_s", "handshakes_per_s"],
    "alloc": ["allocs_per_op"],
    "idle": ["bytes_per_conn"],
    "destroy": ["ns_per_op"],
}
WORKLOAD_ORDER = ["instr", "nop", "echo", "echo-closed", "echo-rss", "http", "fileread",
                  "timers", "tls", "alloc", "idle", "destroy"]
# Figures whose kio/peer ratio would mislead: a liburing timeout lives in kernel memory,
# which the process's RSS does not show.
NO_RATIO = {("timers", "bytes_per_timer", "liburing")}
# Variants measured against their baseline, the one thing they change: the ratio says what
# that thing costs (or saves).
VARIANTS = {"kio-c-timeout": "kio-c", "liburing-direct": "liburing"}


def is_kio(impl):
    return impl.startswith("kio")


def is_kio_epoll(impl):
    """A kio line measured on kio's epoll backend (kio-c-epoll, kio-cxx-epoll)."""
    return is_kio(impl) and impl.endswith("-epoll")


def params_text(params):
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "-"


def fmt(v):
    """A figure with 3 significant digits and an SI suffix for big ones."""
    if v is None:
        return "-"
    a = abs(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{suffix}"
    if a >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.3g}"


def first_line_after(path, prefix):
    """The rest of the first line of path that starts with prefix, or None."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line[len(prefix):]
    except OSError:
        pass
    return None


def machine_info():
    info = {"kernel": platform.release(), "arch": platform.machine(),
            "cpus": os.cpu_count()}
    model = first_line_after("/proc/cpuinfo", "model name")
    if model is not None:
        info["cpu_model"] = model.split(":", 1)[1].strip()
    mem = first_line_after("/proc/meminfo", "MemTotal:")
    if mem is not None:
        info["mem_mib"] = int(mem.split()[0]) // 1024
    name = first_line_after("/etc/os-release", "PRETTY_NAME=")
    if name is not None:
        info["os"] = name.strip().strip('"')
    return info


def load(path):
    results = []
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                print(f"report.py: {path}:{n}: not JSON, ignored", file=sys.stderr)
                continue
            if not all(k in obj for k in ("workload", "impl", "metric", "median")):
                print(f"report.py: {path}:{n}: missing fields, ignored", file=sys.stderr)
                continue
            obj.setdefault("params", {})
            obj.setdefault("unit", "")
            obj.setdefault("higher_is_better", True)
            results.append(obj)
    return results


def key_of(r):
    return (r["workload"], json.dumps(r["params"], sort_keys=True), r["metric"])


# How a ratio was taken.
INPROC = "in-process"  # per-run ratios of runs one program made back to back (extra.paired_ratio)
PAIRED = "paired"      # per-pair ratios: runs[i] of both lines belong to repetition i
MEDIANS = "medians"    # kio median / peer median (the run counts differ: no pairs)
BASIS_TEXT = {INPROC: "paired per-run ratio, one process", PAIRED: "paired per-run ratio",
              MEDIANS: "ratio of medians"}


def summarize(values):
    s = sorted(values)
    n = len(s)
    return (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2), s[0], s[-1]


class Ratio:
    """kio line / peer line: median [lo-hi] of the per-pair ratios, and how they were taken."""

    def __init__(self, k, p, median, lo, hi, basis, n):
        self.k, self.p, self.median, self.lo, self.hi, self.basis, self.n = \
            k, p, median, lo, hi, basis, n

    def text(self, with_basis=False):
        t = f"{self.median:.2f}x"
        if self.basis != MEDIANS:
            t += f" [{self.lo:.2f}-{self.hi:.2f}]"
        if with_basis:
            t += f" ({BASIS_TEXT[self.basis]}, {self.n} pair{'s' if self.n != 1 else ''})" \
                if self.basis != MEDIANS else f" ({BASIS_TEXT[self.basis]})"
        return t


def pair_ratio(k, p):
    """The Ratio of kio line k to peer line p, or None when it cannot be taken.

    The workload scripts run repetitions in the outer loop and the implementations
    alternating inside it, so runs[i] of every line of a point belong to repetition i:
    with equal run counts, ratio i = k.runs[i] / p.runs[i]. A program that measured both
    sides itself says so in extra.paired_ratio, which wins."""
    inproc = (k.get("extra") or {}).get("paired_ratio") or {}
    if inproc.get("peer") == p["impl"] and "median" in inproc:
        return Ratio(k, p, inproc["median"], inproc.get("min", inproc["median"]),
                     inproc.get("max", inproc["median"]), INPROC, len(k.get("runs") or []))
    kr, pr = k.get("runs") or [], p.get("runs") or []
    if kr and len(kr) == len(pr) and all(v for v in pr):
        med, lo, hi = summarize([a / b for a, b in zip(kr, pr)])
        return Ratio(k, p, med, lo, hi, PAIRED, len(kr))
    if p["median"]:
        r = k["median"] / p["median"]
        return Ratio(k, p, r, r, r, MEDIANS, 0)
    return None


def ratios(results):
    """[Ratio] for every kio line and every peer line of the same workload, params, metric,
    and for every variant line and its baseline (VARIANTS)."""
    by_key = {}
    for r in results:
        by_key.setdefault(key_of(r), []).append(r)
    out = []
    for key, group in by_key.items():
        for k in group:
            peers = [r for r in group if r["impl"] == VARIANTS.get(k["impl"])]
            if is_kio(k["impl"]):
                peers += [r for r in group if not is_kio(r["impl"])
                          and (key[0], key[2], r["impl"]) not in NO_RATIO]
            for p in peers:
                ratio = pair_ratio(k, p)
                if ratio:
                    out.append(ratio)
    return out


# ---- Goals: issue 14 (benchmarks) and issue 15 (performance), plus the epoll backend's ----
# Each goal: met or missed on the median, and whether the [min-max] range crosses the line.

IO_URING_KIO = ("kio-c", "kio-cxx", "kio-c-nowait", "kio-c-fixed")
G_NOP32 = "NOP: <= 70 instructions per NOP at batch 32 (kio-c)"
G_NOP1 = "NOP: <= 180 instructions per NOP at batch 1 (kio-c)"
G_NOPCXX = "NOP: C++ co_await adds <= 20 instructions per NOP on top of C"
G_TMO = "per-op timeout armed and never fired adds <= 30 instructions per NOP (batch 32)"
G_DIRECT = "storage: O_DIRECT 4 KiB random reads IOPS >= 0.97x fio batched (QD 1/32/128)"
G_CACHED1 = "cached reads: IOPS >= 1.0x pread(2) in a loop at QD 1"
G_CACHED32 = "cached reads: IOPS >= 1.1x fio batched io_uring at QD 32"
G_LATE100K = "timers: lateness p99 <= 1 ms at 100k timers"
G_LATE1M = "timers: lateness p99 <= 5 ms at 1M timers"
G_LATERUN100K = ("timers: lateness p99 <= 1 ms at 100k timers, counted from the deadline or the "
                 "run's start, whichever is later (late_run: without the floor arming all first sets)")
G_LATERUN1M = ("timers: lateness p99 <= 5 ms at 1M timers, counted from the deadline or the "
               "run's start, whichever is later (late_run)")
G_ARM = "timers: arming <= 40 ns per timer"
G_TBYTES = "timers: <= 64 B per timer"
G_TPEERS = "timers: ahead of libuv, Asio and Tokio on wall time and lateness p99 (< 1.0x)"
G_ECHO_URING = "echo at fixed rate: server CPU/msg <= 1.0x raw liburing (16/256 conns, 64 B/4 KiB)"
G_ECHO_PEERS = "echo at fixed rate: server CPU/msg <= 0.9x libuv, Asio and Tokio"
G_TLS_BULK = "TLS: bulk throughput (16 KiB writes) >= 0.95x blocking OpenSSL"
G_TLS_ASIO = "TLS: bulk throughput ahead of Asio SSL (> 1.0x)"
G_TLS_HS = "TLS: full handshakes per second >= 0.95x OpenSSL"
G_EPOLL_UV = "epoll backend: echo ns/msg kio-c-epoll <= 1.0x libuv"
G_EPOLL_HAND = "epoll backend: echo ns/msg kio-c-epoll <= 1.05x hand-written epoll"
G_EPOLL_PREAD = "epoll backend: cached 4 KiB reads at QD 1, IOPS kio-c-epoll >= 0.90x pread"
G_DESTROY = "kio_ctx_destroy with 64,000 ops pending < 0.2 s (both backends)"
G_ECHO_TMO = ("per-op timeouts: echo with a 30 s idle deadline re-armed on every recv <= 1.02x "
              "the server CPU (fixed rate) and instructions per message of echo without")
G_ECHO_FIXED = ("direct descriptors in raw liburing: server CPU/msg of liburing-direct vs "
                "liburing at fixed rate (informational: what kio could gain)")
GOAL_WORKLOADS = ((G_NOP32, "instr"), (G_NOP1, "instr"), (G_NOPCXX, "instr"), (G_TMO, "instr"),
                  (G_DIRECT, "fileread"), (G_CACHED1, "fileread"), (G_CACHED32, "fileread"),
                  (G_LATE100K, "timers"), (G_LATE1M, "timers"), (G_ARM, "timers"),
                  (G_TBYTES, "timers"), (G_TPEERS, "timers"), (G_ECHO_URING, "echo"),
                  (G_ECHO_PEERS, "echo"), (G_TLS_BULK, "tls"), (G_TLS_ASIO, "tls"),
                  (G_TLS_HS, "tls"), (G_EPOLL_UV, "echo"), (G_EPOLL_HAND, "echo"),
                  (G_EPOLL_PREAD, "fileread"), (G_DESTROY, "destroy"), (G_ECHO_TMO, "echo"),
                  (G_ECHO_FIXED, "echo"))
# The met value of a goal row that states a figure without a line to meet.
INFO = "info"
GOAL_NOTES = [
    "Met or missed is decided on the median; \"range crosses\" says the [min-max] of the "
    "pairs (or of the runs, for a figure of kio alone) lies on both sides of the line, "
    "so the verdict could flip with more repetitions.",
    "The -epoll lines (kio on its epoll backend) are judged by the epoll backend goals "
    "only; every other goal is for kio on io_uring.",
]

ECHO_GOAL_POINTS = {(16, 64), (256, 64), (16, 4096), (256, 4096)}


def check(op, thr, v):
    return v <= thr if op == "<=" else v >= thr if op == ">=" else \
        v < thr if op == "<" else v > thr


def ratio_row(goal, r, op, thr):
    point = f"{r.k['impl']} vs {r.p['impl']}, {params_text(r.k['params'])}, {r.k['metric']}"
    crosses = r.basis != MEDIANS and check(op, thr, r.lo) != check(op, thr, r.hi)
    return (goal, point, r.text(with_basis=True), check(op, thr, r.median), crosses)


def value_row(goal, line, op, thr, unit):
    point = f"{line['impl']}, {params_text(line['params'])}"
    lo, hi = line.get("min", line["median"]), line.get("max", line["median"])
    value = f"{fmt(line['median'])} {unit} [{fmt(lo)}-{fmt(hi)}]"
    return (goal, point, value, check(op, thr, line["median"]),
            check(op, thr, lo) != check(op, thr, hi))


def goals(results, pairs):
    """[(goal, point, value text, met or None, range crosses the line)]."""
    rows = []
    for r in pairs:
        k, p = r.k, r.p
        w, m, peer, kimpl, prm = k["workload"], k["metric"], p["impl"], k["impl"], k["params"]
        if VARIANTS.get(kimpl) == peer:
            if w == "echo" and m == "ns_per_msg" and "rate" in prm:
                if kimpl == "kio-c-timeout":
                    rows.append(ratio_row(G_ECHO_TMO, r, "<=", 1.02))
                elif kimpl == "liburing-direct":
                    rows.append(ratio_row(G_ECHO_FIXED, r, "<=", 1.0)[:3] + (INFO, False))
            continue
        if is_kio_epoll(kimpl):
            if kimpl != "kio-c-epoll":
                continue
            if w == "echo" and m == "ns_per_msg" and peer == "libuv":
                rows.append(ratio_row(G_EPOLL_UV, r, "<=", 1.0))
            elif w == "echo" and m == "ns_per_msg" and peer == "epoll":
                rows.append(ratio_row(G_EPOLL_HAND, r, "<=", 1.05))
            elif w == "fileread" and m == "iops" and peer == "pread" and prm.get("qd") == 1 \
                    and not prm.get("direct"):
                rows.append(ratio_row(G_EPOLL_PREAD, r, ">=", 0.90))
            continue
        if kimpl not in IO_URING_KIO:
            continue
        if w == "fileread" and m == "iops":
            fixed = kimpl == "kio-c-fixed"
            if prm.get("direct") and peer == ("fio-batched-fixed" if fixed else "fio-batched"):
                rows.append(ratio_row(G_DIRECT, r, ">=", 0.97))
            elif not prm.get("direct") and prm.get("qd") == 1 and peer == "pread":
                rows.append(ratio_row(G_CACHED1, r, ">=", 1.0))
            elif not prm.get("direct") and prm.get("qd") == 32 and peer == "fio-batched":
                rows.append(ratio_row(G_CACHED32, r, ">=", 1.1))
        elif w == "timers" and m in ("wall_s", "late_p99_us", "late_run_p99_us") \
                and kimpl == "kio-c" \
                and peer in ("libuv", "asio", "tokio"):
            rows.append(ratio_row(G_TPEERS, r, "<", 1.0))
        elif w == "echo" and m == "ns_per_msg" and "rate" in prm \
                and (prm.get("conns"), prm.get("size")) in ECHO_GOAL_POINTS:
            if peer == "liburing":
                rows.append(ratio_row(G_ECHO_URING, r, "<=", 1.0))
            elif peer in ("libuv", "tokio") or peer.startswith("asio"):
                rows.append(ratio_row(G_ECHO_PEERS, r, "<=", 0.9))
        elif w == "tls" and m == "mib_per_s" and kimpl == "kio-c":
            if peer == "openssl":
                rows.append(ratio_row(G_TLS_BULK, r, ">=", 0.95))
            elif peer == "asio-ssl":
                rows.append(ratio_row(G_TLS_ASIO, r, ">", 1.0))
        elif w == "tls" and m == "handshakes_per_s" and kimpl == "kio-c" and peer == "openssl":
            rows.append(ratio_row(G_TLS_HS, r, ">=", 0.95))
    instr = {}
    for line in results:
        w, m, impl, prm = line["workload"], line["metric"], line["impl"], line["params"]
        if w == "instr" and m == "instr_per_op":
            instr[(impl, json.dumps(prm, sort_keys=True))] = line
            if impl == "kio-c" and prm.get("op") == "nop" and prm.get("batch") == 32:
                rows.append(value_row(G_NOP32, line, "<=", 70, "instr"))
            elif impl == "kio-c" and prm.get("op") == "nop" and prm.get("batch") == 1:
                rows.append(value_row(G_NOP1, line, "<=", 180, "instr"))
        if is_kio_epoll(impl) or not is_kio(impl):
            if w == "destroy" and m == "destroy_s" and is_kio(impl) and prm.get("ops") == 64000:
                rows.append(value_row(G_DESTROY, line, "<", 0.2, "s"))
            continue
        if w == "timers" and impl == "kio-c":
            if m == "late_p99_us" and prm.get("timers") == 100000:
                rows.append(value_row(G_LATE100K, line, "<=", 1000, "us"))
            elif m == "late_p99_us" and prm.get("timers") == 1000000:
                rows.append(value_row(G_LATE1M, line, "<=", 5000, "us"))
            elif m == "late_run_p99_us" and prm.get("timers") == 100000:
                rows.append(value_row(G_LATERUN100K, line, "<=", 1000, "us"))
            elif m == "late_run_p99_us" and prm.get("timers") == 1000000:
                rows.append(value_row(G_LATERUN1M, line, "<=", 5000, "us"))
            elif m == "arm_ns":
                rows.append(value_row(G_ARM, line, "<=", 40, "ns"))
            elif m == "bytes_per_timer":
                rows.append(value_row(G_TBYTES, line, "<=", 64, "B"))
        if w == "destroy" and m == "destroy_s" and prm.get("ops") == 64000:
            rows.append(value_row(G_DESTROY, line, "<", 0.2, "s"))
    # Differences of instruction counts: C++ over C, a never-fired timeout over a bare NOP.
    for (impl, pj), line in instr.items():
        prm = json.loads(pj)
        if impl == "kio-cxx" and prm.get("op") == "nop":
            c = instr.get(("kio-c", pj))
            if c:
                d = line["median"] - c["median"]
                rows.append((G_NOPCXX, f"kio-cxx - kio-c, {params_text(prm)}",
                             f"{d:+.1f} instr ({fmt(line['median'])} vs {fmt(c['median'])})",
                             d <= 20, False))
        if impl == "kio-c-timeout" and prm.get("op") == "echo":
            c = instr.get(("kio-c", pj))
            if c and c["median"]:
                v = line["median"] / c["median"]
                rows.append((G_ECHO_TMO, f"kio-c-timeout vs kio-c, {params_text(prm)}, "
                             "instr_per_op",
                             f"{v:.3f}x ({fmt(line['median'])} vs {fmt(c['median'])} instr)",
                             v <= 1.02, False))
        if impl == "kio-c" and prm.get("op") == "nop-timeout" and prm.get("batch") == 32:
            c = instr.get(("kio-c", json.dumps(dict(prm, op="nop"), sort_keys=True)))
            if c:
                d = line["median"] - c["median"]
                rows.append((G_TMO, f"kio-c, {params_text(prm)}",
                             f"{d:+.1f} instr ({fmt(line['median'])} vs {fmt(c['median'])})",
                             d <= 30, False))
    for goal, workload in GOAL_WORKLOADS:
        if not any(g[0] == goal for g in rows):
            rows.append((goal, f"no {workload} figures for this goal", "-", None, False))
    return rows


def params_order(params):
    """Points in natural order: numbers by value (batch 1 < 8 < 32 < 128)."""
    return tuple((k, (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)))
                 for k, v in sorted(params.items()))


def sort_key(r):
    w = r["workload"]
    wi = WORKLOAD_ORDER.index(w) if w in WORKLOAD_ORDER else len(WORKLOAD_ORDER)
    return (wi, w, r["metric"], params_order(r["params"]), not is_kio(r["impl"]), r["impl"])


def markdown(results, pairs, goal_rows, meta):
    m = meta["machine"]
    lines = ["# kio benchmark results", ""]
    lines.append(f"{meta['date']}, {'quick' if meta['quick'] else 'full'} run, "
                 f"{meta['reps']} repetitions per point, {meta['duration_s']} s.")
    lines.append("")
    lines.append(f"- CPU: {m.get('cpu_model', '?')}, {m.get('cpus', '?')} CPUs; "
                 f"{m.get('mem_mib', '?')} MiB; {m.get('os', '?')}")
    lines.append(f"- kernel: Linux {m['kernel']} ({m.get('arch', '?')})")
    lines.append(f"- pinning: {meta['cpus']}; SCHED_FIFO for the measured program: "
                 f"{meta.get('fifo', '-')}")
    lines.append("")
    lines.append("Median of the runs [min-max]. Ratios are kio/peer per pair: the scripts "
                 "run the repetitions in the outer loop and alternate the implementations "
                 "inside it, so run i of kio and run i of the peer are pair i; the ratio "
                 "column gives the median [min-max] of the per-pair ratios (\"~\" marks a "
                 "ratio of medians, where the run counts differ). For lower-is-better "
                 "figures, below 1 means kio is better. A variant (kio-c-timeout, "
                 "liburing-direct) also has its ratio to its baseline (kio-c, liburing): what "
                 "its one change costs or saves. Impls ending in -epoll: kio on its "
                 "epoll backend (KIO_BACKEND=epoll); kio-c and kio-cxx run with "
                 "KIO_BACKEND=io_uring.")
    lines.append("")
    lines.append("## Goals (reported, never asserted)")
    lines.append("")
    lines.append("| goal | point | value | status | range crosses the line |")
    lines.append("|---|---|---|---|---|")
    for goal, point, value, met, crosses in goal_rows:
        status = "not measured" if met is None else "informational" if met == INFO else \
            "met" if met else "**missed**"
        cross = "-" if met is None or met == INFO else ("yes" if crosses else "no")
        lines.append(f"| {goal} | {point} | {value} | {status} | {cross} |")
    lines.append("")
    lines += [f"Note: {n}" for n in GOAL_NOTES]
    lines.append("")
    lines.append("## All figures")
    lines.append("")
    lines.append("| workload | point | metric | impl | median | [min-max] | kio/peer |")
    lines.append("|---|---|---|---|---:|---|---|")
    ratio_text = {}
    for r in pairs:
        mark = "~" if r.basis == MEDIANS else ""
        ratio_text.setdefault(id(r.k), []).append(f"{mark}{r.text()} {r.p['impl']}")
    for r in sorted(results, key=sort_key):
        unit = f" {r['unit']}" if r["unit"] else ""
        better = "higher" if r["higher_is_better"] else "lower"
        lines.append(f"| {r['workload']} | {params_text(r['params'])} | {r['metric']} "
                     f"({better} is better) | {r['impl']} | {fmt(r['median'])}{unit} | "
                     f"[{fmt(r.get('min'))}-{fmt(r.get('max'))}] | "
                     f"{', '.join(ratio_text.get(id(r), []))} |")
    notes = []
    for r in sorted(results, key=sort_key):
        if r.get("note"):
            n = f"- {r['workload']} {r['impl']} {params_text(r['params'])}: {r['note']}"
            if n not in notes:
                notes.append(n)
    if notes:
        lines += ["", "Notes:", ""] + notes
    if meta["failed"]:
        lines.append("")
        lines.append(f"Workloads that failed: {', '.join(meta['failed'])} "
                     "(see the run's stderr).")
    lines.append("")
    return "\n".join(lines)


def gnuplot_script(results, png):
    """One clustered-bar panel (median, min-max error bars) per workload figure."""
    panels = []
    for w in sorted({r["workload"] for r in results},
                    key=lambda w: (WORKLOAD_ORDER.index(w) if w in WORKLOAD_ORDER
                                   else 99, w)):
        rs = [r for r in results if r["workload"] == w]
        metrics = [m for m in CHART_METRICS.get(w, []) if any(r["metric"] == m for r in rs)]
        if not metrics:
            metrics = [rs[0]["metric"]]
        for metric in metrics:
            panels.append((w, metric, [r for r in rs if r["metric"] == metric]))
    if not panels:
        return None
    cols = 2 if len(panels) > 1 else 1
    rows = (len(panels) + cols - 1) // cols
    out = [f"set terminal pngcairo size {700 * cols},{360 * rows} font 'sans,9'",
           f"set output '{png}'",
           "set style data histograms",
           "set style histogram errorbars gap 2 lw 1",
           "set style fill solid 0.8 border -1",
           "set key outside right top vertical",
           "set grid ytics",
           "set yrange [0:*]",
           "set xtics rotate by -20 noenhanced",
           "set key noenhanced",
           f"set multiplot layout {rows},{cols} title 'kio vs peers (median, min-max)'"]
    for n, (w, metric, rs) in enumerate(panels):
        impls = sorted({r["impl"] for r in rs}, key=lambda i: (not is_kio(i), i))
        points = []
        for r in sorted(rs, key=sort_key):
            p = params_text(r["params"])
            if p not in points:
                points.append(p)
        val = {(params_text(r["params"]), r["impl"]): r for r in rs}
        out.append(f"$d{n} << EOD")
        # Columns: point label, then median, min, max per impl (no header row: gnuplot
        # would count it as a cluster).
        for p in points:
            cells = []
            for i in impls:
                r = val.get((p, i))
                if r is None:
                    cells += ["NaN", "NaN", "NaN"]
                else:
                    cells += [repr(float(r["median"])), repr(float(r.get("min", r["median"]))),
                              repr(float(r.get("max", r["median"])))]
            out.append('"' + p.replace('"', "'") + '" ' + " ".join(cells))
        out.append("EOD")
        unit = rs[0]["unit"]
        better = "higher" if rs[0]["higher_is_better"] else "lower"
        out.append(f"set title '{w}: {metric} ({unit}, {better} is better)' noenhanced")
        plots = []
        for j, i in enumerate(impls):
            c = 2 + 3 * j
            xt = ":xtic(1)" if j == 0 else ""
            plots.append(f"$d{n} using {c}:{c + 1}:{c + 2}{xt} title '{i}'")
        out.append("plot " + ", \\\n     ".join(plots))
    out.append("unset multiplot")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--in", dest="inp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", default="0")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--duration", type=int, default=0)
    ap.add_argument("--failed", default="")
    ap.add_argument("--timing", default="")
    ap.add_argument("--cpus", default="")
    ap.add_argument("--fifo", default="-")
    a = ap.parse_args()

    results = load(a.inp)
    pairs = ratios(results)
    goal_rows = goals(results, pairs)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": a.quick == "1", "reps": a.reps, "duration_s": a.duration,
        "failed": a.failed.split(), "cpus": a.cpus or "-", "fifo": a.fifo,
        "workload_seconds": {k: int(v) for k, v in
                             (t.split("=", 1) for t in a.timing.split() if "=" in t)},
        "machine": machine_info(),
    }
    doc = {
        "meta": meta,
        "results": results,
        "ratios": [{"workload": r.k["workload"], "params": r.k["params"],
                    "metric": r.k["metric"], "kio": r.k["impl"], "peer": r.p["impl"],
                    "ratio": r.median, "min": r.lo, "max": r.hi, "pairs": r.n,
                    "basis": r.basis} for r in pairs],
        "goals": [{"goal": g, "point": pt, "value": v, "met": met, "range_crosses": c}
                  for g, pt, v, met, c in goal_rows],
        "goal_notes": GOAL_NOTES,
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    md = markdown(results, pairs, goal_rows, meta)
    with open(os.path.join(a.out, "results.md"), "w", encoding="utf-8") as f:
        f.write(md)

    png = os.path.join(a.out, "results.png")
    script = gnuplot_script(results, png)
    if script:
        gp = os.path.join(a.out, "results.gp")
        with open(gp, "w", encoding="utf-8") as f:
            f.write(script)
        if shutil.which("gnuplot"):
            r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"report.py: gnuplot failed:\n{r.stderr}", file=sys.stderr)
        else:
            print("report.py: gnuplot not installed: no results.png "
                  "(scripts/install-deps.sh bench)", file=sys.stderr)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
