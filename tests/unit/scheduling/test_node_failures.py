"""Failures that belong to a node: causes, tries, back-off, avoidance."""

from __future__ import annotations

from reconciler.scheduling import place
from reconciler.scheduling.node_failures import (
    REASON,
    NodeFailures,
    backoff,
    node_fault,
)

from .factories import node, pod


class TestNodeFault:
    def test_causes(self) -> None:
        """The engine's words name the cause; any sandbox failure is the node's."""
        assert node_fault("FailedCreatePodSandBox", "Failed to create pod sandbox: no available "
                          "IPv4 addresses on this network's address pools") == \
            "address pool exhausted"
        assert node_fault("Failed", "exec /bin/sh: exec format error") == \
            "image platform mismatch"
        assert node_fault("FailedCreatePodSandBox", "driver failed") == \
            "the engine refused the pod sandbox"
        assert node_fault("BackOff", "Back-off restarting failed container") == ""

    def test_backoff_doubles_to_a_bound(self) -> None:
        """1, 2, 4 ... seconds, never above the bound."""
        assert [backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
        assert backoff(20) == 10.0


class TestNodeFailures:
    def test_bounded_tries(self) -> None:
        """The third failure in a row gives the pod back; a success starts the count again."""
        f = NodeFailures()
        assert not f.exhausted(f.failed("u", "a"))
        f.succeeded("u", "a")
        assert [f.exhausted(f.failed("u", "a")) for _ in range(3)] == [False, False, True]

    def test_avoidance_expires(self) -> None:
        """An unbound pod avoids the node for a while, then may go there again."""
        f = NodeFailures(avoid_seconds=60)
        f.unbound("u", "a", "address pool exhausted", now=100.0)
        assert f.avoided("u", 150.0) == {"a": "address pool exhausted"}
        assert f.avoided("other", 150.0) == {}
        assert f.avoided("u", 161.0) == {}

    def test_forget(self) -> None:
        """A deleted pod leaves nothing behind."""
        f = NodeFailures()
        f.failed("u", "a")
        f.unbound("u", "b", "x", 0.0)
        f.forget("u")
        assert f.avoided("u", 1.0) == {} and f.failed("u", "a") == 1

    def test_scheduler_skips_avoided_nodes(self) -> None:
        """The avoided node is filtered with its reason; another node is chosen."""
        nodes = [node("a"), node("b")]
        assert place(pod("p"), nodes, [], avoid={"a": "x"}).node == "b"
        alone = place(pod("p"), nodes[:1], [], avoid={"a": "x"})
        assert alone.node is None and alone.message == f"0/1 nodes are available: 1 {REASON}."
