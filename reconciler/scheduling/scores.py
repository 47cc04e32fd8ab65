"""Scores: least allocated resources, and spread of one owner's pods across nodes.

Run by `scheduler.py` over the nodes that passed every filter; each score is 0-100
and the weighted sum picks the node. Mirrors kube-scheduler's NodeResourcesFit
LeastAllocated strategy (leastRequestedScore, integer arithmetic, cpu and memory
weighted 1 each, on non-zero requests) and SelectorSpread's NormalizeScore (a node
with fewer pods of the same owner scores higher), weighted 2 as PodTopologySpread is
in the default profile.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.api.records import PodRecord
from reconciler.scheduling.nodeinfo import NodeInfo, nonzero_requests

MAX_NODE_SCORE = 100
LEAST_ALLOCATED_WEIGHT = 1
SPREAD_WEIGHT = 2


def least_requested_score(requested: int, capacity: int) -> int:
    """(capacity - requested) * 100 / capacity, 0 when it does not fit."""
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def least_allocated(pod: PodRecord, info: NodeInfo) -> int:
    """The mean free share of cpu and memory on the node once the pod is placed."""
    cpu, memory = nonzero_requests(pod.spec)
    allocatable = info.node.allocatable
    total = weight = 0
    for requested, capacity in (
        (info.nonzero_cpu + cpu, allocatable.cpu_milli),
        (info.nonzero_memory + memory, allocatable.memory),
    ):
        if capacity == 0:
            continue
        total += least_requested_score(requested, capacity)
        weight += 1
    return total // weight if weight else 0


def spread(pod: PodRecord, infos: Sequence[NodeInfo]) -> list[int]:
    """Per node, 100 * (max - count) / max of the owner's pods; all 100 without an owner."""
    if pod.owner is None:
        return [MAX_NODE_SCORE] * len(infos)
    counts = [info.owners[pod.owner.uid] for info in infos]
    highest = max(counts, default=0)
    if highest == 0:
        return [MAX_NODE_SCORE] * len(infos)
    return [int(MAX_NODE_SCORE * ((highest - c) / highest)) for c in counts]


def total_scores(pod: PodRecord, infos: Sequence[NodeInfo]) -> list[int]:
    """The weighted sum of every score, per node, in the order of `infos`."""
    spreads = spread(pod, infos)
    return [
        LEAST_ALLOCATED_WEIGHT * least_allocated(pod, info) + SPREAD_WEIGHT * s
        for info, s in zip(infos, spreads, strict=True)
    ]
