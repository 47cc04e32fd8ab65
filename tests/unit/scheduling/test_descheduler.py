"""The descheduler's plan: moves that spread an owner's replicas, within budgets."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import Condition, PodRecord
from reconciler.scheduling.descheduler import plan_moves

from .factories import node, pod


def running(name: str, at: str, owner: str = "web", ready: bool = True, **kw: Any) -> PodRecord:
    p = pod(name, owner=owner, node_name=at, labels={"app": owner}, phase="Running", **kw)
    p.conditions = [Condition("Ready", ready)]
    return p


class TestPlanMoves:
    def test_returning_host_gets_replicas_back(self) -> None:
        """Six replicas all on one host, an empty host back: one move per pass per owner."""
        pods = [running(f"w{i}", "a") for i in range(6)]
        moves = plan_moves([node("a"), node("b")], pods, [], max_moves=5)
        assert len(moves) == 1 and moves[0].node == "a"
        assert "6 on a, 0 on b" in moves[0].message

    def test_balanced_owner_stays(self) -> None:
        """A difference of one is balance: nothing moves."""
        pods = [running("w0", "a"), running("w1", "a"), running("w2", "b")]
        assert plan_moves([node("a"), node("b")], pods, [], max_moves=5) == []

    def test_budget_of_moves(self) -> None:
        """At most max_moves evictions in a pass, over several owners."""
        pods = [running(f"{o}{i}", "a", owner=o) for o in ("x", "y", "z") for i in range(4)]
        assert len(plan_moves([node("a"), node("b")], pods, [], max_moves=2)) == 2

    def test_unready_owner_waits(self) -> None:
        """An owner with a pod not Ready (the last move starting) is left alone."""
        pods = [running(f"w{i}", "a") for i in range(4)] + [running("w9", "b", ready=False)]
        assert plan_moves([node("a"), node("b")], pods, [], max_moves=5) == []

    def test_owner_short_of_replicas_waits(self) -> None:
        """An owner whose evicted pod is gone before its replacement is made is left alone."""
        pods = [running(f"w{i}", "a") for i in range(5)]
        assert plan_moves([node("a"), node("b")], pods, [], 5, short={"uid-web"}) == []
        assert len(plan_moves([node("a"), node("b")], pods, [], 5, short={"uid-x"})) == 1

    def test_disruption_budget_holds(self) -> None:
        """A PodDisruptionBudget with no disruption left blocks the move."""
        pods = [running(f"w{i}", "a") for i in range(4)]
        pdb = {"metadata": {"name": "p", "namespace": "default"},
               "spec": {"minAvailable": 4, "selector": {"matchLabels": {"app": "web"}}}}
        assert plan_moves([node("a"), node("b")], pods, [pdb], max_moves=5) == []

    def test_only_where_the_scheduler_would_go(self) -> None:
        """No move to a node the pod cannot go to (cordoned, or failing its filters)."""
        pods = [running(f"w{i}", "a") for i in range(4)]
        assert plan_moves([node("a"), node("b", unschedulable=True)], pods, [], 5) == []
        big = [running(f"w{i}", "a", cpu="2") for i in range(4)]
        assert plan_moves([node("a", cpu=64_000), node("b", cpu=1000)], big, [], 5) == []

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=12),
           st.integers(0, 4))
    def test_moves_only_from_the_fullest(self, where: list[str], budget: int) -> None:
        """Every move leaves a node holding at least two more of that owner than another."""
        pods = [running(f"w{i}", at) for i, at in enumerate(where)]
        moves = plan_moves([node("a"), node("b"), node("c")], pods, [], budget)
        assert len(moves) <= min(budget, 1)
        for m in moves:
            counts = {n: where.count(n) for n in "abc"}
            assert counts[m.node] - min(counts.values()) >= 2

    def test_owner_with_a_pod_going_waits(self) -> None:
        """The last move's pod still being deleted: no second move for that owner yet."""
        pods = [running(f"w{i}", "a") for i in range(5)]
        pods[0].deletion_timestamp = pods[0].created_at
        assert plan_moves([node("a"), node("b")], pods, [], max_moves=5) == []
