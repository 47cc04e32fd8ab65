#!/bin/sh
# PostgreSQL 15's binaries for the store tests (tests/support/postgres.py starts a throw-away
# cluster of its own in a temporary folder, on a unix socket). Only the binaries are needed:
# Debian's package also creates a default cluster, which we stop so it holds no port.
set -eu
for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/16/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        exit 0
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-postgres: PostgreSQL is missing; run as root to apt-get install it" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
# Without systemd the package's cluster may or may not have started; stop it either way.
if command -v pg_ctlcluster >/dev/null 2>&1; then
    for version in 15 16; do
        pg_ctlcluster "$version" main stop 2>/dev/null || true
    done
fi
