#!/bin/sh
# Build the local images offline (reconciler/busybox:1, reconciler/pause:1); skips existing ones.
# Installs Debian's busybox-static (and catatonit, a static pause binary) when missing.
# Usage: scripts/build-images.sh [--host DOCKER_URL]
set -e
cd "$(dirname "$0")/.."
need=""
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need="busybox-static"
[ -x /usr/bin/catatonit ] || need="$need catatonit"
if [ -n "$need" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "build-images: installing $need" >&2
  export DEBIAN_FRONTEND=noninteractive
  # catatonit is optional: the infra image falls back to a shell that traps SIGTERM.
  apt-get install -y -qq $need >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq busybox-static >/dev/null
    apt-get install -y -qq catatonit >/dev/null 2>&1 || true
  }
fi
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" -m reconciler.runtime.images "$@"
