#!/usr/bin/env bash
# Finds (or installs) headless Chromium and ChromeDriver for the browser suite (tests/browser.rs).
#
# Idempotent: nothing is installed when both binaries are already there. Installs Debian's
# `chromium` and `chromium-driver` when missing and we are root (a browser downloaded at run
# time cannot work on a closed network, so Debian's build is the only source). On success
# prints `SESSION_KIT_CHROMEDRIVER=...` and `SESSION_KIT_CHROMIUM=...` on stdout and exits 0;
# on failure prints one line saying why on stderr and exits 1.
set -uo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

fail() {
    echo "chromium: $*" >&2
    exit 1
}

if [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        fail "$CHROMIUM or $CHROMEDRIVER is missing and we are not root to install them (apt-get install chromium chromium-driver)"
    fi
    # apt's progress goes to stderr: stdout carries only the variables the caller sources.
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >&2; then
        fail "could not install chromium and chromium-driver with apt-get"
    fi
    [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ] || fail "apt-get succeeded but $CHROMIUM or $CHROMEDRIVER is still missing"
fi

# A binary that exists but cannot start (missing libraries after a partial install) is a
# failure here, where the reason is clear, rather than a timeout inside the tests.
"$CHROMEDRIVER" --version >/dev/null 2>&1 || fail "$CHROMEDRIVER is installed but does not run"
"$CHROMIUM" --version >/dev/null 2>&1 || fail "$CHROMIUM is installed but does not run"

echo "SESSION_KIT_CHROMEDRIVER=$CHROMEDRIVER"
echo "SESSION_KIT_CHROMIUM=$CHROMIUM"
