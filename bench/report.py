#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the result lines of a bench/run.sh run into results.json, results.md and
results.png (through a gnuplot script, results.gp).

  report.py --in results.jsonl --out DIR [--quick 0|1] [--reps N] [--duration S]
            [--failed "names"] [--timing "name=s ..."] [--cpus "..."]

Ratios: every kio line (impl starting with "kio") is paired with every peer line of the
same workload, params and metric; ratio = kio median / peer median, or the median of
per-run paired ratios when the kio line carries extra.paired_ratio for that peer. The goals of the
benchmark issue are marked met or missed, each value saying which of the two ratios it is;
nothing here fails the run. kio impls ending in "-epoll" ran on kio's epoll backend
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
    "echo": ["ns_per_msg"],
    "http": ["req_per_s"],
    "fileread": ["iops"],
    "timers": ["bytes_per_timer", "wall_s"],
    "alloc": ["allocs_per_op"],
    "idle": ["bytes_per_conn"],
    "destroy": ["ns_per_op"],
}
WORKLOAD_ORDER = ["nop", "echo", "http", "fileread", "timers", "alloc", "idle", "destroy"]
# Figures whose kio/peer ratio would mislead: a liburing timeout lives in kernel memory,
# which the process's RSS does not show.
NO_RATIO = {("timers", "bytes_per_timer")}


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


# How a ratio was taken (the fourth member of a pairing).
PAIRED = "paired"    # median of per-run ratios of runs made back to back in one process
MEDIANS = "medians"  # median of the kio runs / median of the peer runs
BASIS_TEXT = {PAIRED: "paired per-run ratio", MEDIANS: "ratio of medians"}


def ratios(results):
    """[(kio line, peer line, ratio, PAIRED or MEDIANS)] for every pairing."""
    by_key = {}
    for r in results:
        by_key.setdefault(key_of(r), []).append(r)
    out = []
    for key, group in by_key.items():
        if (key[0], key[2]) in NO_RATIO:
            continue
        for k in (r for r in group if is_kio(r["impl"])):
            for p in (r for r in group if not is_kio(r["impl"])):
                paired = (k.get("extra") or {}).get("paired_ratio") or {}
                if paired.get("peer") == p["impl"] and "median" in paired:
                    # Runs made back to back in one process: steadier than two medians.
                    out.append((k, p, paired["median"], PAIRED))
                elif p["median"]:
                    out.append((k, p, k["median"] / p["median"], MEDIANS))
    return out


# Goal texts, and the workload whose figures each needs (for "not measured").
G_NOP = "NOP ops/s >= 0.90x liburing at batch 32"
G_FILE = "file reads IOPS >= 0.95x fio"
G_TIMERS = "timers <= 64 B each"
G_ECHO_URING = "echo server ns/msg <= 1.05x liburing"
G_ECHO_PEERS = "echo server ns/msg <= 0.85x libuv and Asio"
G_EPOLL_UV = "epoll backend: echo ns/msg kio-c-epoll <= 1.0x libuv"
G_EPOLL_HAND = "epoll backend: echo ns/msg kio-c-epoll <= 1.05x hand-written epoll"
G_EPOLL_PREAD = "epoll backend: cached 4 KiB reads at QD 1, IOPS kio-c-epoll >= 0.90x pread"
G_DESTROY = "kio_ctx_destroy with 64,000 ops pending < 0.2 s (both backends)"
GOAL_WORKLOADS = ((G_NOP, "nop"), (G_FILE, "fileread"), (G_TIMERS, "timers"),
                  (G_ECHO_URING, "echo"), (G_ECHO_PEERS, "echo"), (G_EPOLL_UV, "echo"),
                  (G_EPOLL_HAND, "echo"), (G_EPOLL_PREAD, "fileread"),
                  (G_DESTROY, "destroy"))
# Shown under the goals: what the epoll backend must leave alone.
GOAL_NOTES = [
    "(io_uring backend) kio-c's NOP and echo ratios must not move now that the epoll "
    "backend is in the tree: the goals without \"epoll backend\" still apply to kio-c "
    "(and kio-cxx) as before; the -epoll lines are judged by the epoll backend goals only.",
]


def goals(results, pairs):
    """[(goal text, point text, value text, met or None)]. A ratio's value says whether it
    is the paired per-run ratio or the ratio of the medians."""
    rows = []
    for k, p, ratio, basis in pairs:
        w, m, impl = k["workload"], k["metric"], p["impl"]
        point = f"{k['impl']} vs {impl}, {params_text(k['params'])}"
        value = f"{ratio:.2f}x ({BASIS_TEXT[basis]})"
        if is_kio_epoll(k["impl"]):
            # The epoll backend's goals: kio-c-epoll against epoll-based code.
            if k["impl"] != "kio-c-epoll":
                continue
            if w == "echo" and m == "ns_per_msg" and impl == "libuv":
                rows.append((G_EPOLL_UV, point, value, ratio <= 1.0))
            elif w == "echo" and m == "ns_per_msg" and impl == "epoll":
                rows.append((G_EPOLL_HAND, point, value, ratio <= 1.05))
            elif w == "fileread" and m == "iops" and impl == "pread" \
                    and k["params"].get("qd") == 1:
                rows.append((G_EPOLL_PREAD, point, value, ratio >= 0.90))
        elif w == "nop" and m == "ops_per_s" and impl == "liburing" \
                and k["params"].get("batch") == 32:
            rows.append((G_NOP, point, value, ratio >= 0.90))
        elif w == "fileread" and m == "iops" and impl == "fio":
            rows.append((G_FILE, point, value, ratio >= 0.95))
        elif w == "echo" and m == "ns_per_msg":
            if impl == "liburing":
                rows.append((G_ECHO_URING, point, value, ratio <= 1.05))
            elif impl.startswith("libuv") or impl.startswith("asio"):
                rows.append((G_ECHO_PEERS, point, value, ratio <= 0.85))
    for r in results:
        if r["workload"] == "timers" and r["metric"] == "bytes_per_timer" \
                and is_kio(r["impl"]) and not is_kio_epoll(r["impl"]):
            rows.append((G_TIMERS, f"{r['impl']}, {params_text(r['params'])}",
                         f"{fmt(r['median'])} B", r["median"] <= 64))
        if r["workload"] == "destroy" and r["metric"] == "destroy_s" and is_kio(r["impl"]) \
                and r["params"].get("ops") == 64000:
            rows.append((G_DESTROY, f"{r['impl']}, {params_text(r['params'])}",
                         f"{r['median']:.3g} s", r["median"] < 0.2))
    for goal, workload in GOAL_WORKLOADS:
        if not any(g[0] == goal for g in rows):
            rows.append((goal, f"no {workload} figures for this goal", "-", None))
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
                 f"{meta['reps']} repetitions per point, {meta['duration_s']} s. "
                 f"Machine: {m.get('cpu_model', '?')}, {m.get('cpus', '?')} CPUs, "
                 f"{m.get('mem_mib', '?')} MiB, {m.get('os', '?')}, Linux {m['kernel']}; "
                 f"pinned {meta['cpus']}.")
    lines.append("")
    lines.append("Median of the runs [min-max]. Ratio: kio median / peer median, or the "
                 "median of paired per-run ratios where a program measured both sides "
                 "back to back (nop; fileread kio-c-epoll vs pread); for lower-is-better "
                 "figures, below 1 means kio is better. Impls ending in -epoll: kio on its "
                 "epoll backend (KIO_BACKEND=epoll); kio-c and kio-cxx run with "
                 "KIO_BACKEND=io_uring.")
    lines.append("")
    lines.append("| workload | point | metric | impl | median | [min-max] | kio/peer |")
    lines.append("|---|---|---|---|---:|---|---|")
    ratio_text = {}
    for k, p, ratio, _ in pairs:
        ratio_text.setdefault(id(k), []).append(f"{ratio:.2f}x {p['impl']}")
    for r in sorted(results, key=sort_key):
        unit = f" {r['unit']}" if r["unit"] else ""
        better = "higher" if r["higher_is_better"] else "lower"
        lines.append(f"| {r['workload']} | {params_text(r['params'])} | {r['metric']} "
                     f"({better} is better) | {r['impl']} | {fmt(r['median'])}{unit} | "
                     f"[{fmt(r.get('min'))}-{fmt(r.get('max'))}] | "
                     f"{', '.join(ratio_text.get(id(r), []))} |")
    lines.append("")
    lines.append("## Goals (reported, never asserted)")
    lines.append("")
    lines.append("| goal | point | value | status |")
    lines.append("|---|---|---|---|")
    for goal, point, value, met in goal_rows:
        status = "not measured" if met is None else ("met" if met else "**missed**")
        lines.append(f"| {goal} | {point} | {value} | {status} |")
    lines.append("")
    lines += [f"Note: {n}" for n in GOAL_NOTES]
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
    a = ap.parse_args()

    results = load(a.inp)
    pairs = ratios(results)
    goal_rows = goals(results, pairs)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": a.quick == "1", "reps": a.reps, "duration_s": a.duration,
        "failed": a.failed.split(), "cpus": a.cpus or "-",
        "workload_seconds": {k: int(v) for k, v in
                             (t.split("=", 1) for t in a.timing.split() if "=" in t)},
        "machine": machine_info(),
    }
    doc = {
        "meta": meta,
        "results": results,
        "ratios": [{"workload": k["workload"], "params": k["params"], "metric": k["metric"],
                    "kio": k["impl"], "peer": p["impl"], "ratio": ratio, "basis": basis}
                   for k, p, ratio, basis in pairs],
        "goals": [{"goal": g, "point": pt, "value": v, "met": met}
                  for g, pt, v, met in goal_rows],
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
