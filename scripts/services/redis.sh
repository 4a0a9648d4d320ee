#!/usr/bin/env bash
# Finds (or starts) a Redis on loopback for the Redis store suites.
#
# Reuses a Redis answering on 127.0.0.1:6379; otherwise starts a private one on port 6390,
# installing redis-server from Debian when missing and we are root. On success prints
# `SESSION_KIT_REDIS_URL=...` on stdout and exits 0; on failure one line on stderr, exit 1.
set -uo pipefail

DIR="${TMPDIR:-/tmp}/session-kit-redis"
DEADLINE_SECS=20

fail() {
    echo "redis: $*" >&2
    exit 1
}

# PING over bash's /dev/tcp, so no client tool is needed.
answers() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        [[ "$reply" == +PONG* ]]
    ) 2>/dev/null
}

for port in 6379 6390; do
    if answers "$port"; then
        echo "SESSION_KIT_REDIS_URL=redis://127.0.0.1:$port"
        exit 0
    fi
done

if ! command -v redis-server >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || fail "no Redis on 127.0.0.1:6379, and redis-server is not installed (apt-get install redis-server)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >&2 ||
        fail "could not install redis-server with apt-get"
fi

mkdir -p "$DIR" || fail "cannot create $DIR"
redis-server --port 6390 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$DIR" --logfile "$DIR/redis.log" --pidfile "$DIR/redis.pid" >/dev/null ||
    fail "redis-server failed to start on port 6390 (see $DIR/redis.log)"
deadline=$((SECONDS + DEADLINE_SECS))
until answers 6390; do
    [ "$SECONDS" -lt "$deadline" ] || fail "redis-server did not answer on 127.0.0.1:6390 within ${DEADLINE_SECS}s"
    sleep 0.1
done
echo "SESSION_KIT_REDIS_URL=redis://127.0.0.1:6390"
