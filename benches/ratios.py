#!/usr/bin/env python3
"""weft / tokio time ratios from criterion's estimates (used by benches/run.sh).

    ratios.py record CRITERION_DIR LOG   # append this run's medians to LOG (JSON lines)
    ratios.py report LOG                 # markdown table: last run, and the median over runs

Reads CRITERION_DIR/<group>/<weft|tokio>/new/estimates.json, median point estimate (ns).
"""
import json
import os
import statistics
import sys

GROUPS = ["spawn_many_local", "spawn_many_remote_idle", "spawn_many_remote_busy",
          "yield_many", "ping_pong", "chained_spawn"]


def median_ns(root, group, runtime):
    path = os.path.join(root, group, runtime, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def fmt(ns):
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def record(root, log):
    run = {g: [median_ns(root, g, "weft"), median_ns(root, g, "tokio")] for g in GROUPS}
    with open(log, "a") as f:
        f.write(json.dumps(run) + "\n")


def report(log):
    with open(log) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    if not runs:
        sys.exit("no runs recorded")
    last = runs[-1]
    many = len(runs) > 1
    print()
    head = "| benchmark | weft (median) | tokio (median) | weft / tokio |"
    rule = "|---|---:|---:|---:|"
    if many:
        head += f" median ratio over {len(runs)} runs | each run |"
        rule += "---:|---|"
    print(head)
    print(rule)
    for g in GROUPS:
        w, t = last[g]
        row = f"| {g} | {fmt(w)} | {fmt(t)} | {w / t:.2f} |" if w and t else f"| {g} | - | - | - |"
        if many:
            rs = [r[g][0] / r[g][1] for r in runs if r[g][0] and r[g][1]]
            med = f"{statistics.median(rs):.2f}" if rs else "-"
            row += f" {med} | {', '.join(f'{x:.2f}' for x in rs)} |"
        print(row)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
