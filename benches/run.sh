#!/usr/bin/env bash
# Core runtime benchmarks, weft against tokio: runs `rt_multi_threaded` (criterion) and
# `idle_task_memory`, then prints weft time / tokio time per benchmark from criterion's
# median estimates (benches/ratios.py).
#
#   benches/run.sh                  # everything (1.5-2 minutes on 2 cores)
#   RUNS=3 benches/run.sh           # the criterion suite 3 times: last run + median ratio
#   benches/run.sh ping_pong        # extra arguments go to criterion (here: a filter)
#   SKIP_BENCH=1 benches/run.sh     # only the table of the last run(s)
#
# Builds with CARGO_BUILD_JOBS=1 unless set: the bench box is small and shared.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
target="${CARGO_TARGET_DIR:-$root/target}"
log="$target/criterion/weft-vs-tokio-runs.jsonl"
runs="${RUNS:-1}"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
if [ -z "${SKIP_BENCH:-}" ]; then
    mkdir -p "$(dirname "$log")"
    : > "$log"
    for i in $(seq 1 "$runs"); do
        cargo bench -p weft-benches --bench rt_multi_threaded -- "$@"
        python3 benches/ratios.py record "$target/criterion" "$log"
        echo "# run $i of $runs done, load:$(uptime | sed 's/.*load average://')"
    done
    cargo bench -p weft-benches --bench idle_task_memory
elif [ ! -s "$log" ]; then
    python3 benches/ratios.py record "$target/criterion" "$log"
fi
python3 benches/ratios.py report "$log"
