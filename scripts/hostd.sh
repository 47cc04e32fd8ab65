#!/bin/sh
# The scale benchmark's second Docker host: network namespace `hostd` (10.249.0.2, reached from
# the root namespace over a veth at 10.249.0.1) with its own dockerd on
# unix:///var/run/docker-hostd.sock, loaded with the local images. Only `bench scale` uses it,
# so a test that stops or partitions hostb never cuts into a benchmark run, and 1,000 pods
# never fill a bridge a test relies on. Its bridge is a /21 (2,046 pod addresses; the default
# bridge of a dockerd is a /24 when given a /24 --bip, about 250 pods), distinct from every
# other host's: local docker0 172.17.0.0/16, hostf 172.29/24, hostb 172.30/21, hostc 172.31/24,
# and the test hosts' 172.24-27/24.
# HOSTD_BIP changes it (e.g. 172.28.0.1/22); a changed value applies at the next start.
# Idempotent. Usage: scripts/hostd.sh start|stop|status
set -e
NS=hostd
VETH=vd0
PEER=10.249.0.1
ADDR=10.249.0.2
SUBNET=10.249.0.0/24
BIP="${HOSTD_BIP:-172.28.0.1/21}"
IMAGES="${HOSTD_IMAGES:-reconciler/busybox:1 reconciler/pause:1}"

. "$(dirname "$0")/netns-host.sh"
host_paths
host_main "$1"
