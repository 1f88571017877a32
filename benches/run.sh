#!/usr/bin/env bash
# Core runtime benchmarks, weft against tokio: runs `rt_multi_threaded` (criterion) and
# `idle_task_memory`, then prints weft time / tokio time per benchmark from criterion's
# median estimates.
#
#   benches/run.sh                  # everything (about 3 minutes on 2 cores)
#   benches/run.sh ping_pong        # extra arguments go to criterion (here: a filter)
#   SKIP_BENCH=1 benches/run.sh     # only print the table of the last run
#
# Builds with CARGO_BUILD_JOBS=1 unless set: the bench box is small and shared.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
target="${CARGO_TARGET_DIR:-$root/target}"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
if [ -z "${SKIP_BENCH:-}" ]; then
    cargo bench -p weft-benches --bench rt_multi_threaded -- "$@"
    cargo bench -p weft-benches --bench idle_task_memory
fi

python3 - "$target/criterion" <<'EOF'
import json, os, sys

root = sys.argv[1]
groups = ["spawn_many_local", "spawn_many_remote_idle", "spawn_many_remote_busy",
          "yield_many", "ping_pong", "chained_spawn"]

def median_ns(group, runtime):
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

print()
print("| benchmark | weft (median) | tokio (median) | weft / tokio |")
print("|---|---:|---:|---:|")
for g in groups:
    w, t = median_ns(g, "weft"), median_ns(g, "tokio")
    ratio = f"{w / t:.2f}" if w is not None and t else "-"
    print(f"| {g} | {fmt(w)} | {fmt(t)} | {ratio} |")
EOF
