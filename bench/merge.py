#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Result-line helper for the workload scripts (bench/README.md).

  merge.py FILE...            merge result lines: lines with the same workload, impl,
                              params and metric become one, their runs concatenated in
                              order and median/min/max recomputed (an extra.paired_ratio
                              is dropped: merged runs pair by index); printed on stdout
  merge.py --emit WORKLOAD IMPL PARAMS_JSON METRIC UNIT HIGHER_IS_BETTER V1 [V2...]
                              print one result line from raw values (HIGHER_IS_BETTER:
                              true/false/1/0)

Standard library only.
"""
import json
import sys


def summarize(runs):
    s = sorted(runs)
    n = len(s)
    median = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return median, s[0], s[-1]


def line(workload, impl, params, metric, unit, hib, runs, note=None, extra=None):
    median, lo, hi = summarize(runs)
    obj = {"workload": workload, "impl": impl, "params": params, "metric": metric,
           "unit": unit, "higher_is_better": hib, "runs": runs,
           "median": median, "min": lo, "max": hi}
    if note:
        obj["note"] = note
    if extra:
        obj["extra"] = extra
    return json.dumps(obj, separators=(",", ":"))


def merge(paths):
    order, groups = [], {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for raw in f:
                raw = raw.strip()
                if not raw.startswith("{"):
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError:
                    print(f"merge.py: {path}: not JSON: {raw[:80]}", file=sys.stderr)
                    continue
                key = (obj["workload"], obj["impl"],
                       json.dumps(obj.get("params", {}), sort_keys=True), obj["metric"])
                if key not in groups:
                    order.append(key)
                    groups[key] = dict(obj, runs=[])
                elif (groups[key].get("extra") or {}).get("paired_ratio"):
                    # One program run per repetition: the pairs are runs[i] of each line
                    # (report.py), not the first run's own paired ratio.
                    groups[key]["extra"] = {k: v for k, v in groups[key]["extra"].items()
                                            if k != "paired_ratio"} or None
                groups[key]["runs"].extend(obj.get("runs") or [obj["median"]])
    for key in order:
        g = groups[key]
        print(line(g["workload"], g["impl"], g.get("params", {}), g["metric"], g["unit"],
                   bool(g["higher_is_better"]), g["runs"], g.get("note"), g.get("extra")))


def main(argv):
    if len(argv) >= 8 and argv[1] == "--emit":
        _, _, workload, impl, params, metric, unit, hib, *values = argv
        print(line(workload, impl, json.loads(params), metric, unit,
                   hib.lower() in ("1", "true", "yes"), [float(v) for v in values]))
        return 0
    if len(argv) >= 2 and not argv[1].startswith("-"):
        merge(argv[1:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
