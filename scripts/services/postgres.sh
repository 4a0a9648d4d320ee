#!/usr/bin/env bash
# Finds a PostgreSQL on loopback for the PostgreSQL store suite, starting an installed but
# stopped Debian cluster when we are root. PostgreSQL is not installed from here: setting up
# a cluster is the machine owner's choice. On success prints `SESSION_KIT_POSTGRES_URL=...`
# on stdout and exits 0; on failure one line on stderr, exit 1.
set -uo pipefail

fail() {
    echo "postgres: $*" >&2
    exit 1
}

open() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if ! open && [ "$(id -u)" -eq 0 ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in /etc/postgresql/*; do
        pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start >/dev/null 2>&1 || true
    done
    deadline=$((SECONDS + 20))
    until open || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.2; done
fi
open || fail "no PostgreSQL on 127.0.0.1:5432 (install postgresql, or set SESSION_KIT_POSTGRES_URL)"
echo "SESSION_KIT_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
