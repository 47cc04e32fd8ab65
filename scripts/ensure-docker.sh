#!/bin/sh
# Make sure a Docker engine answers: install Debian's docker.io and start dockerd when none does.
set -e
export DEBIAN_FRONTEND=noninteractive
# The service proxy programs iptables (nf_tables backend) and puts cluster IPs on lo.
missing=""
command -v iptables-restore >/dev/null 2>&1 || missing="$missing iptables"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v git >/dev/null 2>&1 || missing="$missing git"
# The tests' ssh:// engine host (scripts/hostc.sh) needs an sshd binary; nothing starts it here.
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
# The registry tests (tests/support/registry.py): the distribution registry, htpasswd, a CA.
command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
command -v htpasswd >/dev/null 2>&1 || missing="$missing apache2-utils"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
if [ -n "$missing" ]; then
  echo "ensure-docker: installing$missing" >&2
  apt-get update -qq && apt-get install -y -qq $missing >/dev/null
fi
answers() { timeout 20 docker info >/dev/null 2>&1; }
if answers; then exit 0; fi
# A dockerd that runs but does not answer is hung (Docker 20.10.24 can deadlock in
# libnetwork, moby/moby#46661): restart it. Its containers are lost; pods come back.
for pid in $(pgrep -x dockerd); do
  if ! grep -q -- "--pidfile" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "ensure-docker: dockerd $pid does not answer; restarting it" >&2
    kill "$pid" 2>/dev/null || true
    sleep 5
    kill -9 "$pid" 2>/dev/null || true
    rm -f /var/run/docker.pid
  fi
done
if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: installing docker.io" >&2
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi
if ! answers; then
  rm -f /var/run/docker.pid
  echo "ensure-docker: starting dockerd (log: /var/log/dockerd.log)" >&2
  # Only the log stays open: a pipe inherited here (make -jN's jobserver, a CI runner's) would
  # be held by dockerd for its whole life, and whoever reads that pipe to its end waits
  # forever (a -j2 make waiting for its jobserver tokens did, on a fresh machine).
  nohup dockerd </dev/null >/var/log/dockerd.log 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  i=0
  until timeout 5 docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 60 ]; then echo "ensure-docker: dockerd did not answer; see /var/log/dockerd.log" >&2; exit 1; fi
    sleep 1
  done
fi
