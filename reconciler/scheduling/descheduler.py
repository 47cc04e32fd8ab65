"""The descheduler's plan: which running pods to evict so their owners' replicas spread again.

Pure, like the rest of the scheduler; run by the opt-in periodic pass of
control/descheduler.py (docs/scheduling.md). When a host comes back or a new one
registers, nothing moves by itself (Kubernetes and Swarm share the gap; the
kubernetes-sigs descheduler fills it with RemoveDuplicates and
RemovePodsViolatingTopologySpreadConstraint). `plan_moves` looks at each owner's
running pods per schedulable node and proposes evicting one from the node with
the most when another node has at least two fewer and the scheduler itself
(`place`, with the pod as if new and every other pod where it is) would put it
on a node with fewer: an eviction is then a move, not a reshuffle. At most
`max_moves` per pass; never a pod whose owner has a pod not Ready or being deleted,
or fewer pods than its replicas (`short`: an evicted pod gone before its replacement
was made; one of an owner's pods unavailable at a time), nor one a PodDisruptionBudget
holds back, nor a DaemonSet's, a pinned (spec.nodeName) or a claim-bound pod.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.scheduling.disruption import blocking
from reconciler.scheduling.scheduler import place
from reconciler.scheduling.volume_binding import claim_names


@dataclass(frozen=True)
class Move:
    """One eviction of the plan, with the event text saying why."""

    uid: str
    namespace: str
    name: str
    node: str
    message: str


def _movable(pod: PodRecord) -> bool:
    return (pod.owner is not None and pod.owner.kind != "DaemonSet" and pod.phase == "Running"
            and pod.ready and pod.deletion_timestamp is None and bool(pod.node_name)
            and not pod.spec.get("nodeName") and not claim_names(pod.spec))


def plan_moves(nodes: Sequence[NodeRecord], pods: Sequence[PodRecord],
               budgets: Sequence[Mapping[str, Any]], max_moves: int,
               short: Collection[str] = ()) -> list[Move]:
    """The evictions of one pass, at most `max_moves`, by owner in uid order; owners in
    `short` (uids of owners with fewer pods than their replicas) are left alone."""
    usable = [n for n in nodes if n.ready and not n.unschedulable]
    names = {n.name for n in usable}
    live = [p for p in pods if p.deletion_timestamp is None]
    by_owner: dict[str, list[PodRecord]] = defaultdict(list)
    # Owners with a pod being deleted or not Ready yet, or one still to be made.
    settling: set[str] = set(short)
    for p in pods:
        if p.owner is None:
            continue
        if p.deletion_timestamp is None:
            by_owner[p.owner.uid].append(p)
        if p.deletion_timestamp is not None or not p.ready:
            settling.add(p.owner.uid)
    moves: list[Move] = []
    gone: set[str] = set()
    for owner_uid in sorted(by_owner):
        if len(moves) >= max_moves:
            break
        mine = by_owner[owner_uid]
        if owner_uid in settling:
            continue  # one unavailable at a time: the last move must be gone and Ready
        counts = Counter({n: 0 for n in names})
        counts.update(p.node_name for p in mine if p.node_name in names)
        if len(counts) < 2 or max(counts.values()) - min(counts.values()) < 2:
            continue
        fullest = max(sorted(counts), key=lambda n: counts[n])
        for pod in sorted((p for p in mine if p.node_name == fullest), key=lambda p: p.name):
            if not _movable(pod) or blocking(pod, budgets, [p for p in live if p.uid not in gone]):
                continue
            others = [p for p in live if p.uid != pod.uid and p.uid not in gone]
            fresh = dataclasses.replace(pod, node_name="")
            target = place(fresh, usable, others).node
            if target is None or target == fullest or counts[target] > counts[fullest] - 2:
                continue
            kind = pod.owner.kind if pod.owner is not None else ""
            moves.append(Move(pod.uid, pod.namespace, pod.name, fullest,
                              f"Evicted by the descheduler to spread the {kind}'s replicas: "
                              f"{counts[fullest]} on {fullest}, {counts[target]} on {target}"))
            gone.add(pod.uid)
            break  # one per owner per pass
    return moves
