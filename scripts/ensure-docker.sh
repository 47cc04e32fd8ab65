#!/bin/sh
# Make sure a Docker engine answers: install Debian's docker.io and start dockerd when none does.
set -e
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: installing docker.io" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  echo "ensure-docker: starting dockerd (log: /var/log/dockerd.log)" >&2
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  i=0
  until docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 60 ]; then echo "ensure-docker: dockerd did not answer; see /var/log/dockerd.log" >&2; exit 1; fi
    sleep 1
  done
fi
