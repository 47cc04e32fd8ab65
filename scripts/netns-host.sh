# Sourced by scripts/host*.sh: a Docker host in a network namespace.
# The caller sets NS, VETH (root-side veth; the namespace side is VETH with its last
# character 0 -> 1), PEER (root-side address), ADDR (the host's address), SUBNET,
# SOCK, URL, PIDFILE, LOG, DATA (data-root suffix), BIP and IMAGES (host_paths sets the
# five named after NS), then calls host_up "extra dockerd args..." / host_down, or
# host_main ACTION for the usual start|stop|status.

PEER_VETH="${VETH%0}1"

# host_paths: SOCK, URL, PIDFILE, LOG and DATA named after NS, as every host here has them.
host_paths() {
  DATA=$NS
  SOCK=/var/run/docker-$NS.sock
  URL=unix://$SOCK
  PIDFILE=/var/run/docker-$NS.pid
  LOG=/tmp/dockerd-$NS.log
}

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
  if ! ip link show "$VETH" >/dev/null 2>&1; then
    ip link add "$VETH" type veth peer name "$PEER_VETH"
    ip link set "$PEER_VETH" netns "$NS"
  fi
  ip route del unreachable "$SUBNET" 2>/dev/null || true
  ip addr show dev "$VETH" | grep -q "$PEER/24" || ip addr add "$PEER/24" dev "$VETH"
  ip link set "$VETH" up
  ip netns exec "$NS" sh -c "
    ip addr show dev $PEER_VETH | grep -q $ADDR/24 || ip addr add $ADDR/24 dev $PEER_VETH
    ip link set $PEER_VETH up; ip link set lo up
    ip route show | grep -q '^default' || ip route add default via $PEER"
}

load_images() {
  for image in $IMAGES; do
    docker image inspect "$image" >/dev/null 2>&1 || continue
    want=$(docker image inspect -f '{{.Id}}' "$image")
    have=$(docker -H "$URL" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
    [ "$want" = "$have" ] || docker save "$image" | docker -H "$URL" load -q >/dev/null
  done
}

# host_up [dockerd args...]: the namespace, its dockerd (answering), and the images.
host_up() {
  command -v ip >/dev/null 2>&1 || { echo "$NS: no ip command (iproute2)" >&2; exit 2; }
  command -v nsenter >/dev/null 2>&1 || { echo "$NS: no nsenter (util-linux)" >&2; exit 2; }
  netns_up
  if ! answers; then
    if [ -z "$(running_pid)" ]; then
      rm -f "$PIDFILE" "$SOCK"
      # nsenter, not `ip netns exec`: the latter remounts /sys and dockerd then fails
      # with "Devices cgroup isn't mounted".
      # setsid: its own session, so a `timeout` or a job control that signals the caller's
      # process group (GNU timeout does) does not stop the engine with it.
      setsid nohup nsenter --net="/var/run/netns/$NS" dockerd --data-root "/var/lib/docker-$DATA" \
        --exec-root "/var/run/docker-$DATA" --pidfile "$PIDFILE" -H "$URL" "$@" \
        --bip "$BIP" >"$LOG" 2>&1 &
    fi
    i=0
    until answers; do
      i=$((i + 1))
      if [ "$i" -gt 60 ]; then echo "$NS: dockerd did not answer; see $LOG" >&2; exit 1; fi
      sleep 0.5
    done
  fi
  load_images
}

# host_down: stop the dockerd, remove the veth and the namespace.
host_down() {
  pid=$(running_pid || true)
  if [ -n "$pid" ]; then
    kill "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
      i=$((i + 1)); [ "$i" -gt 40 ] && { kill -9 "$pid" 2>/dev/null || true; break; }
      sleep 0.5
    done
  fi
  ip link del "$VETH" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  # With the veth gone, the subnet would follow the default route off the machine.
  ip route replace unreachable "$SUBNET" 2>/dev/null || true
}

# host_main start|stop|status: what a host script does with its one argument.
host_main() {
  case "$1" in
    start) host_up; echo "$URL $ADDR" ;;
    stop) host_down ;;
    status) if answers; then echo "running $URL $ADDR"; else echo "stopped"; exit 3; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
  esac
}
