"""Filter and score: podAffinity and podAntiAffinity over topology domains of node labels.

Run by `scheduler.py` after the per-node filters, with the pods already bound
(`prepare` once per pod, then `fits` and `scores` per node). Mirrors
kube-scheduler's InterPodAffinity plugin: a term selects pods by labelSelector
in its namespaces (the pod's own when none are named; an empty
namespaceSelector: every namespace) and groups nodes by the value of their
`topologyKey` label. Required affinity: some matching pod runs in the node's
domain (or no pod anywhere matches and the pod matches its own term: the first
of a group); required anti-affinity: no matching pod runs there; and an existing
pod's required anti-affinity keeps the pod out of that pod's domain (symmetry).
Preferred terms add or take their weight per matching pod in the domain; the sum
is normalized to 0-100 (min to max). Reasons are Kubernetes' words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.api import selectors
from reconciler.api.records import PodRecord
from reconciler.scheduling.nodeinfo import NodeInfo, counts_against_node

REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
MAX_NODE_SCORE = 100

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"

Domain = tuple[str, str]  # (topologyKey, value)


@dataclass(frozen=True)
class Term:
    """A PodAffinityTerm, parsed: which pods it selects, and the node label that groups."""

    selector: selectors.Selector
    namespaces: frozenset[str] | None  # None: every namespace
    topology_key: str
    weight: int = 0

    def selects(self, pod: PodRecord) -> bool:
        in_ns = self.namespaces is None or pod.namespace in self.namespaces
        return in_ns and self.selector.matches(pod.labels)


def _term(raw: Mapping[str, Any], namespace: str, weight: int = 0) -> Term:
    names = raw.get("namespaces") or []
    ns_selector = raw.get("namespaceSelector")
    namespaces: frozenset[str] | None = frozenset(names) | (
        frozenset() if names else frozenset({namespace}))
    if ns_selector is not None and not ns_selector.get("matchLabels") \
            and not ns_selector.get("matchExpressions"):
        namespaces = None  # {}: every namespace
    return Term(selectors.from_label_selector(raw.get("labelSelector")), namespaces,
                str(raw.get("topologyKey") or ""), weight)


def terms(spec: Mapping[str, Any], namespace: str, kind: str, which: str) -> list[Term]:
    """The pod's `kind` (podAffinity/podAntiAffinity) terms, required or preferred."""
    block = (spec.get("affinity") or {}).get(kind) or {}
    if which == REQUIRED:
        return [_term(t, namespace) for t in block.get(REQUIRED) or []]
    return [_term(t.get("podAffinityTerm") or {}, namespace, int(t.get("weight") or 0))
            for t in block.get(PREFERRED) or []]


def has_rules(spec: Mapping[str, Any]) -> bool:
    """Whether the pod names any inter-pod term (then the bound pods must be passed)."""
    affinity = spec.get("affinity") or {}
    return bool(affinity.get("podAffinity") or affinity.get("podAntiAffinity"))


@dataclass
class State:
    """PreFilter's counts: matching pods per topology domain, for each kind of term."""

    affinity: list[Term] = field(default_factory=list)
    anti: list[Term] = field(default_factory=list)
    affinity_counts: list[Counter[str]] = field(default_factory=list)  # per term: value -> n
    anti_counts: list[Counter[str]] = field(default_factory=list)
    existing_anti: set[Domain] = field(default_factory=set)  # domains the pod must avoid
    no_match_anywhere: bool = False
    preferred: Counter[Domain] = field(default_factory=Counter)  # domain -> weight sum


def prepare(pod: PodRecord, infos: Mapping[str, NodeInfo], bound: Sequence[PodRecord]) -> State:
    """Count, once per pod to place, the bound pods each term selects, by topology value."""
    ns = pod.namespace
    state = State(terms(pod.spec, ns, "podAffinity", REQUIRED),
                  terms(pod.spec, ns, "podAntiAffinity", REQUIRED))
    state.affinity_counts = [Counter() for _ in state.affinity]
    state.anti_counts = [Counter() for _ in state.anti]
    pref_aff = terms(pod.spec, ns, "podAffinity", PREFERRED)
    pref_anti = terms(pod.spec, ns, "podAntiAffinity", PREFERRED)
    for other in bound:
        info = infos.get(other.node_name)
        if info is None or not counts_against_node(other) or other.uid == pod.uid:
            continue
        labels = info.labels
        for term, counts in zip(state.affinity, state.affinity_counts, strict=True):
            if term.selects(other) and term.topology_key in labels:
                counts[labels[term.topology_key]] += 1
        for term, counts in zip(state.anti, state.anti_counts, strict=True):
            if term.selects(other) and term.topology_key in labels:
                counts[labels[term.topology_key]] += 1
        for term, sign in [(t, 1) for t in pref_aff] + [(t, -1) for t in pref_anti]:
            if term.selects(other) and term.topology_key in labels:
                state.preferred[(term.topology_key, labels[term.topology_key])] += \
                    sign * term.weight
        if other.spec.get("affinity"):
            for term in terms(other.spec, other.namespace, "podAntiAffinity", REQUIRED):
                if term.selects(pod) and term.topology_key in labels:
                    state.existing_anti.add((term.topology_key, labels[term.topology_key]))
    # The first pod of a group that asks for itself: no pod matches any term anywhere.
    state.no_match_anywhere = bool(state.affinity) and not any(
        sum(c.values()) for c in state.affinity_counts) and all(
        t.selects(pod) for t in state.affinity)
    return state


def fits(state: State, info: NodeInfo) -> list[str]:
    """The pod's affinity, then its anti-affinity, then existing pods' anti-affinity (the
    order of the plugin's Filter, which names the first rule a node breaks)."""
    labels = info.labels
    if not state.no_match_anywhere:
        for term, counts in zip(state.affinity, state.affinity_counts, strict=True):
            value = labels.get(term.topology_key)
            if value is None or not counts[value]:
                return [REASON_AFFINITY]
    elif any(t.topology_key not in labels for t in state.affinity):
        return [REASON_AFFINITY]
    for term, counts in zip(state.anti, state.anti_counts, strict=True):
        value = labels.get(term.topology_key)
        if value is not None and counts[value]:
            return [REASON_ANTI_AFFINITY]
    if any(labels.get(key) == value for key, value in state.existing_anti):
        return [REASON_EXISTING_ANTI]
    return []


def scores(state: State, infos: Sequence[NodeInfo]) -> list[int]:
    """Per node, the preferred terms' weight in its domains, scaled min..max to 0..100."""
    raw = [sum(w for (key, value), w in state.preferred.items() if i.labels.get(key) == value)
           for i in infos]
    low, high = min(raw, default=0), max(raw, default=0)
    if high == low:
        return [0] * len(raw)
    return [MAX_NODE_SCORE * (r - low) // (high - low) for r in raw]
