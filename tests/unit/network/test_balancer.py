"""Unit tests of the userspace proxy's balancer."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from reconciler.network.balancer import Balancer
from reconciler.network.model import Backend
from tests.support.clock import ManualClock

A, B, C = Backend("10.0.0.1", 80), Backend("10.0.0.2", 80), Backend("10.0.0.3", 80)


class TestBalancer:
    @given(st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=5))
    def test_round_robin_is_even(self, n: int, rounds: int) -> None:
        """Without affinity, n*k picks hit each backend exactly k times."""
        backends = tuple(Backend(f"10.0.0.{i}", 80) for i in range(n))
        bal = Balancer(backends)
        counts = Counter(bal.pick("1.1.1.1") for _ in range(n * rounds))
        assert set(counts.values()) == {rounds}

    def test_affinity_sticks_then_expires(self) -> None:
        """ClientIP affinity keeps a client on one backend until the timeout passes."""
        clock = ManualClock(0.0)
        bal = Balancer((A, B, C), affinity=True, affinity_timeout=10, clock=clock)
        first = bal.pick("1.1.1.1")
        assert all(bal.pick("1.1.1.1") == first for _ in range(5))
        clock.now = 100
        assert bal.pick("1.1.1.1") != first

    def test_exclude_skips_refused(self) -> None:
        """A backend that refused is not picked again for the same connection."""
        bal = Balancer((A, B))
        assert bal.pick("c", frozenset({A})) == B
        assert bal.pick("c", frozenset({A, B})) is None

    def test_update_drops_affinity_to_gone_backend(self) -> None:
        """A client stuck to a removed backend is moved to a remaining one."""
        bal = Balancer((A, B), affinity=True)
        stuck = bal.pick("c")
        rest = tuple(b for b in (A, B) if b != stuck)
        bal.update(rest, True, 10800)
        assert bal.pick("c") == rest[0]

    def test_empty(self) -> None:
        """No backends: no pick."""
        assert Balancer().pick("c") is None
