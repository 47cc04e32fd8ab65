#!/bin/sh
# A second Docker host on this machine: network namespace `hostb` (10.250.0.2, reached from
# the root namespace over a veth at 10.250.0.1) with its own dockerd on
# unix:///var/run/docker-hostb.sock, loaded with the local images. Idempotent.
# Usage: scripts/hostb.sh start|stop|status
set -e
NS=hostb
VETH=vb0
PEER=10.250.0.1
ADDR=10.250.0.2
SUBNET=10.250.0.0/24
DATA=hostb
# A /21 holds 2,046 pod addresses (a /24 about 250: 1,000 pods on two hosts did not fit);
# distinct from the other hosts' bridges. HOSTB_BIP changes it at the next start.
BIP="${HOSTB_BIP:-172.30.0.1/21}"
SOCK=/var/run/docker-hostb.sock
URL=unix://$SOCK
PIDFILE=/var/run/docker-hostb.pid
LOG=/tmp/dockerd-hostb.log
IMAGES="${HOSTB_IMAGES:-reconciler/busybox:1 reconciler/pause:1}"

. "$(dirname "$0")/netns-host.sh"

start() {
  host_up
  echo "$URL $ADDR"
}

stop() {
  host_down
}

status() {
  if answers; then echo "running $URL $ADDR"; else echo "stopped"; exit 3; fi
}

case "$1" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
