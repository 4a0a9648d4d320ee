#!/usr/bin/env bash
# Load test on loopback: session-kit's and tower-sessions' servers (bench/src/bin/kit_hello.rs and
# ts_hello.rs, routes in bench/src/load.rs) on each store, one server at a time under wrk for a
# fixed time, each request carrying one of a pool of seeded session cookies (round robin). Prints
# requests/s of both sides and the ratio, per store and request, then how the requests/s fall
# from 5 to 50 fields on each side.
#
#   scripts/load.sh                                   # defaults below: about 5 min
#   DURATION=3s STORES="memory redis" FIELDS=50 scripts/load.sh
#
# Environment:
#   DURATION     per wrk run (default 10s); a run is DURATION x 2 sides x rows x stores,
#                rows being 1 (hello) + 2 per FIELDS entry: 10 s x 2 x 5 x 3 = 5 min by default
#   THREADS      wrk threads (2); CONNECTIONS  wrk connections (32)
#   SESSIONS     seeded sessions per server and route (64)
#   STORES       any of "memory sqlite redis" (all three)
#   FIELDS       wide-session sizes to run, any of "5 50" (both); empty for the hello row only
#   REDIS_URL    Redis for the redis store (redis://127.0.0.1:6379); session-kit files its keys
#                under a prefix of this run, the peer under its session ids; both are removed at
#                exit. SQLite databases live in a temporary directory removed at exit.
#
# Rows: `hello` is GET / (read-only, one small field: the row of earlier runs); `read` reads every
# field of the wide session, `write-one` changes one of them (bench/src/wide.rs).
#
# Needs wrk (`apt-get install -y wrk`) and curl. Builds the servers with the `bench` profile
# (optimized like release, and sharing the dependencies `cargo bench` built; features
# sqlite,redis) into `release/` of the target directory cargo uses. Servers listen on 127.0.0.1 only, on free
# ports, and are stopped after their store's rows and on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
SESSIONS=${SESSIONS:-64}
STORES=${STORES:-memory sqlite redis}
FIELDS=${FIELDS-5 50}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }
for store in $STORES; do
    case $store in memory | sqlite | redis) ;; *) echo "unknown store $store (memory, sqlite, redis)" >&2; exit 2 ;; esac
done
for fields in $FIELDS; do
    case $fields in 5 | 50) ;; *) echo "FIELDS takes 5 and 50, not $fields" >&2; exit 2 ;; esac
done

cargo build --profile bench -q -p session-kit-bench --features sqlite,redis --bin kit_hello --bin ts_hello --bin redis_sweep
# Wherever cargo put them: the environment, a config file or the default `target/`.
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$TARGET_DIR" ] || { echo "cargo metadata reported no target directory" >&2; exit 1; }
BIN="$TARGET_DIR/release"

WORK=$(mktemp -d)
PREFIX="skload:$$-$(date +%s%N):"
PIDS=()
stop_servers() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
cleanup() {
    stop_servers
    if [[ " $STORES " == *" redis "* ]]; then
        # session-kit's keys by this run's prefix, the peer's by the session ids of its cookies.
        if [ -s "$WORK/redis-peer-keys" ]; then
            xargs -a "$WORK/redis-peer-keys" "$BIN/redis_sweep" "$PREFIX" || true
        else
            "$BIN/redis_sweep" "$PREFIX" || true
        fi
    fi
    rm -rf "$WORK"
}
touch "$WORK/redis-peer-keys"
trap cleanup EXIT

# wrk script: each request takes the next cookie of the file given after `--` (round robin,
# each thread starting elsewhere in the pool).
cat >"$WORK/rotate.lua" <<'EOF'
local cookies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
  i = math.random(#cookies)
end
request = function()
  i = i % #cookies + 1
  return wrk.format("GET", nil, { ["Cookie"] = cookies[i] })
end
EOF

# start SIDE ARGS...: runs $BIN/SIDE ARGS on a free loopback port; sets ADDR to its base URL.
start() {
    local name=$1 out="$WORK/$1.out"
    shift
    ADDR=127.0.0.1:0 "$BIN/$name" "$@" >"$out" 2>"$WORK/$name.err" &
    PIDS+=("$!")
    for _ in $(seq 1 100); do
        if grep -q '^listening on ' "$out"; then
            ADDR=$(sed -n 's/^listening on //p' "$out" | head -n1)
            return
        fi
        if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "$name $* did not start:" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}

# seed URL SEED_PATH CHECK_PATH FILE: creates SESSIONS sessions through SEED_PATH, checks each
# answers CHECK_PATH with 200, and writes their `name=value` cookies to FILE; prints the body of
# the first CHECK_PATH (both sides must render the same).
seed() {
    local url=$1 seed_path=$2 check_path=$3 file=$4 cookie first=""
    : >"$file"
    for _ in $(seq 1 "$SESSIONS"); do
        cookie=$(curl -sS -D - -o /dev/null "$url$seed_path" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n1)
        [ -n "$cookie" ] || { echo "no session cookie from $url$seed_path" >&2; exit 1; }
        local body
        body=$(curl -sS -f -H "Cookie: $cookie" "$url$check_path") || { echo "$url$check_path failed" >&2; exit 1; }
        [ -n "$first" ] || first=$body
        echo "$cookie" >>"$file"
    done
    echo "$first"
}

# drive URL COOKIES: wrk on URL rotating over the cookie file; prints "requests/s errors".
drive() {
    local report rps errors
    report=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$WORK/rotate.lua" "$1" -- "$2")
    echo "$report" >&2
    rps=$(echo "$report" | awk '/^Requests\/sec:/ {print $2}')
    # Non-2xx answers and socket errors would make a fast row meaningless: count them.
    errors=$(echo "$report" | awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}')
    echo "$rps $errors"
}

# Rows: "label|seed path|check path|wrk path".
ROWS=("hello, read-only|/set?name=Ada|/|/")
for fields in $FIELDS; do
    ROWS+=("read, $fields fields|/w$fields/seed|/w$fields/read|/w$fields/read")
    ROWS+=("write-one, $fields fields|/w$fields/seed|/w$fields/read|/w$fields/write-one")
done

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION per run, $SESSIONS seeded sessions per server and route, loopback" >&2
RESULTS=()
for store in $STORES; do
    case $store in
        memory) kit_args=(memory) ts_args=(memory) ;;
        sqlite) kit_args=(sqlite "$WORK/kit.db") ts_args=(sqlite "$WORK/ts.db") ;;
        redis) kit_args=(redis "$PREFIX") ts_args=(redis "$PREFIX") ;;
    esac
    start kit_hello "${kit_args[@]}"
    KIT=$ADDR
    start ts_hello "${ts_args[@]}"
    TS=$ADDR
    for row in "${ROWS[@]}"; do
        IFS='|' read -r label seed_path check_path path <<<"$row"
        # One pool of sessions per store and session type, shared by its read and write rows.
        pool="$WORK/$store-${seed_path//[^a-z0-9]/_}"
        if [ ! -e "$pool.kit" ]; then
            kit_body=$(seed "$KIT" "$seed_path" "$check_path" "$pool.kit")
            ts_body=$(seed "$TS" "$seed_path" "$check_path" "$pool.ts")
            [ "$kit_body" = "$ts_body" ] || { echo "$store $label: the sides render differently: '$kit_body' vs '$ts_body'" >&2; exit 1; }
            if [ "$store" = redis ]; then sed 's/^[^=]*=//' "$pool.ts" >>"$WORK/redis-peer-keys"; fi
        fi
        echo "--- $store, $label: session-kit ($KIT$path)" >&2
        read -r kit_rps kit_errors < <(drive "$KIT$path" "$pool.kit")
        echo "--- $store, $label: tower-sessions ($TS$path)" >&2
        read -r ts_rps ts_errors < <(drive "$TS$path" "$pool.ts")
        [ -n "$kit_rps" ] && [ -n "$ts_rps" ] || { echo "$store $label: wrk reported no rate" >&2; exit 1; }
        RESULTS+=("$store|$label|$kit_rps|$ts_rps|$kit_errors|$ts_errors")
    done
    stop_servers
done

echo
echo "| store | request | session-kit requests/s | tower-sessions requests/s | ratio session-kit / tower-sessions | failed (kit / peer) |"
echo "|---|---|---:|---:|---:|---:|"
for result in "${RESULTS[@]}"; do
    IFS='|' read -r store label kit ts kit_errors ts_errors <<<"$result"
    ratio=$(awk -v a="$kit" -v b="$ts" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
    echo "| $store | $label | $kit | $ts | $ratio | $kit_errors / $ts_errors |"
done

if [[ " $FIELDS " == *" 5 "* && " $FIELDS " == *" 50 "* ]]; then
    echo
    echo "Per-request cost at 50 fields against 5 (requests/s at 5 / at 50; 1.00x = no growth):"
    echo
    echo "| store | request | session-kit | tower-sessions |"
    echo "|---|---|---:|---:|"
    for store in $STORES; do
        for kind in read write-one; do
            line5=""; line50=""
            for result in "${RESULTS[@]}"; do
                IFS='|' read -r s label kit ts _ _ <<<"$result"
                [ "$s" = "$store" ] || continue
                [ "$label" = "$kind, 5 fields" ] && line5="$kit $ts"
                [ "$label" = "$kind, 50 fields" ] && line50="$kit $ts"
            done
            read -r k5 t5 <<<"$line5"
            read -r k50 t50 <<<"$line50"
            awk -v s="$store" -v k="$kind" -v k5="$k5" -v k50="$k50" -v t5="$t5" -v t50="$t50" \
                'BEGIN { printf "| %s | %s | %.2fx | %.2fx |\n", s, k, k5 / k50, t5 / t50 }'
        done
    done
fi
