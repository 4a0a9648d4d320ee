#!/usr/bin/env bash
# Starts (or finds running) a Memcached on loopback for the Memcached store suite.
#
# Idempotent: a memcached already answering on the port is reused. Installs memcached from
# Debian when missing and we are root. On success prints `SESSION_KIT_MEMCACHED_URL=...` on
# stdout and exits 0; on failure prints one line saying why on stderr and exits 1.
set -uo pipefail

PORT=11311
DIR="${TMPDIR:-/tmp}/session-kit-memcached"
DEADLINE_SECS=20

fail() {
    echo "memcached: $*" >&2
    exit 1
}

# `version` over a plain TCP connection (bash's /dev/tcp, so no client tool is needed).
answers() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
        printf 'version\r\n' >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        [[ "$reply" == VERSION* ]]
    ) 2>/dev/null
}

if answers; then
    echo "SESSION_KIT_MEMCACHED_URL=tcp://127.0.0.1:$PORT"
    exit 0
fi

if ! command -v memcached >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        fail "memcached is not installed and we are not root to install it (apt-get install memcached)"
    fi
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached; } >&2; then
        fail "could not install memcached with apt-get"
    fi
fi

mkdir -p "$DIR" || fail "cannot create $DIR"
user_args=()
# memcached refuses to run as root unless told which user to run as.
if [ "$(id -u)" -eq 0 ]; then user_args=(-u root); fi
memcached -d -l 127.0.0.1 -p "$PORT" -U 0 -m 64 -P "$DIR/memcached.pid" "${user_args[@]}" \
    >"$DIR/memcached.log" 2>&1 || fail "memcached failed to start on port $PORT (see $DIR/memcached.log)"

deadline=$((SECONDS + DEADLINE_SECS))
until answers; do
    [ "$SECONDS" -lt "$deadline" ] || fail "memcached did not answer on 127.0.0.1:$PORT within ${DEADLINE_SECS}s"
    sleep 0.1
done
echo "SESSION_KIT_MEMCACHED_URL=tcp://127.0.0.1:$PORT"
