#!/usr/bin/env bash
# Instructions per request (valgrind --tool=callgrind) on the memory and cookie paths, for
# before/after comparisons that do not move with the machine's load: run it at two commits
# (e.g. in two worktrees) and compare the tables.
#
#   scripts/callgrind.sh                  # every row below, 2000 requests each (about 2 min)
#   REQUESTS=500 scripts/callgrind.sh kit-memory:read ts-memory:read
#   FEATURES=sqlite scripts/callgrind.sh   # bench features to build with (default sqlite,redis)
#
# Each row runs bench/src/bin/hotloop.rs (optimized) under callgrind with collection off until the
# measured loop (`--collect-atstart=no --toggle-collect=hotloop::measured_requests`): the session
# is seeded and warmed up outside it, so the count is REQUESTS requests and nothing else, divided
# by REQUESTS. Rows are `contender:read|write` (contenders in hotloop.rs); the wide rows' write is
# `/write-one`. valgrind runs SHA-256 and AES without SHA-NI/AES-NI, so crypto weighs more here
# than on the CPU; compare rows of the same script, not with wall-clock figures.
#
# Needs valgrind (`apt-get install -y valgrind`).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-2000}
if [ $# -gt 0 ]; then
    ROWS=("$@")
else
    ROWS=(
        bare:read
        kit-memory:read kit-memory:write kit-memory-owned:read kit-memory-owned:write ts-memory:read ts-memory:write
        kit-sealed:read kit-sealed:write kit-signed:read kit-signed:write jar:read jar:write
        kit-memory-wide5:read kit-memory-wide5:write ts-memory-wide5:read ts-memory-wide5:write
        kit-memory-wide50:read kit-memory-wide50:write ts-memory-wide50:read ts-memory-wide50:write
    )
fi

command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }

# The profile and features of the full benchmark run and of scripts/load.sh, so the three share
# one optimized build (in `release/`); the measured paths (memory, cookie) are the same without
# the features.
cargo build --profile bench -q -p session-kit-bench --features "${FEATURES:-sqlite,redis}" --bin hotloop
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$TARGET_DIR" ] || { echo "cargo metadata reported no target directory" >&2; exit 1; }
HOTLOOP="$TARGET_DIR/release/hotloop"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then COMMIT="$COMMIT (+ uncommitted changes)"; fi
echo "instructions per request at $COMMIT, $REQUESTS requests per row (callgrind, optimized build)"
echo
echo "| contender | request | instructions per request |"
echo "|---|---|---:|"
for row in "${ROWS[@]}"; do
    contender=${row%%:*}
    kind=${row#*:}
    label=$kind
    if [[ $contender == *wide* && $kind == write ]]; then label=write-one; fi
    out="$WORK/callgrind.out"
    if ! valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
        --toggle-collect='hotloop::measured_requests' "$HOTLOOP" "$contender" "$kind" "$REQUESTS" \
        >/dev/null 2>"$WORK/valgrind.err"; then
        echo "$row failed:" >&2
        cat "$WORK/valgrind.err" >&2
        exit 1
    fi
    total=$(sed -n 's/^summary: *//p' "$out" | awk '{print $1}')
    [ -n "$total" ] && [ "$total" -gt 0 ] || {
        echo "$row: callgrind counted nothing inside hotloop::measured_requests (symbols stripped?)" >&2
        exit 1
    }
    awk -v c="$contender" -v k="$label" -v t="$total" -v n="$REQUESTS" \
        'BEGIN { printf "| %s | %s | %d |\n", c, k, t / n + 0.5 }'
done
