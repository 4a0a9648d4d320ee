#!/usr/bin/env bash
# The project's one test command: README.md gives it and .ci/run calls it.
#
# Runs every test of the workspace: unit tests, the store conformance suites, the HTTP
# suites, the example and browser tests, the compile-fail (trybuild) cases and the doc tests.
# Stores that need no server (memory, cookie, file, SQLite) always run. For each networked
# store (and the browser), scripts/services/NAME.sh finds, starts or installs its server;
# a suite whose server cannot be had is left out of the build and named at the end with the
# reason: never counted as passed. With CI=true (or SESSION_KIT_REQUIRE_ALL=1) any suite
# left out fails the run.
#
# Pass a server of your own with its variable, e.g.
#   SESSION_KIT_POSTGRES_URL=postgres://me@db/sessions bash scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."

features=(session-kit/sqlite session-kit/json session-kit/conformance session-kit/actix)
not_run=()

# use SUITE VARIABLE FEATURE: take the server from VARIABLE if set, else from the script.
use() {
    local suite=$1 variable=$2 feature=$3 line
    if [ -n "${!variable:-}" ]; then
        features+=("$feature")
        return
    fi
    local log="target/service-$suite.log"
    if line=$(bash "scripts/services/$suite.sh" 2>"$log"); then
        while IFS= read -r assignment; do
            [ -n "$assignment" ] && export "${assignment?}"
        done <<<"$line"
        features+=("$feature")
    else
        # The scripts' last line says why, already naming the suite.
        local reason
        reason=$(tail -n 1 "$log")
        not_run+=("${reason:-$suite: its service script failed (see $log)}")
    fi
}

mkdir -p target
use redis SESSION_KIT_REDIS_URL session-kit/redis
use redis-cluster SESSION_KIT_REDIS_CLUSTER_URLS session-kit/redis-cluster
use memcached SESSION_KIT_MEMCACHED_URL session-kit/memcached
use postgres SESSION_KIT_POSTGRES_URL session-kit/postgres
use mysql SESSION_KIT_MYSQL_URL session-kit/mysql
use chromium SESSION_KIT_CHROMEDRIVER session-kit/browser

list=$(IFS=,; echo "${features[*]}")
echo "==> cargo test with features: $list"
status=0
cargo test --workspace --exclude session-kit-bench --all-targets --no-fail-fast --features "$list" || status=1
cargo test --workspace --exclude session-kit-bench --doc --no-fail-fast --features "$list" || status=1
# The golden SQL of every dialect needs only the features, no server: run it even when a
# server's suite was left out above.
if [[ ",$list," != *",session-kit/postgres,"* || ",$list," != *",session-kit/mysql,"* ]]; then
    echo "==> golden SQL of every dialect (no server needed)"
    cargo test -p session-core --lib --features sqlite,postgres,mysql store::sql::golden || status=1
fi

if [ "${#not_run[@]}" -gt 0 ]; then
    echo
    echo "Suites NOT run (not counted as passed):"
    printf '  - %s\n' "${not_run[@]}"
    if [ "${CI:-}" = "true" ] || [ "${SESSION_KIT_REQUIRE_ALL:-}" = "1" ]; then
        echo "CI requires every suite: failing."
        status=1
    fi
fi
exit $status
