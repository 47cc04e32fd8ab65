#!/bin/sh
# Build the local images offline (reconciler/busybox:1, reconciler/pause:1, and
# reconciler/nginx-slim:1 standing in for registry.k8s.io/nginx-slim:0.8); skips existing ones.
# Installs Debian's busybox-static (and catatonit, a static pause binary) when missing.
# Says which image of the three it is at ([2/3]) and each step of a build; a failure names
# the image and the log to read. RECONCILER_IMAGE_PREFIX (default reconciler) builds them
# under another repository name (a trial build beside the images in use).
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
PREFIX="${RECONCILER_IMAGE_PREFIX:-reconciler}"
"$PY" -m reconciler.runtime.images --prefix "$PREFIX" --total 3 "$@"

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
NGINX=$PREFIX/nginx-slim:1
stage="build-images: [3/3] $NGINX"
if ! command -v docker >/dev/null 2>&1; then
  echo "$stage: no docker CLI: not built" >&2
elif docker_ image inspect "$NGINX" >/dev/null 2>&1; then
  echo "$stage: present" >&2
  echo "$NGINX: present"
else
  echo "$stage: docker build (FROM $PREFIX/busybox:1, 5 steps)" >&2
  started=$(date +%s)
  out=$(mktemp "${TMPDIR:-/tmp}/build-images-nginx.XXXXXX")
  # The builder's steps ("Step 2/5 : RUN ...") show how far it is; its whole output goes to
  # a log that is named when the build fails (this shell has no pipefail: the code via a file).
  { printf '%s\n' \
      "FROM $PREFIX/busybox:1" \
      'RUN mkdir -p /usr/share/nginx/html' \
      'EXPOSE 80' \
      'STOPSIGNAL SIGTERM' \
      'CMD ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]' \
      | DOCKER_BUILDKIT=0 docker_ build -t "$NGINX" - 2>&1; echo "$?" >"$out.code"; } \
    | tee "$out" | awk -v s="$stage" '/^Step [0-9]+\/[0-9]+ :/ { print s ":   " $0; fflush() }' >&2
  if [ "$(cat "$out.code")" = 0 ]; then
    echo "$stage: built in $(( $(date +%s) - started )) s" >&2
    echo "$NGINX: built"
    rm -f "$out" "$out.code"
  else
    tail -n 5 "$out" >&2
    echo "$stage: FAILED (not built; only the StatefulSet example needs it); see $out" >&2
    rm -f "$out.code"
  fi
fi
