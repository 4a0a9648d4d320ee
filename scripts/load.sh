#!/usr/bin/env bash
# Load test on loopback: the hello-style server of session-kit and of tower-sessions (both on
# their memory store, same routes `/set?name=X` and `/`), each driven by wrk for a fixed time
# with a seeded session cookie. Prints requests/s of both and the ratio.
#
#   scripts/load.sh                 # 10 s, 2 threads, 32 connections per server
#   DURATION=5s CONNECTIONS=64 scripts/load.sh
#
# Needs wrk (`apt-get install -y wrk`) and curl. Builds the servers in release mode into the
# target directory cargo uses ($CARGO_TARGET_DIR, or what `cargo metadata` reports). Servers
# listen on 127.0.0.1 only, on free ports, and are killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }

cargo build --release -q -p session-kit-bench --bin kit_hello --bin ts_hello
# Wherever cargo put them: the environment, a config file or the default `target/`.
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$TARGET_DIR" ] || { echo "cargo metadata reported no target directory" >&2; exit 1; }
BIN="$TARGET_DIR/release"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME: runs $BIN/NAME on a free loopback port; sets ADDR_NAME to its base URL.
start() {
    local name=$1 out="$WORK/$1.out"
    ADDR=127.0.0.1:0 "$BIN/$name" >"$out" 2>"$WORK/$name.err" &
    PIDS+=("$!")
    for _ in $(seq 1 100); do
        if grep -q '^listening on ' "$out"; then
            printf -v "ADDR_$name" '%s' "$(sed -n 's/^listening on //p' "$out" | head -n1)"
            return
        fi
        sleep 0.1
    done
    echo "$name did not start:" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}

# seed URL: sets a name, prints the `name=value` session cookie the server sent.
seed() {
    local cookie
    cookie=$(curl -sS -D - -o /dev/null "$1/set?name=Ada" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n1)
    [ -n "$cookie" ] || { echo "no session cookie from $1" >&2; exit 1; }
    local body
    body=$(curl -sS -H "Cookie: $cookie" "$1/")
    [ "$body" = "Name: Ada" ] || { echo "unexpected body from $1/: $body" >&2; exit 1; }
    echo "$cookie"
}

# drive URL COOKIE: wrk on `/` with the cookie; prints requests/s.
drive() {
    local report
    report=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "Cookie: $2" "$1/")
    echo "$report" >&2
    echo "$report" | awk '/^Requests\/sec:/ {print $2}'
}

start kit_hello
start ts_hello
KIT_COOKIE=$(seed "$ADDR_kit_hello")
TS_COOKIE=$(seed "$ADDR_ts_hello")

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, GET / with a session cookie (read-only), loopback" >&2
echo "--- session-kit ($ADDR_kit_hello)" >&2
KIT_RPS=$(drive "$ADDR_kit_hello" "$KIT_COOKIE")
echo "--- tower-sessions ($ADDR_ts_hello)" >&2
TS_RPS=$(drive "$ADDR_ts_hello" "$TS_COOKIE")

RATIO=$(awk -v a="$KIT_RPS" -v b="$TS_RPS" 'BEGIN { printf "%.2f", a / b }')
echo
echo "| server | requests/s |"
echo "|---|---:|"
echo "| session-kit (memory store) | $KIT_RPS |"
echo "| tower-sessions (MemoryStore) | $TS_RPS |"
echo "| ratio session-kit / tower-sessions | ${RATIO}x |"
