"""The DNS server's limits, decided purely: token buckets per source and who may recurse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.network.dnsguard import (
    LOOPBACK,
    RateLimiter,
    connected_networks,
    may_recurse,
    networks_of,
)
from reconciler.network.model import ServiceTable

TABLE = ServiceTable(pod_namespaces=(("10.244.1.5", "default"),),
                     pod_hosts=(("10.244.2.7", "hostb", "192.168.50.2"),))


class TestRateLimiter:
    def test_burst_then_refused(self) -> None:
        """A source gets its burst at once, then nothing until tokens come back."""
        limiter = RateLimiter(rate=10, burst=5)
        assert [limiter.allow("10.0.0.1", 0.0) for _ in range(7)] == [True] * 5 + [False] * 2

    def test_refills_at_the_rate(self) -> None:
        """After one second at 10/s a drained source has 10 more (capped by the burst)."""
        limiter = RateLimiter(rate=10, burst=20)
        assert sum(limiter.allow("a", 0.0) for _ in range(40)) == 20
        assert sum(limiter.allow("a", 1.0) for _ in range(40)) == 10

    def test_sources_are_independent(self) -> None:
        """One source over its rate does not cost another anything."""
        limiter = RateLimiter(rate=1, burst=1)
        assert limiter.allow("a", 0.0) and not limiter.allow("a", 0.0)
        assert limiter.allow("b", 0.0)

    @given(st.lists(st.integers(min_value=0, max_value=100_000), max_size=3000))
    def test_memory_bounded(self, sources: list[int]) -> None:
        """However many addresses a (spoofed) flood uses, the buckets kept stay bounded."""
        limiter = RateLimiter(rate=1, burst=1, max_sources=64)
        for i, s in enumerate(sources):
            limiter.allow(f"10.{s >> 16}.{(s >> 8) & 255}.{s & 255}", i * 0.001)
        assert len(limiter) <= 64


class TestMayRecurse:
    def test_loopback_and_attached_subnets(self) -> None:
        """Loopback and the host's attached subnets may have names forwarded."""
        nets = networks_of([*LOOPBACK, "172.17.0.1/16"])
        assert may_recurse("127.0.0.1", nets, ServiceTable())
        assert may_recurse("172.17.3.4", nets, ServiceTable())

    def test_pods_and_nodes_of_the_table(self) -> None:
        """A known pod, a pod on another host and that host's address may recurse."""
        nets = networks_of(LOOPBACK)
        for ip in ("10.244.1.5", "10.244.2.7", "192.168.50.2"):
            assert may_recurse(ip, nets, TABLE), ip

    def test_strangers_refused(self) -> None:
        """Any other address (or garbage) may not."""
        nets = networks_of(LOOPBACK)
        assert not may_recurse("203.0.113.9", nets, TABLE)
        assert not may_recurse("not-an-ip", nets, TABLE)

    def test_connected_networks_from_ip_json(self) -> None:
        """`ip -j addr` output gives each address with its prefix; odd entries are skipped."""
        data: list[dict[str, object]] = [
            {"addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
            {"addr_info": [{"local": "172.17.0.1", "prefixlen": 16}, {"family": "inet"}]},
            {"ifname": "x"},
        ]
        assert connected_networks(data) == ["127.0.0.1/8", "172.17.0.1/16"]
        assert [str(n) for n in networks_of(["127.0.0.1/8", "bogus", "10.1.2.3"])] == \
            ["127.0.0.0/8", "10.1.2.3/32"]
