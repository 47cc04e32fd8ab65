"""Pod capacity: the pod network's addresses, max-pods, and "Too many pods"."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.scheduling import place, place_many
from reconciler.scheduling.capacity import free_pod_addresses, usable_addresses

from .factories import node, pod


class TestAddresses:
    def test_usable_addresses(self) -> None:
        """A /24 gives 253 sandboxes, a /28 13: network, broadcast and gateway are not given."""
        assert usable_addresses("172.17.0.0/24") == 253
        assert usable_addresses("10.9.0.0/28") == 13
        assert usable_addresses("10.9.0.1/28") == 13
        assert usable_addresses("") == 0
        assert usable_addresses("fd00::/64") == 0

    def test_other_containers_take_addresses(self) -> None:
        """Containers on the bridge that are not this service's sandboxes use addresses too."""
        attached = ["k8s_POD_a_default_u1_0", "/registry", "other_POD_x"]
        assert free_pod_addresses("10.9.0.0/28", attached, "k8s_POD_") == 11
        assert free_pod_addresses("", attached, "k8s_POD_") == 0


class TestTooManyPods:
    def test_allocatable_is_the_lesser(self) -> None:
        """Allocatable pods: max-pods, never more than the free addresses when known."""
        assert node("a").allocatable_pods == 110
        assert node("a", pod_addresses=13).allocatable_pods == 13
        assert node("a", pod_addresses=500, max_pods=20).allocatable_pods == 20

    def test_full_node_is_filtered(self) -> None:
        """A node holding its allocatable count says Too many pods; the pod goes elsewhere."""
        nodes = [node("a", max_pods=2), node("b", max_pods=1)]
        placed = [pod("x", node_name="a"), pod("y", node_name="a"), pod("z", node_name="b")]
        placement = place(pod("p"), nodes, placed)
        assert placement.node is None
        assert placement.message == "0/2 nodes are available: 2 Too many pods."
        assert place(pod("p"), [*nodes, node("c")], placed).node == "c"

    def test_finished_pods_do_not_count(self) -> None:
        """Succeeded and Failed pods hold no address."""
        placed = [pod("x", node_name="a", phase="Succeeded")]
        assert place(pod("p"), [node("a", max_pods=1)], placed).node == "a"

    @settings(max_examples=100, deadline=None)
    @given(st.integers(1, 8), st.integers(1, 8), st.integers(0, 30))
    def test_no_node_takes_more_than_it_holds(self, a: int, b: int, n: int) -> None:
        """A batch fills the nodes up to their address count and no further; the rest wait."""
        nodes = [node("a", pod_addresses=a), node("b", pod_addresses=b)]
        results = place_many([pod(f"p{i}", owner="web") for i in range(n)], nodes, [])
        placed = [r.node for r in results]
        assert placed.count("a") <= a and placed.count("b") <= b
        assert placed.count(None) == max(n - a - b, 0)
