"""How many pods a node can hold: kubelet's max-pods, bounded by its pod network's addresses.

Read by the node controller's heartbeat (through the runtime agent, which asks the
engine for its default bridge) and by `resources.fits`, which counts pods as
kube-scheduler's NodeResourcesFit does ("Too many pods"). A Docker host gives
every pod sandbox an address of its bridge subnet: a /24 holds 253 sandboxes,
and the 254th fails with "no available IPv4 addresses on this network's address
pools". Counting addresses here keeps the scheduler from sending a pod to a host
that cannot give it one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def usable_addresses(subnet: str) -> int:
    """The addresses of an IPv4 subnet Docker can hand out: less network, broadcast, gateway."""
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return 0
    if net.version != 4 or net.prefixlen > 30:
        return 0
    return int(net.num_addresses) - 3


def free_pod_addresses(subnet: str, attached: Iterable[str], infra_prefix: str) -> int:
    """Addresses left for this service's pods: the subnet's usable ones less every attached
    container that is not one of its own sandboxes (whose names start with `infra_prefix`);
    0 when the subnet is not known (the caller then counts max-pods alone)."""
    usable = usable_addresses(subnet)
    if usable == 0:
        return 0
    others = sum(1 for name in attached if not name.lstrip("/").startswith(infra_prefix))
    return max(usable - others, 1)
