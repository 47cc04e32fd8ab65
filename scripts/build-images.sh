#!/bin/sh
# Build the local images offline (reconciler/busybox:1, reconciler/pause:1, and
# reconciler/nginx-slim:1 standing in for registry.k8s.io/nginx-slim:0.8); skips existing ones.
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
"$PY" -m reconciler.runtime.images "$@"

host=""
[ "$1" = "--host" ] && host="$2"
[ -n "$host" ] || host="${DOCKER_HOST:-}"
docker_() { if [ -n "$host" ]; then docker -H "$host" "$@"; else docker "$@"; fi; }

# The StatefulSet example (kubernetes-website application/web/web.yaml) runs
# registry.k8s.io/nginx-slim:0.8, mapped to this image with runtime.image_map: busybox httpd
# serving the same folder on the same port. Built FROM the busybox image with an empty
# context, so no registry is asked. The folder is empty, as the tutorial's freshly
# provisioned volumes are: a page is there once something writes index.html.
# Only the example needs it: a failure here is reported, not fatal.
NGINX=reconciler/nginx-slim:1
if ! command -v docker >/dev/null 2>&1; then
  echo "build-images: no docker CLI: $NGINX not built" >&2
elif docker_ image inspect "$NGINX" >/dev/null 2>&1; then
  echo "$NGINX: present"
else
  printf '%s\n' \
    'FROM reconciler/busybox:1' \
    'RUN mkdir -p /usr/share/nginx/html' \
    'EXPOSE 80' \
    'STOPSIGNAL SIGTERM' \
    'CMD ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]' \
    | { out=$(DOCKER_BUILDKIT=0 docker_ build -q -t "$NGINX" - 2>&1) || { echo "$out" >&2; exit 1; }; } \
    && echo "$NGINX: built" || echo "build-images: $NGINX not built" >&2
fi
