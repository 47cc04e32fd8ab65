"""Cluster IP and node port allocation: which value a service gets, as pure functions.

Called by the store (`reconciler.store.network.NetworkMixin`), which reads the
values in use and the one the owner holds inside a write transaction, asks
`choose` for the value, and writes it; the service controller
(`reconciler.control.services`) sees `AllocationError` as an event on the
Service. Nothing here does I/O, so the policy is property-tested without a
database.

As Kubernetes does since KEP-3070/3668, the lowest addresses and ports of a
range form a static band that dynamic allocation uses only when the rest is
full, so a fixed `clusterIP:` (say, the DNS service's) rarely finds its address
taken.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Set
from dataclasses import dataclass

# Re-exported: the store's allocator and the controllers' port take the range from here.
from reconciler.api.defaults import NODE_PORT_RANGE as NODE_PORT_RANGE

CLUSTER_IP = "cluster-ip"
NODE_PORT = "node-port"


class AllocationError(Exception):
    """A requested address or port is taken or out of range, or the range is full."""


def static_band(size: int, minimum: int, divisor: int, maximum: int) -> int:
    """How many of the lowest values dynamic allocation avoids (KEP-3070 formula)."""
    return min(max(minimum, size // divisor), maximum)


@dataclass(frozen=True)
class Pool:
    """The values of one kind a service may get: `first..last`, the lowest `band` kept back."""

    kind: str
    first: int
    last: int
    band: int

    def encode(self, value: int) -> str:
        """The stored text of a value: a dotted address for cluster IPs, digits for ports."""
        return str(ipaddress.ip_address(value)) if self.kind == CLUSTER_IP else str(value)

    def decode(self, text: str) -> int:
        """The value of a stored text (the inverse of `encode`)."""
        return int(ipaddress.ip_address(text)) if self.kind == CLUSTER_IP else int(text)


def cluster_ip_pool(cidr: str, requested: str | None = None) -> tuple[Pool, int | None]:
    """The service range `cidr` without its network and broadcast addresses, and the wish.

    A /31 or /32 has no such addresses to spare, so all of it is usable.
    """
    net = ipaddress.ip_network(cidr, strict=False)
    first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
    if net.num_addresses <= 2:
        first, last = int(net.network_address), int(net.broadcast_address)
    want = None
    if requested:
        addr = ipaddress.ip_address(requested)
        if addr not in net:
            raise AllocationError(f"{requested} is not in the service range {cidr}")
        want = int(addr)
    return Pool(CLUSTER_IP, first, last, static_band(last - first + 1, 16, 16, 256)), want


def node_port_pool(
    port_range: tuple[int, int] = NODE_PORT_RANGE, requested: int | None = None
) -> Pool:
    """The node port range; a requested port outside it is refused with Kubernetes' words."""
    low, high = port_range
    if requested is not None and not low <= requested <= high:
        raise AllocationError(f"provided port {requested} is not in the valid range {low}-{high}")
    return Pool(NODE_PORT, low, high, static_band(high - low + 1, 16, 32, 128))


def choose(pool: Pool, used: Set[int], held: int | None = None, want: int | None = None) -> int:
    """The value the owner gets, given every value of the pool's kind in use.

    `held` is what the owner has now (it is among `used`), `want` what it asks
    for. A held value is kept unless the owner asks for another one, so a
    service keeps its address across restarts. A wish is granted when free;
    otherwise the first free value above the static band, then in it.
    """
    if held is not None and (want is None or held == want):
        return held
    if want is not None:
        if want in used:
            raise AllocationError(f"provided {pool.kind} {pool.encode(want)} is already allocated")
        return want
    # The band may be wider than a tiny range (16 of a /31's 2): never step past `last`.
    upper = min(pool.first + pool.band - 1, pool.last)
    for lo, hi in ((pool.first + pool.band, pool.last), (pool.first, upper)):
        for value in range(lo, hi + 1):
            if value not in used:
                return value
    raise AllocationError(f"range for {pool.kind} is full")
