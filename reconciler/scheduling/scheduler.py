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
    node_name,
    node_ready,
    node_selector,
    resources,
    volume_binding,
)
from reconciler.scheduling.nodeinfo import NodeInfo, build_node_infos
from reconciler.scheduling.scores import total_scores

Filter = Callable[[PodRecord, NodeInfo], list[str]]

# The default profile's order: NodeUnschedulable, NodeName, TaintToleration,
# NodeAffinity, NodePorts, NodeResourcesFit; then VolumeBinding, which needs the
# pod's claims and so is run by `filter_node` with them.
FILTERS: tuple[tuple[str, Filter], ...] = (
    ("NodeUnschedulable", node_ready.fits_schedulable),
    ("NodeName", node_name.fits),
    ("TaintToleration", node_ready.fits_ready),
    ("NodeAffinity", node_selector.fits),
    ("NodePorts", host_ports.fits),
    ("NodeResourcesFit", resources.fits),
)

NO_NODES_MESSAGE = "no nodes available to schedule pods"


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
    """The reasons the first failing filter gives; empty when the node fits."""
    for _name, fits in FILTERS:
        reasons = fits(pod, info)
        if reasons:
            return reasons
    return volume_binding.fits(pod, info, claims or {})


def _place(
    pod: PodRecord, infos: Mapping[str, NodeInfo], claims: volume_binding.Claims
) -> Placement:
    if not infos:
        return Placement(None, NO_NODES_MESSAGE)
    unresolvable = volume_binding.prefilter(pod, claims)
    if unresolvable:
        # FitError.Error() with a PreFilter message: no node was even tried.
        return Placement(None, f"0/{len(infos)} nodes are available: {unresolvable}.")
    rejected: dict[str, tuple[str, ...]] = {}
    feasible: list[NodeInfo] = []
    for name in sorted(infos):
        reasons = filter_node(pod, infos[name], claims)
        if reasons:
            rejected[name] = tuple(reasons)
        else:
            feasible.append(infos[name])
    if not feasible:
        return Placement(None, fit_error(len(infos), rejected), rejected)
    scores = total_scores(pod, feasible)
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
) -> Placement:
    """Choose a node for `pod` given the pods already on the nodes and the pod's claims
    (by claim name; `volume_binding`); never mutates its inputs."""
    return _place(pod, build_node_infos(nodes, placed), claims or {})


def place_on(
    pod: PodRecord,
    infos: Mapping[str, NodeInfo],
    claims: volume_binding.Claims | None = None,
) -> Placement:
    """`place` given each node's NodeInfo already summed (the cache's per-node totals,
    `reconciler.control.usage`), instead of summing every placed pod."""
    return _place(pod, infos, claims or {})


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
    results: list[Placement] = []
    for pod in pods:
        placement = _place(pod, infos, claims or {})
        if placement.node is not None:
            infos[placement.node].add(dataclasses.replace(pod, node_name=placement.node))
        results.append(placement)
    return results
