"""Unit and property tests of cluster IP and node port allocation (planning.allocation)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.planning.allocation import (
    CLUSTER_IP,
    NODE_PORT,
    AllocationError,
    Pool,
    choose,
    cluster_ip_pool,
    node_port_pool,
)


@st.composite
def pools_and_used(draw: st.DrawFn) -> tuple[Pool, set[int]]:
    """A small pool (so it fills up sometimes) and a set of values in use, some out of range."""
    first = draw(st.integers(min_value=0, max_value=1000))
    size = draw(st.integers(min_value=1, max_value=40))
    # A band wider than the range happens: static_band gives 16 for a /31's 2 addresses.
    band = draw(st.integers(min_value=0, max_value=size + 20))
    pool = Pool(NODE_PORT, first, first + size - 1, band)
    used = draw(st.sets(st.integers(min_value=first - 5, max_value=first + size + 5), max_size=50))
    return pool, used


class TestChoose:
    @settings(max_examples=200)
    @given(pools_and_used())
    def test_never_in_use_and_in_range(self, case: tuple[Pool, set[int]]) -> None:
        """A dynamic choice is free and inside first..last, or the range is reported full."""
        pool, used = case
        free = set(range(pool.first, pool.last + 1)) - used
        try:
            value = choose(pool, used)
        except AllocationError:
            assert not free
            return
        assert value in free

    @settings(max_examples=200)
    @given(pools_and_used())
    def test_static_band_last(self, case: tuple[Pool, set[int]]) -> None:
        """The band's values are handed out only when every value above it is taken."""
        pool, used = case
        dynamic = set(range(pool.first + pool.band, pool.last + 1)) - used
        if not dynamic:
            return
        value = choose(pool, used)
        assert value >= pool.first + pool.band
        assert value == min(dynamic)

    @settings(max_examples=200)
    @given(pools_and_used(), st.data())
    def test_wish_granted_when_free(self, case: tuple[Pool, set[int]], data: st.DataObject) -> None:
        """A requested value is granted when nobody holds it and refused when somebody does."""
        pool, used = case
        want = data.draw(st.integers(min_value=pool.first, max_value=pool.last))
        if want in used:
            with pytest.raises(AllocationError, match="already allocated"):
                choose(pool, used, want=want)
        else:
            assert choose(pool, used, want=want) == want

    @settings(max_examples=100)
    @given(pools_and_used(), st.data())
    def test_held_value_kept(self, case: tuple[Pool, set[int]], data: st.DataObject) -> None:
        """An owner keeps what it holds, even in a full range, unless it asks for another."""
        pool, used = case
        held = data.draw(st.integers(min_value=pool.first, max_value=pool.last))
        used = used | {held}
        assert choose(pool, used, held=held) == held
        assert choose(pool, used, held=held, want=held) == held

    def test_moves_to_a_new_wish(self) -> None:
        """An owner asking for another free value gets it."""
        pool = Pool(NODE_PORT, 30000, 30010, 2)
        assert choose(pool, {30005}, held=30005, want=30007) == 30007


class TestPools:
    @pytest.mark.parametrize(
        ("cidr", "first", "last", "band"),
        [
            ("10.96.0.0/24", "10.96.0.1", "10.96.0.254", 16),
            ("10.96.0.0/12", "10.96.0.1", "10.111.255.254", 256),
            ("10.96.0.8/31", "10.96.0.8", "10.96.0.9", 16),
        ],
    )
    def test_cluster_ip_pool(self, cidr: str, first: str, last: str, band: int) -> None:
        """Network and broadcast addresses are left out, except in a /31 or /32."""
        pool, want = cluster_ip_pool(cidr)
        assert pool.kind == CLUSTER_IP and want is None
        assert (pool.encode(pool.first), pool.encode(pool.last)) == (first, last)
        assert pool.band == band

    def test_cluster_ip_request(self) -> None:
        """A requested address is checked against the range and returned as a number."""
        pool, want = cluster_ip_pool("10.96.0.0/24", "10.96.0.10")
        assert want == int(ipaddress.ip_address("10.96.0.10"))
        assert pool.decode(pool.encode(want)) == want
        with pytest.raises(AllocationError, match="not in the service range"):
            cluster_ip_pool("10.96.0.0/24", "10.97.0.1")

    def test_node_port_pool(self) -> None:
        """Node ports span 30000-32767 with a band of 86; a port outside is refused."""
        pool = node_port_pool()
        assert (pool.first, pool.last, pool.band) == (30000, 32767, 86)
        with pytest.raises(AllocationError, match="valid range 30000-32767"):
            node_port_pool(requested=80)

    def test_full_range(self) -> None:
        """A range with every value taken says so."""
        pool = Pool(CLUSTER_IP, 10, 12, 1)
        with pytest.raises(AllocationError, match="full"):
            choose(pool, {10, 11, 12})
