"""The opt-in descheduler: a periodic pass that evicts pods so their owners' replicas spread.

One key (`descheduler`, "cluster"), enqueued by the resync when
`descheduler_interval` is set (0, the default, keeps it off). Each pass reads the
nodes, the pods and the PodDisruptionBudgets, asks the pure planner
(`scheduling.descheduler.plan_moves`) for at most `descheduler_moves` evictions,
(owners with fewer pods than their `spec.replicas` wait: a pod evicted and gone
before its owner made the replacement is still a replica unavailable),
and marks those pods for deletion with a `Descheduled` event: their owners
replace them, and the scheduler places the replacements where there is room
(the pod controller takes a deleted pod out of its services' endpoints before
stopping it). Then it comes back after the interval. See docs/scheduling.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.control.context import Context
from reconciler.control.loop import Result, WorkKey
from reconciler.scheduling.descheduler import plan_moves

log = logging.getLogger(__name__)

DESCHEDULER = "descheduler"
SOURCE = "descheduler"
KEY = "cluster"


def keys(ctx: Context, all_pods: bool) -> Iterable[Hashable]:
    """The resync's key: one pass, when the descheduler is on."""
    return [KEY] if ctx.settings.descheduler_interval > 0 else []


# Owners whose spec.replicas says how many pods they keep.
REPLICATED = ("ReplicationController", "ReplicaSet", "StatefulSet")


def short_owners(ctx: Context, pods: Sequence[PodRecord]) -> set[str]:
    """Uids of the pods' owners that have fewer live pods than their replicas."""
    live: Counter[str] = Counter()
    owners: dict[str, Key] = {}
    for p in pods:
        if p.owner is None or p.owner.kind not in REPLICATED:
            continue
        owners[p.owner.uid] = Key(p.owner.kind, p.namespace, p.owner.name)
        if p.deletion_timestamp is None:
            live[p.owner.uid] += 1
    short: set[str] = set()
    for uid, key in owners.items():
        obj = ctx.store.get_object(key)
        if obj is None or obj.uid != uid:
            continue
        if live[uid] < int((obj.body.get("spec") or {}).get("replicas", 1)):
            short.add(uid)
    return short


class DeschedulerController:
    """One pass per interval; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def reconcile(self, key: WorkKey) -> Result:
        ctx = self.ctx
        interval = ctx.settings.descheduler_interval
        if interval <= 0:
            return Result.done()
        cache = ctx.cache
        pods = cache.pods() if cache is not None and cache.synced else ctx.store.list_pods()
        budgets = [o.body for o in ctx.store.objects(kind="PodDisruptionBudget")]
        moves = plan_moves(ctx.store.list_nodes(), pods, budgets, ctx.settings.descheduler_moves,
                           short_owners(ctx, pods))
        by_uid = {p.uid: p for p in pods}
        for move in moves:
            pod = by_uid[move.uid]
            pod.deletion_timestamp = ctx.clock()
            pod.reason, pod.message = "Descheduled", move.message
            if ctx.store.patch_pod(pod, "deletion"):
                log.info("descheduler: %s/%s from %s: %s", pod.namespace, pod.name,
                         move.node, move.message)
                ctx.event("Pod", pod.namespace, pod.name, "Normal", "Descheduled",
                          move.message, SOURCE, uid=pod.uid, host=move.node)
                ctx.enqueue_pod(pod.uid)
        return Result.after(interval)
