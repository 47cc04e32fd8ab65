#!/usr/bin/env bash
# Build the demo's local images (the seed's redis and web, the 2016 guestbook) with no registry.
#
# One Debian root filesystem (debootstrap, cached outside the repository) is
# imported once as a shared base image; each demo image is a small layer on top
# of it built from images/demo/<dir>/ (legacy builder: FROM a local image works
# offline). An image is rebuilt only when its own files change: each carries a
# label with the hash of its build context.
#
# Environment: RECONCILER_IMAGE_CACHE (default /var/cache/reconciler) holds the
# root filesystem; REBUILD_BASE=1 forces a new debootstrap and base import.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=$ROOT/images/demo
CACHE=${RECONCILER_IMAGE_CACHE:-/var/cache/reconciler}
SUITE=bookworm
ROOTFS=$CACHE/rootfs-$SUITE
PACKAGES=python3-flask,python3-redis,redis-server
BASE=reconciler-demo/base:$SUITE
HASH_LABEL=org.reconciler.demo.context-hash
# The legacy builder resolves FROM against local images without a registry.
export DOCKER_BUILDKIT=0

log() { printf 'build-demo-images: %s\n' "$*" >&2; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The first Debian archive URI this machine's apt uses for the main suite; the
# mirror is never written into the project, so it follows the machine.
apt_mirror() {
  local uri=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    uri=$(awk '
      FNR == 1 { u = ""; s = "" }
      /^[[:space:]]*$/ { if (u != "" && s ~ /(^|[[:space:]])'"$SUITE"'([[:space:]]|$)/) { print u; exit } u = ""; s = "" }
      tolower($1) == "uris:" { u = $2 }
      tolower($1) == "suites:" { $1 = ""; s = $0 }
      END { if (u != "" && s ~ /(^|[[:space:]])'"$SUITE"'([[:space:]]|$)/) print u }
    ' /etc/apt/sources.list.d/*.sources | head -n1)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == "'"$SUITE"'") { print $i; exit } }' \
      /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    log "no apt source for $SUITE in /etc/apt/sources.list(.d); cannot debootstrap"
    exit 1
  fi
  printf '%s\n' "$uri"
}

ensure_rootfs() {
  if [ -f "$ROOTFS/.reconciler-complete" ] && [ "${REBUILD_BASE:-0}" != 1 ]; then
    return
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local mirror tmp
  mirror=$(apt_mirror)
  tmp=$ROOTFS.partial
  mkdir -p "$CACHE"
  rm -rf "$tmp"
  log "debootstrap $SUITE into $ROOTFS (packages: $PACKAGES; about a minute; log: $CACHE/debootstrap.log)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" "$mirror" >"$CACHE/debootstrap.log" 2>&1 &
  local pid=$!
  # How far along: debootstrap's own "I:" lines (Retrieving, Validating, Extracting, Installing).
  while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    kill -0 "$pid" 2>/dev/null || break
    log "  debootstrap: $(grep -c '^I: ' "$CACHE/debootstrap.log" || true) steps so far, now: $(grep '^I: ' "$CACHE/debootstrap.log" | tail -n1 | cut -c4-)"
  done
  wait "$pid" || { log "debootstrap failed; see $CACHE/debootstrap.log"; exit 1; }
  # Package caches and lists are dead weight in an image.
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
  touch "$tmp/.reconciler-complete"
  rm -rf "$ROOTFS"
  mv "$tmp" "$ROOTFS"
}

ensure_base() {
  if image_exists "$BASE" && [ "${REBUILD_BASE:-0}" != 1 ]; then
    return
  fi
  ensure_rootfs
  log "importing $ROOTFS as $BASE"
  tar -C "$ROOTFS" --exclude=./.reconciler-complete -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["/bin/bash"]' \
    - "$BASE" >/dev/null
}

# Hash of a build context: file names and contents, plus the base image id, so
# a new base also rebuilds everything on top of it.
context_hash() {
  local dir=$1
  {
    docker image inspect --format '{{.Id}}' "$BASE"
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}

# build DIR TAG... : build images/demo/DIR once and tag it with every TAG.
build() {
  local dir=$DEMO/$1
  shift
  local hash tag stale=0
  hash=$(context_hash "$dir")
  for tag in "$@"; do
    if [ "$(docker image inspect --format "{{index .Config.Labels \"$HASH_LABEL\"}}" "$tag" 2>/dev/null)" != "$hash" ]; then
      stale=1
    fi
  done
  if [ "$stale" = 0 ]; then
    BUILT=$((BUILT + 1))
    log "[$BUILT/$IMAGES] up to date: $*"
    return
  fi
  BUILT=$((BUILT + 1))
  log "[$BUILT/$IMAGES] building $*"
  local args=() old=()
  for tag in "$@"; do
    args+=(-t "$tag")
    old+=("$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)")
  done
  # The builder's steps ("Step 2/5 : RUN ...") show how far it is; the whole output (with
  # the legacy builder's deprecation notice) goes to a log named when the build fails.
  local out=$CACHE/build-$(basename "$dir").log
  mkdir -p "$CACHE"
  if ! docker build --build-arg "BASE=$BASE" --label "$HASH_LABEL=$hash" "${args[@]}" "$dir" 2>&1 \
      | tee "$out" | awk '/^Step [0-9]+\/[0-9]+ :/ { print "build-demo-images:   " $0; fflush() }' >&2; then
    tail -n 20 "$out" >&2
    log "building $* failed; see $out"
    exit 1
  fi
  # The replaced image is now untagged; remove it unless a container still uses it.
  local id
  for id in "${old[@]}"; do
    if [ -n "$id" ]; then docker rmi "$id" >/dev/null 2>&1 || true; fi
  done
}

IMAGES=4
BUILT=0

main() {
  docker info >/dev/null 2>&1 || { log "no Docker engine answers (run scripts/ensure-docker.sh)"; exit 1; }
  log "base image $BASE"
  ensure_base
  build redis redis:latest gcr.io/google_containers/redis:e2e
  build redis-slave gcr.io/google_samples/gb-redisslave:v1
  build web janakiramm/web:latest
  build guestbook gcr.io/google_samples/gb-frontend:v4 gcr.io/google_samples/gb-frontend:v3
}

main "$@"
