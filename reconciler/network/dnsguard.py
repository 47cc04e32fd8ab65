"""Who the cluster DNS server serves, and how much: per-source rate limits and the recursion rule.

Pure: `reconciler.network.dns` asks `RateLimiter.allow` for every query it reads and
`may_recurse` before it forwards one to the host's resolvers. Cluster names are
answered to anyone who can reach the address; forwarding (recursion) only to pods
and hosts of the cluster, as dnsmasq's `--local-service` answers only directly
attached subnets: the server is then never an open resolver for a neighbour that
found a route to it (an amplifier, a relay to the host's own resolvers).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from reconciler.network.model import ServiceTable

# Per source address. A pod's stub resolver asks a handful of names per lookup (the
# search list times A and AAAA); a thousand a second is far beyond a busy pod.
RATE = 1000.0
BURST = 2000.0
MAX_SOURCES = 4096  # buckets kept; beyond it the full (idle) ones are forgotten
LOOPBACK = ("127.0.0.0/8",)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """A token bucket per source address: `rate` queries a second, bursts up to `burst`."""

    rate: float = RATE
    burst: float = BURST
    max_sources: int = MAX_SOURCES
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, source: str, now: float) -> bool:
        """True when `source` may have one more query at time `now` (monotonic seconds)."""
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self.max_sources:
                self._forget_idle(now)
            bucket = self._buckets[source] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _forget_idle(self, now: float) -> None:
        # A forgotten bucket comes back full, so only buckets that are full by now lose
        # nothing; when a spoofed flood leaves none full, all go (memory stays bounded).
        full = [s for s, b in self._buckets.items()
                if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for source in full or list(self._buckets):
            del self._buckets[source]

    def __len__(self) -> int:
        return len(self._buckets)


def networks_of(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parsed networks ("10.0.0.0/8", a bare address is its /32); bad entries skipped."""
    out: list[Network] = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return tuple(out)


def connected_networks(addr_json: list[dict[str, object]]) -> list[str]:
    """The subnets of this host's interfaces, from `ip -j addr show`: loopback, the Docker
    bridges the pods sit on, the LAN the other hosts are on."""
    out = []
    for link in addr_json:
        infos = link.get("addr_info", [])
        for info in infos if isinstance(infos, list) else []:
            if isinstance(info, dict) and "local" in info and "prefixlen" in info:
                out.append(f"{info['local']}/{info['prefixlen']}")
    return out


def in_networks(source: str, networks: tuple[Network, ...]) -> bool:
    """True when address `source` is in one of `networks` (False for garbage)."""
    try:
        ip = ipaddress.ip_address(source)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def may_recurse(source: str, networks: tuple[Network, ...], table: ServiceTable) -> bool:
    """True for a pod or host of the cluster: an address in `networks` (loopback and the
    host's attached subnets), a pod's address, or a node's address from the table."""
    if in_networks(source, networks):
        return True
    if table.namespace_of(source) is not None:
        return True
    return any(source in (pod_ip, node_ip) for pod_ip, _, node_ip in table.pod_hosts)
