"""Routes to the pods of other hosts: one host route per remote pod, via the host it runs on.

Called by the embedded proxy (reconciler.network.embedded) of each host whenever
the table's pod addresses change. Docker gives each host's pods addresses on a
bridge that only that host routes to; with a route `POD_IP/32 via HOST_ADDRESS`
a pod here reaches a pod there by its own address (what a headless service or a
StatefulSet member's DNS name answers), as flannel's host-gw backend does. The
packet leaves masqueraded to this host's address and is let in on the other
host by the rule Docker keeps for the pod's published port (every container
port is published). Each host's Docker bridge must use its own subnet (`bip`):
a remote pod address inside a subnet this host reaches directly is skipped
(with a warning), since a route to it would take a local pod's address away.
Our routes carry their own protocol number, so nothing else is ever removed;
they stay when the proxy stops (`cleanup()` removes them).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
from collections.abc import Iterable

log = logging.getLogger(__name__)

PROTO = "94"  # the `proto` of the routes we own (any unused number from rt_protos)


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def wanted_routes(
    pods: Iterable[tuple[str, str, str]],
    node_name: str,
    direct: Iterable[ipaddress.IPv4Network],
    local: set[str],
) -> dict[str, str]:
    """Pod IP -> gateway for the pods of other nodes that this host should route to.

    `pods` holds (pod IP, node, host address). Left out: pods of this node, pods of a
    node without an address (or with one of ours), and addresses this host reaches
    directly (a Docker bridge sharing this host's subnet: a route would shadow a pod here).
    """
    nets = list(direct)
    out: dict[str, str] = {}
    for ip, node, via in pods:
        if node == node_name or not via or via in local or ip in local:
            continue
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            continue
        if any(addr in net for net in nets):
            continue
        out[ip] = via
    return out


class PodRoutes:
    """The routes of this host to other hosts' pods; `cleanup()` removes them all."""

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self._skipped: set[str] = set()

    def sync(self, pods: Iterable[tuple[str, str, str]], local: set[str]) -> None:
        """Add, change and remove our routes so that they match `pods` (see wanted_routes)."""
        pods = list(pods)
        direct = self._direct_networks()
        wanted = wanted_routes(pods, self.node_name, direct, local)
        self._warn_skipped(pods, direct, wanted)
        current = self._current()
        for ip, via in sorted(wanted.items()):
            if current.get(ip) == via:
                continue
            try:
                _ip("route", "replace", f"{ip}/32", "via", via, "proto", PROTO)
            except OSError as exc:  # the host's address is unreachable right now
                log.warning("no route to pod %s via %s: %s", ip, via, exc)
        for ip in sorted(set(current) - set(wanted)):
            self._delete(ip)

    def cleanup(self) -> None:
        """Remove all our routes. Not done when the proxy stops: pods keep reaching each
        other while the service restarts, and the successor's first sync corrects them."""
        for ip in sorted(self._current()):
            self._delete(ip)

    def _delete(self, ip: str) -> None:
        try:
            _ip("route", "del", f"{ip}/32", "proto", PROTO)
        except OSError as exc:
            log.warning("could not remove the route to pod %s: %s", ip, exc)

    @staticmethod
    def _current() -> dict[str, str]:
        routes = json.loads(_ip("-j", "route", "show", "proto", PROTO) or "[]")
        return {str(r["dst"]).removesuffix("/32"): str(r.get("gateway", "")) for r in routes}

    @staticmethod
    def _direct_networks() -> list[ipaddress.IPv4Network]:
        """Subnets this host reaches without a gateway (its bridges and links)."""
        nets = []
        for r in json.loads(_ip("-j", "route", "show", "scope", "link") or "[]"):
            try:
                nets.append(ipaddress.IPv4Network(str(r["dst"]), strict=False))
            except ValueError:
                continue  # "default" and the like
        return nets

    def _warn_skipped(self, pods: list[tuple[str, str, str]],
                      direct: list[ipaddress.IPv4Network], wanted: dict[str, str]) -> None:
        for ip, node, via in pods:
            if node == self.node_name or not via or ip in wanted or ip in self._skipped:
                continue
            try:
                addr = ipaddress.IPv4Address(ip)
            except ValueError:
                continue
            if any(addr in net for net in direct):
                self._skipped.add(ip)
                log.warning("pod %s on node %s shares a subnet of this host: not routed "
                            "(give each host's Docker bridge its own subnet, bip)", ip, node)
