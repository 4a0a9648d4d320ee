#!/usr/bin/env bash
# Starts (or finds running) a 3-node Redis Cluster on loopback for the Redis Cluster store suite.
#
# Idempotent: nodes already up are reused, a cluster already formed is not formed again.
# Installs redis-server and redis-tools from Debian when missing and we are root.
# On success prints `SESSION_KIT_REDIS_CLUSTER_URLS=...` on stdout and exits 0; on failure
# prints one line saying why on stderr and exits 1.
set -uo pipefail

PORTS=(7100 7101 7102)
BASE_DIR="${TMPDIR:-/tmp}/session-kit-redis-cluster"
DEADLINE_SECS=30

fail() {
    echo "redis-cluster: $*" >&2
    exit 1
}

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        fail "redis-server/redis-cli not installed and not root to install them (apt-get install redis-server redis-tools)"
    fi
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools; } >&2; then
        fail "could not install redis-server and redis-tools with apt-get"
    fi
fi

deadline=$((SECONDS + DEADLINE_SECS))

ping() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

for port in "${PORTS[@]}"; do
    if ping "$port"; then
        if ! redis-cli -h 127.0.0.1 -p "$port" info cluster 2>/dev/null | grep -q 'cluster_enabled:1'; then
            fail "port $port is taken by a Redis that is not in cluster mode"
        fi
        continue
    fi
    dir="$BASE_DIR/$port"
    mkdir -p "$dir" || fail "cannot create $dir"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout 5000 \
        --dir "$dir" --save "" --appendonly no --daemonize yes \
        --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" >/dev/null ||
        fail "redis-server failed to start on port $port (see $dir/redis.log)"
done

for port in "${PORTS[@]}"; do
    until ping "$port"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "node on port $port did not answer within ${DEADLINE_SECS}s"
        sleep 0.1
    done
done

state() { redis-cli -h 127.0.0.1 -p "${PORTS[0]}" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p'; }
known() { redis-cli -h 127.0.0.1 -p "${PORTS[0]}" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p'; }

if [ "$(state)" != "ok" ] && [ "$(known)" = "1" ]; then
    nodes=()
    for port in "${PORTS[@]}"; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$BASE_DIR/create.log" 2>&1 ||
        fail "redis-cli --cluster create failed (see $BASE_DIR/create.log)"
fi

for port in "${PORTS[@]}"; do
    until [ "$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p')" = "ok" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "cluster_state is not ok on port $port after ${DEADLINE_SECS}s"
        sleep 0.1
    done
done

urls=()
for port in "${PORTS[@]}"; do urls+=("redis://127.0.0.1:$port"); done
(IFS=,; echo "SESSION_KIT_REDIS_CLUSTER_URLS=${urls[*]}")
