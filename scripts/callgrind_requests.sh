#!/usr/bin/env bash
# Instructions per request, from callgrind, for contenders of bench/src/bin/hotloop.rs:
#   bash scripts/callgrind_requests.sh [hotloop binary] [contender ...]
# Default binary: target/release/hotloop (build it with
# `cargo build --release -p session-kit-bench --bin hotloop`); default contenders: the cookie
# rows, kit-sealed kit-signed jar. Each figure is (instructions of 1200 requests - of 200) / 1000,
# which leaves out start-up and seeding, the median of three runs (allocator and hash-seed
# effects move single runs by a few hundred instructions).
set -euo pipefail
binary=${1:-target/release/hotloop}
shift || true
contenders=("$@")
[ ${#contenders[@]} -gt 0 ] || contenders=(kit-sealed kit-signed jar)
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$@" 2>&1 | sed -n 's/.*refs: *//p' | tr -d ,; }
echo "| contender | request | instructions per request |"
echo "|---|---|---:|"
for contender in "${contenders[@]}"; do
    for kind in read write; do
        runs=()
        for _ in 1 2 3; do
            runs+=($(( ($(count "$contender" "$kind" 1200) - $(count "$contender" "$kind" 200)) / 1000 )))
        done
        median=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
        echo "| $contender | $kind | $median |"
    done
done
