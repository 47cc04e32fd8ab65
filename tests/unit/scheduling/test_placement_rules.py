"""nodeAffinity, taints and tolerations, inter-pod affinity, topology spread: filters and scores."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.taints import Taint
from reconciler.scheduling import place, place_many
from reconciler.scheduling.nodeinfo import build_node_infos
from reconciler.scheduling.scheduler import Inputs, bound_pods_for, place_on
from reconciler.scheduling.taint_toleration import eviction_delay

from .factories import node, pod

HOST = "kubernetes.io/hostname"


def required_nodes(*exprs: dict[str, Any]) -> dict[str, Any]:
    term = {"matchExpressions": list(exprs)}
    return {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}}


def anti(app: str, key: str = HOST, required: bool = True) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
    if required:
        return {"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term]}}}
    return {"affinity": {"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": term}]}}}


def with_affinity(app: str, key: str = HOST) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
    return {"affinity": {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [term]}}}


class TestNodeAffinity:
    @pytest.mark.parametrize(("expr", "chosen"), [
        ({"key": "disk", "operator": "In", "values": ["ssd"]}, "a"),
        ({"key": "disk", "operator": "NotIn", "values": ["ssd"]}, "b"),
        ({"key": "gpu", "operator": "Exists"}, "b"),
        ({"key": "gpu", "operator": "DoesNotExist"}, "a"),
        ({"key": "cores", "operator": "Gt", "values": ["8"]}, "b"),
        ({"key": "cores", "operator": "Lt", "values": ["8"]}, "a"),
        ({"key": HOST, "operator": "In", "values": ["b"]}, "b"),
    ])
    def test_required_operators(self, expr: dict[str, Any], chosen: str) -> None:
        """Each operator keeps the pod to the nodes whose labels satisfy it."""
        nodes = [node("a", labels={"disk": "ssd", "cores": "4"}),
                 node("b", labels={"disk": "hdd", "gpu": "1", "cores": "16"})]
        assert place(pod("p", spec=required_nodes(expr)), nodes, []).node == chosen

    def test_required_unmet_message(self) -> None:
        """No node matching gives NodeAffinity's reason."""
        p = pod("p", spec=required_nodes({"key": "zone", "operator": "In", "values": ["x"]}))
        assert place(p, [node("a"), node("b")], []).message == (
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")

    def test_preferred_wins_over_emptier(self) -> None:
        """A preferred term draws the pod to the matching node even when it is busier."""
        spec = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "preference": {"matchExpressions": [
                {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}}
        busy = [pod("x", "1", "2Gi", node_name="b")]
        nodes = [node("a"), node("b", labels={"disk": "ssd"})]
        assert place(pod("p", spec=spec), nodes, busy).node == "b"


class TestTaints:
    def test_untolerated_taint(self) -> None:
        """A NoSchedule taint keeps pods without the toleration away, with the taint named."""
        nodes = [node("a", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])]
        placement = place(pod("p"), nodes, [])
        assert placement.message == (
            "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}.")
        tolerating = pod("q", spec={"tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]})
        assert place(tolerating, nodes, []).node == "a"

    def test_prefer_no_schedule(self) -> None:
        """PreferNoSchedule only scores: the untainted node wins, the tainted one still fits."""
        tainted = node("a", taints=[{"key": "spot", "effect": "PreferNoSchedule"}])
        assert place(pod("p"), [tainted, node("b")], []).node == "b"
        assert place(pod("p"), [tainted], []).node == "a"

    def test_eviction_delay(self) -> None:
        """NoExecute: untolerated at once, tolerationSeconds later, forever without a limit."""
        taints = [Taint("maintenance", "NoExecute")]
        assert eviction_delay({}, taints) == 0.0
        timed = {"tolerations": [{"key": "maintenance", "operator": "Exists",
                                  "tolerationSeconds": 30}]}
        assert eviction_delay(timed, taints) == 30.0
        assert eviction_delay({"tolerations": [{"operator": "Exists"}]}, taints) is None
        assert eviction_delay({}, [Taint("x", "NoSchedule")]) is None


class TestInterPodAffinity:
    def test_anti_affinity_one_per_host(self) -> None:
        """Two replicas with required anti-affinity go to two hosts; a third stays Pending."""
        nodes = [node("a"), node("b")]
        pods = [pod(f"web-{i}", owner="web", spec=anti("web"), labels={"app": "web"})
                for i in range(3)]
        results = place_many(pods, nodes, [])
        assert sorted(str(r.node) for r in results[:2]) == ["a", "b"]
        assert results[2].node is None
        assert results[2].message == (
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.")

    def test_existing_pods_anti_affinity(self) -> None:
        """A running pod's anti-affinity keeps matching newcomers out of its domain."""
        guard = pod("guard", node_name="a", spec=anti("web"), labels={"app": "guard"})
        newcomer = pod("w", labels={"app": "web"})
        placement = place(newcomer, [node("a"), node("b", cpu=100)], [guard])
        assert placement.node == "b"
        assert place(newcomer, [node("a")], [guard]).message == (
            "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules.")

    def test_existing_anti_affinity_reaches_a_pod_without_rules(self) -> None:
        """The cache's path: bound pods are passed for a newcomer with no rules of its own
        when a bound pod has anti-affinity, so the guard's rule still keeps it out."""
        guard = pod("guard", node_name="a", spec=anti("web"), labels={"app": "guard"})
        newcomer = pod("w", labels={"app": "web"})
        nodes = [node("a"), node("b", cpu=100)]
        infos = build_node_infos(nodes, [guard])
        bound = bound_pods_for(newcomer, lambda: [guard], any_bound_rules=True)
        assert bound == [guard]
        assert place_on(newcomer, infos, Inputs(bound=bound)).node == "b"
        assert bound_pods_for(newcomer, lambda: [guard], any_bound_rules=False) is None

    def test_affinity_follows_and_first_pod(self) -> None:
        """Required affinity joins the matching pod's host; the first of a group goes anywhere."""
        cache = pod("cache", node_name="b", labels={"app": "cache"})
        follower = pod("f", spec=with_affinity("cache"))
        assert place(follower, [node("a"), node("b", cpu=100)], [cache]).node == "b"
        alone = pod("c0", labels={"app": "cache"}, spec=with_affinity("cache"))
        assert place(alone, [node("a")], []).node == "a"
        stranger = pod("s", spec=with_affinity("cache"))
        assert place(stranger, [node("a")], []).message == (
            "0/1 nodes are available: 1 node(s) didn't match pod affinity rules.")

    def test_namespaces(self) -> None:
        """A term looks at the pod's own namespace unless it names others."""
        other = pod("o", node_name="a", labels={"app": "web"})
        other.namespace = "prod"
        p = pod("p", labels={"app": "web"}, spec=anti("web"))
        assert place(p, [node("a")], [other]).node == "a"
        named = anti("web")
        named["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"][0]["namespaces"] = ["prod"]
        assert place(pod("q", spec=named), [node("a")], [other]).node is None

    def test_preferred_anti_affinity_spreads(self) -> None:
        """Preferred anti-affinity steers away from the matching pod's host."""
        there = pod("x", node_name="a", labels={"app": "web"})
        p = pod("p", spec=anti("web", required=False), labels={"app": "web"})
        assert place(p, [node("a", cpu=100_000, memory=1 << 40), node("b")], [there]).node == "b"

    def test_zone_topology(self) -> None:
        """The domain is the topologyKey's value: two nodes of one zone count as one."""
        nodes = [node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z1"}),
                 node("c", labels={"zone": "z2"})]
        there = pod("x", node_name="a", labels={"app": "web"})
        p = pod("p", spec=anti("web", key="zone"), labels={"app": "web"})
        assert place(p, nodes, [there]).node == "c"


def spread(max_skew: int = 1, hard: bool = True, key: str = HOST,
           min_domains: int | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"maxSkew": max_skew, "topologyKey": key,
                         "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
                         "labelSelector": {"matchLabels": {"app": "web"}}}
    if min_domains:
        c["minDomains"] = min_domains
    return {"topologySpreadConstraints": [c]}


class TestTopologySpread:
    def test_six_over_two(self) -> None:
        """Six pods of maxSkew 1 over two hosts: three and three, even on an unequal pair."""
        nodes = [node("a", cpu=64_000, memory=1 << 40), node("b")]
        pods = [pod(f"w{i}", spec=spread(), labels={"app": "web"}) for i in range(6)]
        results = place_many(pods, nodes, [])
        assert sorted(str(r.node) for r in results) == ["a"] * 3 + ["b"] * 3

    def test_skew_blocks(self) -> None:
        """A node whose domain would exceed maxSkew is filtered with Kubernetes' reason."""
        placed = [pod("x", node_name="a", labels={"app": "web"})]
        p = pod("p", "1", spec=spread(), labels={"app": "web"})
        placement = place(p, [node("a"), node("b", cpu=10)], placed)
        assert placement.node is None
        assert placement.reasons["a"] == (
            "node(s) didn't match pod topology spread constraints",)

    def test_missing_label(self) -> None:
        """A node without the topology key cannot take the pod."""
        p = pod("p", spec=spread(key="zone"), labels={"app": "web"})
        assert place(p, [node("a")], []).message == (
            "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints "
            "(missing required label).")

    def test_min_domains(self) -> None:
        """Fewer domains than minDomains: the least count is taken as 0."""
        placed = [pod("x", node_name="a", labels={"app": "web"})]
        p = pod("p", spec=spread(min_domains=3), labels={"app": "web"})
        assert place(p, [node("a")], placed).node is None
        assert place(pod("q", spec=spread(), labels={"app": "web"}), [node("a")], placed).node \
            == "a"

    def test_schedule_anyway_scores(self) -> None:
        """ScheduleAnyway never filters; it prefers the emptier domain."""
        placed = [pod("x", node_name="a", labels={"app": "web"})]
        p = pod("p", spec=spread(hard=False), labels={"app": "web"})
        assert place(p, [node("a", cpu=64_000, memory=1 << 40), node("b")], placed).node == "b"
        assert place(p, [node("a")], placed).node == "a"
