"""place and place_many: filters then scores, FailedScheduling wording, determinism, spread."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.scheduling import fit_error, place, place_many
from reconciler.scheduling.nodeinfo import build_node_infos
from reconciler.scheduling.scheduler import filter_node
from reconciler.scheduling.scores import least_requested_score

from .factories import GI, node, pod


class TestPlace:
    def test_failed_scheduling_message(self) -> None:
        """Nothing fits: reasons are counted per node and sorted as kube-scheduler sorts them."""
        nodes = [node("a", memory=GI), node("b", labels={"disk": "hdd"}), node("c")]
        p = pod("p", memory="2Gi", spec={"nodeSelector": {"disk": "ssd"}})
        nodes[0].labels["disk"] = "ssd"
        placement = place(p, nodes, [])
        assert placement.node is None
        assert placement.message == (
            "0/3 nodes are available: 1 Insufficient memory, "
            "2 node(s) didn't match Pod's node affinity/selector.")
        assert placement.reasons["a"] == ("Insufficient memory",)

    def test_first_failing_filter_only(self) -> None:
        """A node is explained by its first failing filter, in the default profile's order."""
        nodes = [node("a", ready=False, cpu=10), node("b", unschedulable=True)]
        placement = place(pod("p", "1"), nodes, [])
        assert placement.message == (
            "0/2 nodes are available: 1 node(s) had untolerated taint "
            "{node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable.")

    def test_no_nodes(self) -> None:
        """Without nodes the message is kube-scheduler's ErrNoNodesAvailable."""
        assert place(pod("p"), [], []).message == "no nodes available to schedule pods"

    def test_success(self) -> None:
        """A fitting node is chosen with the Scheduled event's message."""
        placement = place(pod("p"), [node("a")], [])
        assert placement.node == "a"
        assert placement.message == "Successfully assigned default/p to a"

    def test_least_allocated_wins(self) -> None:
        """The emptier node scores higher."""
        placed = [pod("x", "3", "6Gi", node_name="a")]
        assert place(pod("p", "100m"), [node("a"), node("b")], placed).node == "b"

    def test_ties_broken_by_name(self) -> None:
        """Equal nodes: the first by name wins, whatever the input order."""
        assert place(pod("p"), [node("c"), node("b"), node("d")], []).node == "b"

    def test_least_requested_formula(self) -> None:
        """leastRequestedScore uses integer arithmetic and 0 when over capacity."""
        assert least_requested_score(250, 1000) == 75
        assert least_requested_score(1, 3) == 66
        assert least_requested_score(5, 4) == 0
        assert fit_error(2, {}) == "0/2 nodes are available:"


class TestPlaceMany:
    def test_batch_counts_against_itself(self) -> None:
        """Each pod in a batch uses resources seen by the next."""
        nodes = [node("a", cpu=1000), node("b", cpu=1000)]
        results = place_many([pod(f"p{i}", "600m") for i in range(3)], nodes, [])
        assert [r.node for r in results[:2]] == ["a", "b"]
        assert results[2].node is None
        assert results[2].message == "0/2 nodes are available: 2 Insufficient cpu."

    def test_inputs_untouched(self) -> None:
        """place_many does not mutate the pods or the placed list."""
        pods = [pod("p0"), pod("p1")]
        placed: list[PodRecord] = []
        place_many(pods, [node("a")], placed)
        assert placed == [] and all(p.node_name == "" for p in pods)


def nodes_strategy() -> st.SearchStrategy[list[NodeRecord]]:
    one = st.builds(
        lambda i, cpu, mem, ready, cordon, disk: node(
            f"n{i}", cpu=cpu, memory=mem * GI, ready=ready, unschedulable=cordon,
            labels={"disk": disk}),
        st.integers(0, 9), st.sampled_from([500, 1000, 4000]), st.sampled_from([1, 2, 8]),
        st.booleans(), st.booleans(), st.sampled_from(["ssd", "hdd"]))
    return st.lists(one, max_size=6, unique_by=lambda n: n.name)


def pods_strategy() -> st.SearchStrategy[list[PodRecord]]:
    one = st.builds(
        lambda i, cpu, mem, port, disk, owner: pod(
            f"p{i}", cpu, mem, host_port=port, owner=owner,
            spec={"nodeSelector": {"disk": disk}} if disk else {}),
        st.integers(0, 30), st.sampled_from([None, "100m", "700m", "2"]),
        st.sampled_from([None, "256Mi", "1Gi", "3Gi"]), st.sampled_from([0, 0, 80, 443]),
        st.sampled_from([None, "ssd", "hdd"]), st.sampled_from([None, "web", "db"]))
    return st.lists(one, max_size=12, unique_by=lambda p: p.name)


class TestProperties:
    @settings(max_examples=200, deadline=None)
    @given(nodes_strategy(), pods_strategy())
    def test_placements_never_violate_a_filter(self, nodes: list[NodeRecord],
                                               pods: list[PodRecord]) -> None:
        """Every placement passes every filter given the pods placed before it."""
        placed: list[PodRecord] = []
        for p, placement in zip(pods, place_many(pods, nodes, []), strict=True):
            infos = build_node_infos(nodes, placed)
            if placement.node is None:
                assert all(filter_node(p, i) for i in infos.values())
                assert placement.message.startswith(f"0/{len(nodes)} nodes are available") or (
                    not nodes)
            else:
                assert filter_node(p, infos[placement.node]) == []
                placed.append(PodRecord(**{**p.__dict__, "node_name": placement.node}))

    @settings(max_examples=100, deadline=None)
    @given(nodes_strategy(), pods_strategy(), st.randoms(use_true_random=False))
    def test_deterministic(self, nodes: list[NodeRecord], pods: list[PodRecord],
                           rnd: object) -> None:
        """The same inputs, in any node order, give the same placements."""
        shuffled = list(nodes)
        rnd.shuffle(shuffled)  # type: ignore[attr-defined]
        assert place_many(pods, nodes, []) == place_many(pods, shuffled, [])

    @settings(max_examples=100, deadline=None)
    @given(st.integers(1, 6), st.integers(1, 30), st.sampled_from([None, "100m", "250m"]))
    def test_owner_spreads_evenly(self, n_nodes: int, n_pods: int, cpu: str | None) -> None:
        """One owner's pods spread over equal nodes with at most one pod of difference."""
        nodes = [node(f"n{i}", cpu=100_000, memory=100 * GI) for i in range(n_nodes)]
        results = place_many([pod(f"p{i}", cpu, owner="web") for i in range(n_pods)], nodes, [])
        counts = Counter(r.node for r in results)
        assert None not in counts
        per_node = [counts.get(n.name, 0) for n in nodes]
        assert max(per_node) - min(per_node) <= 1
