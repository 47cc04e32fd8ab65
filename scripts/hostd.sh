#!/bin/sh
# The scale benchmark's second Docker host: network namespace `hostd` (10.249.0.2, reached from
# the root namespace over a veth at 10.249.0.1) with its own dockerd on
# unix:///var/run/docker-hostd.sock, loaded with the local images. Only `bench scale` uses it,
# so a test that stops or partitions hostb never cuts into a benchmark run, and 1,000 pods
# never fill a bridge a test relies on. Its bridge is a /21 (2,046 pod addresses; the default
# bridge of a dockerd is a /24 when given a /24 --bip, about 250 pods), distinct from every
# other host's: local docker0 172.17.0.0/16, hostf 172.29/24, hostb 172.30/21, hostc 172.31/24.
# HOSTD_BIP changes it (e.g. 172.28.0.1/22); a changed value applies at the next start.
# Idempotent. Usage: scripts/hostd.sh start|stop|status
set -e
NS=hostd
VETH=vd0
PEER=10.249.0.1
ADDR=10.249.0.2
SUBNET=10.249.0.0/24
DATA=hostd
BIP="${HOSTD_BIP:-172.28.0.1/21}"
SOCK=/var/run/docker-hostd.sock
URL=unix://$SOCK
PIDFILE=/var/run/docker-hostd.pid
LOG=/tmp/dockerd-hostd.log
IMAGES="${HOSTD_IMAGES:-reconciler/busybox:1 reconciler/pause:1}"

. "$(dirname "$0")/netns-host.sh"

case "$1" in
  start) host_up; echo "$URL $ADDR" ;;
  stop) host_down ;;
  status) if answers; then echo "running $URL $ADDR"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
