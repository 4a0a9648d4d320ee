#!/usr/bin/env bash
# Finds a MySQL or MariaDB on loopback for the MySQL store suite, starting an installed but
# stopped mariadbd when we are root. The server is not installed from here. On success prints
# `SESSION_KIT_MYSQL_URL=...` on stdout and exits 0; on failure one line on stderr, exit 1.
set -uo pipefail

fail() {
    echo "mysql: $*" >&2
    exit 1
}

open() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }

if ! open && [ "$(id -u)" -eq 0 ] && command -v mariadbd >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec "$(command -v mariadbd)" >/dev/null 2>&1 || true
    deadline=$((SECONDS + 30))
    until open || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.2; done
fi
open || fail "no MySQL/MariaDB on 127.0.0.1:3306 (install mariadb-server, or set SESSION_KIT_MYSQL_URL)"
echo "SESSION_KIT_MYSQL_URL=mysql://root@127.0.0.1:3306/session_kit_test"
