#!/bin/sh
# The fault suite's Docker host: network namespace `hostf` (10.252.0.2, reached from the root
# namespace over a veth at 10.252.0.1) with its own dockerd on unix:///var/run/docker-hostf.sock,
# loaded with the local images. tests/faults restart this engine, stop it and move its socket
# away; no other test uses it, so those faults never touch an engine someone else relies on.
# Idempotent. Usage: scripts/hostf.sh start|stop|status|restart
set -e
NS=hostf
VETH=vf0
PEER=10.252.0.1
ADDR=10.252.0.2
SUBNET=10.252.0.0/24
DATA=hostf
BIP=172.29.0.1/24
SOCK=/var/run/docker-hostf.sock
URL=unix://$SOCK
PIDFILE=/var/run/docker-hostf.pid
LOG=/tmp/dockerd-hostf.log
IMAGES="${HOSTF_IMAGES:-reconciler/busybox:1 reconciler/pause:1}"

. "$(dirname "$0")/netns-host.sh"

# restart: the engine only (as `systemctl restart docker`); the namespace and images stay.
restart() {
  pid=$(running_pid || true)
  if [ -n "$pid" ]; then
    kill "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  host_up
}

case "$1" in
  start) host_up; echo "$URL $ADDR" ;;
  stop) host_down ;;
  restart) restart; echo "$URL $ADDR" ;;
  status) if answers; then echo "running $URL $ADDR"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 64 ;;
esac
