#!/bin/sh
# Debian's chromium for the dashboard's browser tests (tests/e2e/test_ui.py), which Playwright
# drives through executable_path: Playwright's own browser download needs the internet.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-browser: /usr/bin/chromium is missing; run as root to apt-get install it" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
