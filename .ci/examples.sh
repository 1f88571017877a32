#!/usr/bin/env bash
# Smoke test of the example servers as a user runs them: each prints where it listens,
# answers a client, and exits 0 on one Ctrl-C (SIGINT), also with a connection still open
# and also when the Ctrl-C comes right after the banner. Needs only bash and coreutils.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example echo_server --example echo_client --example http_hello
bin=target/release/examples
log=$(mktemp)
trap 'rm -f "$log"' EXIT

fail() { echo "examples.sh: $*" >&2; echo "--- server output:" >&2; cat "$log" >&2; exit 1; }

# start NAME ARGS...: runs an example server in the background; sets `pid` and `port`
# from the address in its banner.
start() {
    : >"$log"
    "$bin/$1" "${@:2}" >"$log" 2>&1 &
    pid=$!
    port=
    for _ in $(seq 200); do
        port=$(grep -o '127\.0\.0\.1:[0-9]*' "$log" | head -1 | cut -d: -f2 || true)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    fail "$1 printed no address"
}

# interrupt: one SIGINT; the server must exit 0 within 10 s.
interrupt() {
    kill -INT "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        fail "still running 10 s after one Ctrl-C"
    fi
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc after Ctrl-C"
}

echo "== echo_server + echo_client"
start echo_server 127.0.0.1:0
reply=$(timeout 10 "$bin/echo_client" "hello from the smoke test" "127.0.0.1:$port")
grep -q "hello from the smoke test" <<<"$reply" || fail "echo_client got: $reply"
exec 3<>"/dev/tcp/127.0.0.1/$port" # a client that stays connected
interrupt
exec 3>&-

echo "== http_hello"
start http_hello 127.0.0.1:0
exec 4<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.0\r\n\r\n' >&4
reply=$(timeout 10 cat <&4)
exec 4>&-
grep -q "Hello, world!" <<<"$reply" || fail "http_hello answered: $reply"
exec 5<>"/dev/tcp/127.0.0.1/$port" # an idle keep-alive connection
interrupt
exec 5>&-

echo "== Ctrl-C right after the banner, 20 times each"
for name in echo_server http_hello; do
    for _ in $(seq 20); do
        start "$name" 127.0.0.1:0
        interrupt
    done
done
echo "== a bad command line is a usage error (exit 2), not a server"
for name in echo_server http_hello; do
    for args in "--no-such-flag" "127.0.0.1:0 127.0.0.1:0"; do
        rc=0
        # shellcheck disable=SC2086 # the words of $args are the arguments
        timeout 10 "$bin/$name" $args >"$log" 2>&1 || rc=$?
        [ "$rc" -eq 2 ] || fail "$name $args: exit status $rc, not 2"
        grep -q "usage:" "$log" || fail "$name $args printed no usage"
    done
done
echo "examples.sh: ok"
