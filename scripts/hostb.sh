#!/bin/sh
# A second Docker host on this machine: network namespace `hostb` (10.250.0.2, reached from
# the root namespace over a veth at 10.250.0.1) with its own dockerd on
# unix:///var/run/docker-hostb.sock, loaded with the local images. Idempotent.
# Usage: scripts/hostb.sh start|stop|status
set -e
NS=hostb
SOCK=/var/run/docker-hostb.sock
URL=unix://$SOCK
PIDFILE=/var/run/docker-hostb.pid
LOG=/tmp/dockerd-hostb.log
IMAGES="${HOSTB_IMAGES:-reconciler/busybox:1 reconciler/pause:1}"

answers() { docker -H "$URL" version >/dev/null 2>&1; }

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

netns_up() {
  if ! ip netns list | grep -qw "$NS"; then
    ip netns add "$NS"
  fi
  if ! ip link show vb0 >/dev/null 2>&1; then
    ip link add vb0 type veth peer name vb1
    ip link set vb1 netns "$NS"
  fi
  ip route del unreachable 10.250.0.0/24 2>/dev/null || true
  ip addr show dev vb0 | grep -q 10.250.0.1/24 || ip addr add 10.250.0.1/24 dev vb0
  ip link set vb0 up
  ip netns exec "$NS" sh -c '
    ip addr show dev vb1 | grep -q 10.250.0.2/24 || ip addr add 10.250.0.2/24 dev vb1
    ip link set vb1 up; ip link set lo up
    ip route show | grep -q "^default" || ip route add default via 10.250.0.1'
}

load_images() {
  for image in $IMAGES; do
    docker image inspect "$image" >/dev/null 2>&1 || continue
    want=$(docker image inspect -f '{{.Id}}' "$image")
    have=$(docker -H "$URL" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
    [ "$want" = "$have" ] || docker save "$image" | docker -H "$URL" load -q >/dev/null
  done
}

start() {
  command -v ip >/dev/null 2>&1 || { echo "hostb: no ip command (iproute2)" >&2; exit 2; }
  command -v nsenter >/dev/null 2>&1 || { echo "hostb: no nsenter (util-linux)" >&2; exit 2; }
  netns_up
  if ! answers; then
    if [ -z "$(running_pid)" ]; then
      rm -f "$PIDFILE" "$SOCK"
      # nsenter, not `ip netns exec`: the latter remounts /sys and dockerd then fails
      # with "Devices cgroup isn't mounted".
      nohup nsenter --net=/var/run/netns/$NS dockerd --data-root /var/lib/docker-hostb \
        --exec-root /var/run/docker-hostb --pidfile "$PIDFILE" -H "$URL" \
        --bip 172.30.0.1/24 >"$LOG" 2>&1 &
    fi
    i=0
    until answers; do
      i=$((i + 1))
      if [ "$i" -gt 60 ]; then echo "hostb: dockerd did not answer; see $LOG" >&2; exit 1; fi
      sleep 0.5
    done
  fi
  load_images
  echo "$URL 10.250.0.2"
}

stop() {
  pid=$(running_pid || true)
  if [ -n "$pid" ]; then
    kill "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
      i=$((i + 1)); [ "$i" -gt 40 ] && { kill -9 "$pid" 2>/dev/null || true; break; }
      sleep 0.5
    done
  fi
  ip link del vb0 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  # With the veth gone, 10.250.0.0/24 would follow the default route off the machine.
  ip route replace unreachable 10.250.0.0/24 2>/dev/null || true
}

status() {
  if answers; then echo "running $URL 10.250.0.2"; else echo "stopped"; exit 3; fi
}

case "$1" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
