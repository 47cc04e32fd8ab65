"""Filter and score: topologySpreadConstraints (maxSkew over domains of a node label).

Run by `scheduler.py` with the pods already bound (`prepare` once per pod, then
`fits` and `scores` per node). Mirrors kube-scheduler's PodTopologySpread plugin:
for each constraint, the pods of the pod's namespace its labelSelector selects
are counted per value of `topologyKey` over the eligible nodes (those with every
constraint's key that pass the pod's nodeSelector and required node affinity
under `nodeAffinityPolicy: Honor`, the default, and, under `nodeTaintsPolicy:
Honor`, whose taints it tolerates; `Ignore` is the taints default). A node whose
domain would then be more than `maxSkew` above the least-loaded domain fails a
`DoNotSchedule` constraint; with fewer domains than `minDomains` the least is
taken as 0. `ScheduleAnyway` constraints score: fewer matching pods in the
domain scores higher. Without constraints the owner spread of `scores.py`
stands in for Kubernetes' default constraints (ScheduleAnyway by hostname).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.api import selectors
from reconciler.api.node_affinity import required_affinity_matches
from reconciler.api.records import PodRecord
from reconciler.api.taints import node_taints, tolerates
from reconciler.scheduling.nodeinfo import NodeInfo, counts_against_node

REASON = "node(s) didn't match pod topology spread constraints"
REASON_MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
MAX_NODE_SCORE = 100


@dataclass(frozen=True)
class Constraint:
    """One topologySpreadConstraints entry, parsed."""

    max_skew: int
    topology_key: str
    hard: bool  # whenUnsatisfiable: DoNotSchedule
    selector: selectors.Selector
    min_domains: int = 1
    honor_affinity: bool = True
    honor_taints: bool = False


def constraints(spec: Mapping[str, Any]) -> list[Constraint]:
    """The pod's constraints (none: [])."""
    out = []
    for c in spec.get("topologySpreadConstraints") or []:
        out.append(Constraint(
            max(int(c.get("maxSkew") or 1), 1), str(c.get("topologyKey") or ""),
            (c.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule",
            selectors.from_label_selector(c.get("labelSelector")),
            max(int(c.get("minDomains") or 1), 1),
            (c.get("nodeAffinityPolicy") or "Honor") == "Honor",
            (c.get("nodeTaintsPolicy") or "Ignore") == "Honor"))
    return out


@dataclass
class State:
    """Per constraint, matching pods per domain value over the eligible nodes."""

    constraints: list[Constraint] = field(default_factory=list)
    counts: list[Counter[str]] = field(default_factory=list)
    self_match: list[int] = field(default_factory=list)


def _eligible(pod: PodRecord, c: Constraint, info: NodeInfo, keys: Sequence[str]) -> bool:
    if any(k not in info.labels for k in keys):
        return False
    if c.honor_affinity and not required_affinity_matches(pod.spec, info.labels, info.node.name):
        return False
    return not c.honor_taints or all(
        t.effect not in ("NoSchedule", "NoExecute") or tolerates(pod.spec, t.key, t.value, t.effect)
        for t in node_taints(info.node))


def prepare(pod: PodRecord, infos: Mapping[str, NodeInfo], bound: Sequence[PodRecord]) -> State:
    """Count the matching bound pods per domain, once per pod to place."""
    cs = constraints(pod.spec)
    state = State(cs, [Counter() for _ in cs], [int(c.selector.matches(pod.labels)) for c in cs])
    keys = [c.topology_key for c in cs]
    for c, counts in zip(cs, state.counts, strict=True):
        for candidate in infos.values():
            if _eligible(pod, c, candidate, keys):
                # Every eligible node's value is a domain, even with no pod in it yet.
                counts[candidate.labels[c.topology_key]] += 0
    for other in bound:
        info = infos.get(other.node_name)
        if info is None or not counts_against_node(other) or other.uid == pod.uid \
                or other.namespace != pod.namespace or other.deletion_timestamp is not None:
            continue
        for c, counts in zip(cs, state.counts, strict=True):
            value = info.labels.get(c.topology_key)
            if value is not None and value in counts and c.selector.matches(other.labels):
                counts[value] += 1
    return state


def _least(c: Constraint, counts: Counter[str]) -> int:
    if len(counts) < c.min_domains:
        return 0
    return min(counts.values(), default=0)


def fits(state: State, info: NodeInfo) -> list[str]:
    """Every DoNotSchedule constraint keeps its skew with the pod on this node."""
    for c, counts, own in zip(state.constraints, state.counts, state.self_match, strict=True):
        if not c.hard:
            continue
        value = info.labels.get(c.topology_key)
        if value is None:
            return [REASON_MISSING]
        if counts[value] + own - _least(c, counts) > c.max_skew:
            return [REASON]
    return []


def scores(state: State, infos: Sequence[NodeInfo]) -> list[int]:
    """ScheduleAnyway constraints: fewer matching pods in the node's domains scores higher."""
    soft = [(c, n) for c, n in zip(state.constraints, state.counts, strict=True) if not c.hard]
    if not soft:
        return [0] * len(infos)
    raw: list[float] = []
    for info in infos:
        total = 0.0
        for c, counts in soft:
            value = info.labels.get(c.topology_key)
            if value is not None:
                # topologyNormalizingWeight: keys with more domains weigh more.
                total += (counts[value] + c.max_skew - 1) * math.log(len(counts) + 2)
        raw.append(total)
    high, low = max(raw), min(raw)
    if high == 0:
        return [MAX_NODE_SCORE] * len(raw)
    return [int(MAX_NODE_SCORE * (high + low - r) / high) for r in raw]
