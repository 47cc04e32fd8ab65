"""Filter: the host ports a pod asks for are free on the node.

Runs after the node selector in `scheduler.py`. Mirrors kube-scheduler's NodePorts
plugin (ErrReason) and HostPortInfo's conflict rule: same protocol and port, and
the same address or either side bound to 0.0.0.0. Ports that our driver publishes
for services (PodRecord.ports) are ephemeral and never conflict; only hostPort counts.
"""

from __future__ import annotations

from reconciler.api.records import PodRecord
from reconciler.scheduling.nodeinfo import HostPort, NodeInfo, host_ports

REASON = "node(s) didn't have free ports for the requested pod ports"

_ANY = "0.0.0.0"


def conflicts(a: HostPort, b: HostPort) -> bool:
    """Two host port claims collide on protocol and port unless bound to distinct addresses."""
    (proto_a, ip_a, port_a), (proto_b, ip_b, port_b) = a, b
    if proto_a != proto_b or port_a != port_b:
        return False
    return ip_a == ip_b or _ANY in (ip_a, ip_b)


def fits(pod: PodRecord, info: NodeInfo) -> list[str]:
    """No requested host port collides with one already used on the node."""
    for wanted in host_ports(pod.spec):
        if any(conflicts(wanted, used) for used in info.used_ports):
            return [REASON]
    return []
