#!/bin/sh
# A third Docker host, for the TLS engine tests only: network namespace `hostc` (10.251.0.2,
# reached from the root namespace over a veth at 10.251.0.1) with its own dockerd on
# unix:///var/run/docker-hostc.sock and on tcp://10.251.0.2:2376 with --tlsverify, using
# certificates this script makes (a CA, a server cert for IP 10.251.0.2, a client cert)
# in /var/lib/reconciler-test/hostc-tls/. Loaded with the local images. Idempotent.
# When openssh-server is installed, an sshd in the namespace too (10.251.0.2:22, its own
# host key; a generated client key whose authorized_keys entry forces
# `docker -H unix:///var/run/docker-hostc.sock system dial-stdio`) for ssh:// engine URLs;
# the client side (ssh config, key, known_hosts, and an `ssh` wrapper that uses that
# config) is in /var/lib/reconciler-test/hostc-ssh/.
# Follows scripts/hostb.sh; never touches hostb or the local engine.
# Usage: scripts/hostc.sh start|stop|status
set -e
NS=hostc
VETH=vc0
ADDR=10.251.0.2
PEER=10.251.0.1
SUBNET=10.251.0.0/24
DATA=hostc
BIP=172.31.0.1/24
SOCK=/var/run/docker-hostc.sock
URL=unix://$SOCK
TCP=tcp://$ADDR:2376
PIDFILE=/var/run/docker-hostc.pid
LOG=/tmp/dockerd-hostc.log
TLS=${HOSTC_TLS_DIR:-/var/lib/reconciler-test/hostc-tls}
SSHDIR=${HOSTC_SSH_DIR:-/var/lib/reconciler-test/hostc-ssh}
SSHD_PID=/var/run/sshd-hostc.pid
IMAGES="${HOSTC_IMAGES:-reconciler/busybox:1 reconciler/pause:1}"
. "$(dirname "$0")/netns-host.sh"

# sign NAME USAGE SAN: a key and a certificate signed by the CA.
sign() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$TLS/$1-key.pem" 2>/dev/null
  openssl req -new -key "$TLS/$1-key.pem" -subj "/CN=$1" -out "$TLS/$1.csr" 2>/dev/null
  {
    echo "extendedKeyUsage=$2"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    [ -n "$3" ] && echo "subjectAltName=$3"
  } >"$TLS/$1.ext"
  openssl x509 -req -in "$TLS/$1.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" \
    -CAcreateserial -days 3650 -sha256 -extfile "$TLS/$1.ext" -out "$TLS/$1.pem" 2>/dev/null
  rm -f "$TLS/$1.csr" "$TLS/$1.ext"
}

certs() {
  command -v openssl >/dev/null 2>&1 || { echo "hostc: no openssl" >&2; exit 2; }
  if [ -s "$TLS/ca.pem" ] && [ -s "$TLS/server.pem" ] && [ -s "$TLS/client.pem" ] \
     && [ -s "$TLS/client-key.pem" ]; then
    return 0
  fi
  mkdir -p "$TLS"
  chmod 0700 "$TLS"
  (
    umask 077
    openssl ecparam -name prime256v1 -genkey -noout -out "$TLS/ca-key.pem" 2>/dev/null
    openssl req -x509 -new -key "$TLS/ca-key.pem" -subj "/CN=reconciler-test hostc CA" \
      -days 3650 -sha256 -out "$TLS/ca.pem" 2>/dev/null
    sign server serverAuth "IP:$ADDR"
    sign client clientAuth ""
  )
  chmod 0600 "$TLS"/*
}

ssh_up() {
  [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1 || return 0
  [ -n "$SSHDIR" ] || return 1
  mkdir -p "$SSHDIR/bin" /run/sshd
  chmod 0700 "$SSHDIR"
  [ -s "$SSHDIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C hostc-host \
    -f "$SSHDIR/host_ed25519"
  [ -s "$SSHDIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C hostc-client \
    -f "$SSHDIR/client_ed25519"
  printf 'command="docker -H %s system dial-stdio",restrict %s\n' "$URL" \
    "$(cat "$SSHDIR/client_ed25519.pub")" >"$SSHDIR/authorized_keys"
  printf '%s %s\n' "$ADDR" "$(cut -d' ' -f1,2 "$SSHDIR/host_ed25519.pub")" \
    >"$SSHDIR/known_hosts"
  printf '%s\n' "ListenAddress $ADDR:22" "HostKey $SSHDIR/host_ed25519" \
    "AuthorizedKeysFile $SSHDIR/authorized_keys" "PidFile $SSHD_PID" \
    "PermitRootLogin prohibit-password" "PasswordAuthentication no" \
    "KbdInteractiveAuthentication no" "UsePAM no" >"$SSHDIR/sshd_config"
  printf '%s\n' "Host $ADDR" "  User root" "  IdentityFile $SSHDIR/client_ed25519" \
    "  IdentitiesOnly yes" "  UserKnownHostsFile $SSHDIR/known_hosts" \
    "  StrictHostKeyChecking yes" "  BatchMode yes" "  ConnectTimeout 5" \
    >"$SSHDIR/ssh_config"
  # The docker SDK runs plain `ssh HOST ...`: this wrapper, first on PATH, adds the config.
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$SSHDIR/ssh_config" >"$SSHDIR/bin/ssh"
  chmod 0700 "$SSHDIR/bin/ssh"
  chmod 0600 "$SSHDIR/sshd_config" "$SSHDIR/ssh_config" "$SSHDIR/authorized_keys" \
    "$SSHDIR/known_hosts"
  if ! { [ -f "$SSHD_PID" ] && kill -0 "$(cat "$SSHD_PID")" 2>/dev/null; }; then
    nsenter --net=/var/run/netns/$NS /usr/sbin/sshd -f "$SSHDIR/sshd_config" \
      -E /tmp/sshd-hostc.log
  fi
}

start() {
  certs
  host_up -H "$TCP" --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/server.pem" \
    --tlskey "$TLS/server-key.pem"
  ssh_up
  echo "$TCP $ADDR $TLS"
}

stop() {
  if [ -f "$SSHD_PID" ]; then
    kill "$(cat "$SSHD_PID")" 2>/dev/null || true
    rm -f "$SSHD_PID"
  fi
  host_down
}

status() {
  if answers; then echo "running $TCP $ADDR $TLS"; else echo "stopped"; exit 3; fi
}

case "$1" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
