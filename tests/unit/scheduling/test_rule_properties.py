"""Property tests: no placement ever breaks a required rule (taints, node affinity,
anti-affinity both ways, topology spread), checked by an oracle written apart from the filters."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.taints import node_labels
from reconciler.scheduling import place_many

from .factories import node, pod

HOST = "kubernetes.io/hostname"
APPS = ("web", "db")


def nodes_strategy() -> st.SearchStrategy[list[NodeRecord]]:
    one = st.builds(
        lambda i, zone, taint, disk: node(
            f"n{i}", labels={"zone": zone, "disk": disk},
            taints=[{"key": "dedicated", "value": taint, "effect": "NoSchedule"}] if taint else []),
        st.integers(0, 5), st.sampled_from(["z1", "z2", "z3"]),
        st.sampled_from([None, None, "db"]), st.sampled_from(["ssd", "hdd"]))
    return st.lists(one, min_size=1, max_size=5, unique_by=lambda n: n.name)


def spec_strategy() -> st.SearchStrategy[dict[str, Any]]:
    def build(app: str, anti_key: str | None, skew: int | None, spread_key: str,
              tolerate: bool, disk: str | None) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        affinity: dict[str, Any] = {}
        if anti_key:
            affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": anti_key}]}
        if disk:
            affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "disk", "operator": "In", "values": [disk]}]}]}}
        if affinity:
            spec["affinity"] = affinity
        if skew:
            spec["topologySpreadConstraints"] = [{
                "maxSkew": skew, "topologyKey": spread_key, "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": app}}}]
        if tolerate:
            spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        spec["_app"] = app
        return spec
    return st.builds(build, st.sampled_from(APPS), st.sampled_from([None, HOST, "zone"]),
                     st.sampled_from([None, 1, 2]), st.sampled_from([HOST, "zone"]),
                     st.booleans(), st.sampled_from([None, "ssd"]))


def _anti_terms(p: PodRecord) -> list[dict[str, Any]]:
    block = (p.spec.get("affinity") or {}).get("podAntiAffinity") or {}
    return list(block.get("requiredDuringSchedulingIgnoredDuringExecution") or [])


def _selects(term: dict[str, Any], p: PodRecord) -> bool:
    return all(p.labels.get(k) == v for k, v in term["labelSelector"]["matchLabels"].items())


def check(p: PodRecord, at: NodeRecord, nodes: list[NodeRecord],
          bound: list[tuple[PodRecord, NodeRecord]]) -> None:
    """Every required rule of `p` (and of the pods before it) holds with `p` on `at`."""
    labels = node_labels(at)
    if at.taints:
        assert p.spec.get("tolerations"), "an untolerated NoSchedule taint"
    for term in (p.spec.get("affinity") or {}).get("nodeAffinity", {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", []):
        for e in term["matchExpressions"]:
            assert labels.get(e["key"]) in e["values"], "required node affinity broken"
    for other, where in bound:
        theirs = node_labels(where)
        for term in _anti_terms(p):
            key = term["topologyKey"]
            assert not (_selects(term, other) and theirs.get(key) == labels.get(key)), \
                "the pod's anti-affinity broken"
        for term in _anti_terms(other):
            key = term["topologyKey"]
            assert not (_selects(term, p) and theirs.get(key) == labels.get(key)), \
                "an existing pod's anti-affinity broken"
    for c in p.spec.get("topologySpreadConstraints") or []:
        key = c["topologyKey"]
        eligible = [n for n in nodes if _fits_affinity(p, n)]
        counts = Counter({node_labels(n)[key]: 0 for n in eligible})
        for other, where in bound:
            if _selects(c, other) and node_labels(where)[key] in counts:
                counts[node_labels(where)[key]] += 1
        assert counts[labels[key]] + 1 - min(counts.values()) <= c["maxSkew"], "skew broken"


def _fits_affinity(p: PodRecord, n: NodeRecord) -> bool:
    aff = (p.spec.get("affinity") or {}).get("nodeAffinity")
    if not aff:
        return True
    exprs = aff["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
        "matchExpressions"]
    return all(node_labels(n).get(e["key"]) in e["values"] for e in exprs)


class TestRequiredRulesHold:
    @settings(max_examples=300, deadline=None)
    @given(nodes_strategy(), st.lists(spec_strategy(), max_size=10))
    def test_no_placement_breaks_a_required_rule(self, nodes: list[NodeRecord],
                                                 specs: list[dict[str, Any]]) -> None:
        """Whatever the mix of rules, each placed pod satisfies them given the pods before it."""
        pods = []
        for i, spec in enumerate(specs):
            app = spec.pop("_app")
            pods.append(pod(f"p{i}", spec=spec, labels={"app": app}))
        by_name = {n.name: n for n in nodes}
        bound: list[tuple[PodRecord, NodeRecord]] = []
        for p, placement in zip(pods, place_many(pods, nodes, []), strict=True):
            if placement.node is None:
                assert placement.message.startswith(f"0/{len(nodes)} nodes are available")
                continue
            check(p, by_name[placement.node], nodes, bound)
            bound.append((p, by_name[placement.node]))
