#!/usr/bin/env bash
# Networking benchmarks of weft against tokio (and a mio epoll floor): builds once
# (release, the `bench` profile), runs `net_echo` (echo + mixed load, server CPU per
# request; then the echo points again in slices, `--only slices`), then `wrk -c 64 -d 5s` against examples/http_hello.rs (weft) and
# benches/examples/http_hello_tokio.rs, and prints markdown tables.
#
#   benches/net.sh                     # the whole suite, ~6 min
#   SLICE_ROUNDS=40 benches/net.sh     # rounds of the slices part (20); SKIP_SLICES=1: none
#   benches/net.sh --secs 5            # extra arguments go to net_echo
#   RUNS=2 benches/net.sh              # the suite twice in a row (noise on 2 cores is large)
#   SKIP_WRK=1 benches/net.sh          # net_echo only
#
# Everything is on 127.0.0.1. Builds with CARGO_BUILD_JOBS=1 unless set (small, shared box).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

RUNS="${RUNS:-1}"
SLICE_ROUNDS="${SLICE_ROUNDS:-20}"
WRK_CONNS="${WRK_CONNS:-64}"
WRK_SECS="${WRK_SECS:-5}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

echo "== building (release)" >&2
exe=$(cargo bench -p weft-benches --bench net_echo --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*net_echo[^"]*"' | tail -1 | cut -d'"' -f4)
cargo build --profile bench --example http_hello >&2
cargo build --profile bench -p weft-benches --example http_hello_tokio >&2
[ -x "$exe" ] || { echo "net.sh: no net_echo executable" >&2; exit 1; }

hz=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of a process, clock ticks
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# wrk against one server binary: prints a markdown row.
wrk_one() {
    local name="$1" bin="$2" out pid addr c0 c1 rps lat p50 p99 reqs
    out=$(mktemp)
    "$bin" 127.0.0.1:0 >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        addr=$(grep -o 'http://[0-9.:]*/' "$out" || true)
        [ -n "$addr" ] && break
        sleep 0.05
    done
    [ -n "$addr" ] || { echo "net.sh: $name did not start: $(cat "$out")" >&2; kill "$pid"; return 1; }
    wrk -c 64 -d 1s "$addr" >/dev/null # warm-up
    c0=$(cpu_ticks "$pid")
    local w
    w=$(wrk -c "$WRK_CONNS" -d "${WRK_SECS}s" --latency "$addr")
    c1=$(cpu_ticks "$pid")
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$out"
    echo "$w" | sed 's/^/    /' >&2
    rps=$(echo "$w" | awk '/Requests\/sec/ { print $2 }')
    reqs=$(echo "$w" | awk '/requests in/ { print $1 }')
    lat=$(echo "$w" | awk '$1 == "Latency" { print $2; exit }')
    p50=$(echo "$w" | awk '$1 == "50%" { print $2 }')
    p99=$(echo "$w" | awk '$1 == "99%" { print $2 }')
    local errs
    errs=$(echo "$w" | grep -E 'Socket errors|Non-2xx' | tr -s ' ' | tr '\n' ';' || true)
    echo "| $name | $rps | $lat | $p50 | $p99 | $(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }') | ${errs:-none} |"
}

for run in $(seq "$RUNS"); do
    echo
    echo "## run $run of $RUNS: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    "$exe" "$@"
    if [ -z "${SKIP_SLICES:-}" ]; then
        # The same echo points again, servers loaded in turn in short slices: the tighter
        # paired ratio (net_echo.rs, `slices_suite`).
        "$exe" --only slices --reps "$SLICE_ROUNDS"
    fi
    if [ -z "${SKIP_WRK:-}" ]; then
        if command -v wrk >/dev/null; then
            echo
            echo "### wrk -c $WRK_CONNS -d ${WRK_SECS}s (default 2 wrk threads), http_hello, 2 workers each"
            echo
            echo "| server | req/s | latency avg | p50 | p99 | server CPU µs/req | errors |"
            echo "|---|---:|---:|---:|---:|---:|---|"
            wrk_one weft "$TARGET_DIR/release/examples/http_hello"
            wrk_one tokio "$TARGET_DIR/release/examples/http_hello_tokio"
            echo
            echo "load average after wrk: $(cut -d' ' -f1-3 /proc/loadavg)"
        else
            echo "wrk is not installed (apt-get install -y wrk): wrk part skipped"
        fi
    fi
done
