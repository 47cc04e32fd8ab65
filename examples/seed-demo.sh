#!/usr/bin/env bash
# Replay the seed's demo session (../shared/seed/kubernetes-architecture-notes.txt) against a
# running service, printing each step as the seed's transcript shows it.
#
# The seed typed `kubectl create -f FILE`; here the desired state is a folder, so each
# "create" copies one of the demo's manifests into the folder the service watches, and the
# script waits for the service to converge before showing the next `get`. `kubectl delete pod`
# is `reconciler delete pod` (the replication controller brings a replacement, as in the seed),
# `kubectl scale` is `reconciler scale`, which edits the manifest file.
#
# Run the service on a folder of its own, then the script on that folder:
#   reconciler run --desired /tmp/demo --state /tmp/demo.db        # one terminal
#   RECONCILER_DESIRED=/tmp/demo RECONCILER_STATE=/tmp/demo.db examples/seed-demo.sh
# Against `make run` (the service on desired/ itself) it works too: it first removes the
# demo's manifests (the seed's "clean environment"), then adds them back one at a time; the
# scale step leaves desired/web-rc.yaml at 10 replicas (`git checkout desired/web-rc.yaml`).
#
# Environment: RECONCILER_DESIRED (the watched folder, default ./desired), RECONCILER_STATE
# (default ./state.db), DEMO_SOURCE (the manifests to add, default the project's desired/),
# RECONCILER (the CLI, default the one on PATH, else the project's .venv), DEMO_TIMEOUT
# (seconds per wait, default 90). Every step starts with a line `### N. title`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DESIRED=${RECONCILER_DESIRED:-desired}
STATE=${RECONCILER_STATE:-state.db}
TIMEOUT=${DEMO_TIMEOUT:-90}
if [ -z "${RECONCILER:-}" ]; then
  RECONCILER=$(command -v reconciler || echo "$ROOT/.venv/bin/reconciler")
fi
export RECONCILER_DESIRED=$DESIRED RECONCILER_STATE=$STATE
DEMO_FILES=(db-pod.yaml db-svc.yaml web-pod.yaml web-rc.yaml web-svc.yaml)

# The manifests are staged first: DESIRED may be the source folder itself (`make run`).
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
for f in "${DEMO_FILES[@]}"; do
  cp "${DEMO_SOURCE:-$ROOT/desired}/$f" "$STAGE/$f"
done
[ -d "$DESIRED" ] || { echo "seed-demo: no folder $DESIRED (set RECONCILER_DESIRED)" >&2; exit 2; }

STEP=0
step() { STEP=$((STEP + 1)); printf '\n### %d. %s\n' "$STEP" "$*"; }
# Show a command as typed, then run it (stderr too: "No resources found." goes there).
show() { printf '$ reconciler %s\n' "$*"; "$RECONCILER" "$@" 2>&1; }
rc() { "$RECONCILER" "$@" 2>/dev/null || true; }
fail() { printf 'seed-demo: %s\n' "$*" >&2; exit 1; }

# wait_for WHAT CMD...: retry CMD (quietly) until it succeeds, at most TIMEOUT seconds.
wait_for() {
  local what=$1 deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.3
  done
}

# The rows of `get pods` as "NAME READY STATUS", demo pods only (others may share the folder).
pod_rows() { rc get pods -l app=demo | awk 'NR > 1 { print $1, $2, $3 }'; }
running_pods() { pod_rows | awk '$3 == "Running" { split($2, r, "/"); if (r[1] == r[2]) n++ } END { print n + 0 }'; }
# Exactly N demo pods, all of them running and ready.
all_running() { [ "$(pod_rows | wc -l)" -eq "$1" ] && [ "$(running_pods)" -eq "$1" ]; }
no_demo_pods() { [ -z "$(pod_rows)" ]; }
has_service() { rc get svc "$1" | grep -q "^$1 "; }
no_demo_services() { ! has_service redis && ! has_service web; }
has_pod() { rc get pods "$1" | grep -q "^$1 "; }
rc_ready() { rc get rc web | awk -v n="$1" 'NR == 2 && $2 == n && $3 == n && $4 == n { ok = 1 } END { exit !ok }'; }

# `kubectl create -f FILE`: the manifest goes into the watched folder, atomically.
create() {
  local file=$1 kind=$2 name=$3
  printf '$ cp %s %s/   # kubectl create -f %s\n' "$file" "$DESIRED" "$file"
  cp "$STAGE/$file" "$DESIRED/.$file.tmp"
  mv "$DESIRED/.$file.tmp" "$DESIRED/$file"
  case $kind in
    pod-nowait) kind=pod ;;
    pod) wait_for "pod $name in the store" has_pod "$name" ;;
    service) wait_for "service $name in the store" has_service "$name" ;;
    replicationcontroller) wait_for "rc $name in the store" sh -c "'$RECONCILER' get rc $name >/dev/null 2>&1" ;;
  esac
  printf '%s "%s" created\n' "$kind" "$name"
}

START=$SECONDS

step "a clean environment: no demo pods, services or replication controllers"
removed=()
for f in "${DEMO_FILES[@]}"; do
  if [ -e "$DESIRED/$f" ]; then rm -f "$DESIRED/$f"; removed+=("$f"); fi
done
if [ ${#removed[@]} -gt 0 ]; then
  printf '$ rm %s   # kubectl delete ...\n' "${removed[*]}"
fi
wait_for "the demo's pods to go" no_demo_pods
wait_for "the demo's services to go" no_demo_services
show get pods -l app=demo
show get rc -l app=demo
show get svc

step "the redis pod"
create db-pod.yaml pod redis
wait_for "redis running" all_running 1
show get pods

step "the redis service"
create db-svc.yaml service redis
show get svc

step "the web pod: ContainerCreating, then Running"
create web-pod.yaml pod-nowait web
# `get pods` again and again, each view shown when web's status changes, until it runs:
# the seed's two views, 0/1 ContainerCreating then 1/1 Running.
# One `get pods` per round and no pause: the window is often under a second.
seen="" deadline=$((SECONDS + TIMEOUT))
while [ "$seen" != "1/1 Running" ]; do
  [ $SECONDS -lt $deadline ] || fail "timed out after ${TIMEOUT}s waiting for web running"
  view=$(rc get pods)
  now=$(printf '%s\n' "$view" | awk '$1 == "web" { print $2, $3 }')
  if [ -n "$now" ] && [ "$now" != "$seen" ]; then
    printf '$ reconciler get pods\n%s\n' "$view"
    seen=$now
  fi
done
wait_for "web and redis running" all_running 2

step "inside the web pod: its files and environment (the REDIS_* variables of the service)"
show exec web -- ls /app
show exec web -- env

step "resolve redis through the cluster DNS"
show exec web -- getent hosts redis

step "the app answers inside the pod (curl localhost:5000)"
show exec web -- python3 -c \
  "import urllib.request; print(urllib.request.urlopen('http://localhost:5000/').read().decode(), end='')"

step "describe pod web"
show describe pod web

step "the replication controller: 2 replicas, the web pod adopted"
create web-rc.yaml replicationcontroller web
wait_for "2 web replicas" all_running 3
wait_for "rc web 2/2/2" rc_ready 2
show get rc
show get po

step "a replica deleted and replaced"
victim=$(pod_rows | awk '$1 ~ /^web-/ { print $1; exit }')
[ -n "$victim" ] || fail "no replica of rc web to delete"
show delete pod "$victim"
wait_for "a replacement for $victim" sh -c \
  "! '$RECONCILER' get pods $victim >/dev/null 2>&1"
wait_for "2 web replicas again" all_running 3
show get po

step "the web service (NodePort, 80 -> 5000)"
create web-svc.yaml service web
show get svc

step "scaled to 10 (the manifest edited)"
show scale rc web --replicas=10
grep -n 'replicas:' "$DESIRED/web-rc.yaml"
wait_for "the new replicas in the store" sh -c \
  "[ \$('$RECONCILER' get pods -l name=web 2>/dev/null | awk 'NR > 1' | wc -l) -ge 10 ]"
show get po
wait_for "10 web replicas running" all_running 11
wait_for "rc web 10/10/10" rc_ready 10
show get po

step "the nodes and the control plane"
show get nodes
show cluster-info
show get cs

printf '\n# the demo converged in %ds\n' $((SECONDS - START))
