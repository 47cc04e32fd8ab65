"""place(pod, nodes, placed): filters, then scores, then one node, or Kubernetes' explanation.

Called by the pod lifecycle controller for each unscheduled pod (`place`), or for
a controller's burst of new pods (`place_many`, each placement counting against
the next). Mirrors kube-scheduler's schedulePod: findNodesThatFitPod runs the
filter plugins in the default profile's order and stops at a node's first failing
filter; prioritizeNodes sums the scores; the best node wins, ties broken by node
name (Kubernetes picks at random among ties; we stay deterministic). When nothing
fits, `message` is FitError.Error()'s text, e.g. "0/3 nodes are available:
1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector.".
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.scheduling import (
    host_ports,
    inter_pod_affinity,
    node_affinity,
    node_failures,
    node_name,
    node_ready,
    resources,
    taint_toleration,
    topology_spread,
    volume_binding,
)
from reconciler.scheduling.nodeinfo import NodeInfo, build_node_infos
from reconciler.scheduling.scores import total_scores

Filter = Callable[[PodRecord, NodeInfo], list[str]]

# The default profile's order: NodeUnschedulable, NodeName, TaintToleration,
# NodeAffinity, NodePorts, NodeResourcesFit; then VolumeBinding, which needs the
# pod's claims, and PodTopologySpread and InterPodAffinity, which need the bound
# pods, run by `_filter` with them. Before all: the nodes the pod failed on lately.
FILTERS: tuple[tuple[str, Filter], ...] = (
    ("NodeUnschedulable", node_ready.fits_schedulable),
    ("NodeName", node_name.fits),
    ("TaintToleration", taint_toleration.fits),
    ("NodeAffinity", node_affinity.fits),
    ("NodePorts", host_ports.fits),
    ("NodeResourcesFit", resources.fits),
)

# The default profile's score weights.
TAINT_WEIGHT = 3
NODE_AFFINITY_WEIGHT = 2
INTER_POD_WEIGHT = 2
TOPOLOGY_SPREAD_WEIGHT = 2

NO_NODES_MESSAGE = "no nodes available to schedule pods"


def needs_bound_pods(pod: PodRecord) -> bool:
    """Whether placing the pod reads the bound pods (inter-pod rules, spread constraints)."""
    return inter_pod_affinity.has_rules(pod.spec) or bool(
        pod.spec.get("topologySpreadConstraints"))


def bound_pods_for(pod: PodRecord, bound: Callable[[], Sequence[PodRecord]],
                   any_bound_rules: bool) -> Sequence[PodRecord] | None:
    """The bound pods a placement of `pod` must read (`bound()`), or None when none can
    change it: its own rules count them, or a bound pod with inter-pod terms
    (`any_bound_rules`, kept by the caller's index) may keep it out of a domain with its
    required anti-affinity (Kubernetes' symmetry, which holds for a pod with no rules)."""
    if needs_bound_pods(pod) or any_bound_rules:
        return bound()
    return None


@dataclass(frozen=True)
class Inputs:
    """What a placement reads besides the nodes: the pod's claims, the nodes it avoids
    (node_failures), and the bound pods when `needs_bound_pods` (else None)."""

    claims: volume_binding.Claims = field(default_factory=dict)
    avoid: Mapping[str, str] = field(default_factory=dict)
    bound: Sequence[PodRecord] | None = None


@dataclass(frozen=True)
class Placement:
    """The scheduler's answer for one pod: a node, or None with the reasons why not."""

    node: str | None
    message: str
    # Per rejected node, the reasons of the filter that rejected it (for `describe`).
    reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scores: Mapping[str, int] = field(default_factory=dict)

    @property
    def scheduled(self) -> bool:
        return self.node is not None


def fit_error(total_nodes: int, reasons: Mapping[str, Sequence[str]]) -> str:
    """FitError.Error(): a histogram of reasons over nodes, as sorted strings."""
    histogram: Counter[str] = Counter()
    for node_reasons in reasons.values():
        histogram.update(node_reasons)
    message = f"0/{total_nodes} nodes are available:"
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    if parts:
        message += f" {', '.join(parts)}."
    return message


def filter_node(
    pod: PodRecord, info: NodeInfo, claims: volume_binding.Claims | None = None
) -> list[str]:
    """The reasons the first failing per-node filter gives; empty when the node fits."""
    for _name, fits in FILTERS:
        reasons = fits(pod, info)
        if reasons:
            return reasons
    return volume_binding.fits(pod, info, claims or {})


@dataclass
class _Cycle:
    """One scheduling cycle's state (kube-scheduler's CycleState): what PreFilter counted."""

    spread: topology_spread.State
    inter_pod: inter_pod_affinity.State


def _prefilter(pod: PodRecord, infos: Mapping[str, NodeInfo], inputs: Inputs) -> _Cycle:
    bound = inputs.bound or ()
    return _Cycle(topology_spread.prepare(pod, infos, bound),
                  inter_pod_affinity.prepare(pod, infos, bound))


def _filter(pod: PodRecord, info: NodeInfo, inputs: Inputs, cycle: _Cycle) -> list[str]:
    reasons = node_failures.fits(pod, info, inputs.avoid) or filter_node(pod, info,
                                                                         inputs.claims)
    return (reasons or topology_spread.fits(cycle.spread, info)
            or inter_pod_affinity.fits(cycle.inter_pod, info))


def _score(pod: PodRecord, feasible: Sequence[NodeInfo], cycle: _Cycle) -> list[int]:
    parts = [
        total_scores(pod, feasible),
        [TAINT_WEIGHT * s for s in taint_toleration.scores(pod, feasible)],
        [NODE_AFFINITY_WEIGHT * s for s in node_affinity.scores(pod, feasible)],
        [INTER_POD_WEIGHT * s for s in inter_pod_affinity.scores(cycle.inter_pod, feasible)],
        [TOPOLOGY_SPREAD_WEIGHT * s for s in topology_spread.scores(cycle.spread, feasible)],
    ]
    return [sum(column) for column in zip(*parts, strict=True)]


def _place(pod: PodRecord, infos: Mapping[str, NodeInfo], inputs: Inputs) -> Placement:
    if not infos:
        return Placement(None, NO_NODES_MESSAGE)
    unresolvable = volume_binding.prefilter(pod, inputs.claims)
    if unresolvable:
        # FitError.Error() with a PreFilter message: no node was even tried.
        return Placement(None, f"0/{len(infos)} nodes are available: {unresolvable}.")
    cycle = _prefilter(pod, infos, inputs)
    rejected: dict[str, tuple[str, ...]] = {}
    feasible: list[NodeInfo] = []
    for name in sorted(infos):
        reasons = _filter(pod, infos[name], inputs, cycle)
        if reasons:
            rejected[name] = tuple(reasons)
        else:
            feasible.append(infos[name])
    if not feasible:
        return Placement(None, fit_error(len(infos), rejected), rejected)
    scores = _score(pod, feasible, cycle)
    # max() keeps the first of equal scores, and `feasible` is sorted by name.
    best = max(range(len(feasible)), key=lambda i: scores[i])
    chosen = feasible[best].node.name
    return Placement(
        chosen,
        f"Successfully assigned {pod.namespace}/{pod.name} to {chosen}",
        rejected,
        {info.node.name: s for info, s in zip(feasible, scores, strict=True)},
    )


def place(
    pod: PodRecord,
    nodes: Sequence[NodeRecord],
    placed: Sequence[PodRecord],
    claims: volume_binding.Claims | None = None,
    avoid: Mapping[str, str] | None = None,
) -> Placement:
    """Choose a node for `pod` given the pods already on the nodes, the pod's claims
    (by claim name; `volume_binding`) and the nodes it avoids; never mutates its inputs."""
    inputs = Inputs(claims or {}, avoid or {}, placed)
    return _place(pod, build_node_infos(nodes, placed), inputs)


def place_on(
    pod: PodRecord,
    infos: Mapping[str, NodeInfo],
    inputs: Inputs | None = None,
) -> Placement:
    """`place` given each node's NodeInfo already summed (the cache's per-node totals,
    `reconciler.control.usage`), instead of summing every placed pod; `inputs.bound`
    must hold the bound pods `bound_pods_for(pod, ...)` returns."""
    return _place(pod, infos, inputs or Inputs())


def place_many(
    pods: Sequence[PodRecord],
    nodes: Sequence[NodeRecord],
    placed: Sequence[PodRecord],
    claims: volume_binding.Claims | None = None,
) -> list[Placement]:
    """Place a batch in order; each placed pod uses resources and ports seen by the next.

    `claims` holds the claims of every pod of the batch (one namespace per name).
    """
    infos = build_node_infos(nodes, placed)
    bound = list(placed)
    results: list[Placement] = []
    for pod in pods:
        placement = _place(pod, infos, Inputs(claims or {}, {}, bound))
        if placement.node is not None:
            done = dataclasses.replace(pod, node_name=placement.node)
            infos[placement.node].add(done)
            bound.append(done)
        results.append(placement)
    return results
