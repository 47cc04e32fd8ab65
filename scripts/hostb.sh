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
# A /21 holds 2,046 pod addresses (a /24 about 250: 1,000 pods on two hosts did not fit);
# distinct from the other hosts' bridges. HOSTB_BIP changes it at the next start.
BIP="${HOSTB_BIP:-172.30.0.1/21}"
IMAGES="${HOSTB_IMAGES:-reconciler/busybox:1 reconciler/pause:1}"

. "$(dirname "$0")/netns-host.sh"
host_paths
host_main "$1"
