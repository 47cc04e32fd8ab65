"""The DaemonSet RollingUpdate: which old pods to delete and which nodes get a new pod now.

Called by `daemonset.plan_daemonset` once a sync has nothing else to create or
delete (as Kubernetes runs it only with satisfied expectations). Mirrors
pkg/controller/daemon/update.go rollingUpdate(): without surge, delete old pods
while fewer than maxUnavailable nodes are unavailable (the next sync's
manage step creates their replacements, so a node never runs two); with
maxSurge, create the new pod beside an available old one on at most maxSurge
nodes at a time and delete the old one once the new one is available.
Nodes are walked in name order, where Kubernetes walks a map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.planning.daemonset_nodes import should_run
from reconciler.planning.daemonset_spec import DaemonSetSpec, fenceposts, new_and_old
from reconciler.planning.replicas import is_available


def _without_surge(ds: DaemonSetSpec, node_pods: Mapping[str, Sequence[PodRecord]],
                   max_unavailable: int, now: datetime) -> list[PodRecord]:
    unavailable = 0
    replace: list[PodRecord] = []  # old and unavailable: replaced at once
    candidates: list[PodRecord] = []
    for name in sorted(node_pods):
        new, old, ok = new_and_old(ds, node_pods[name])
        if not ok or (new is None) == (old is None):
            # Two of a kind, or none yet (a pod being deleted): manage's business, and
            # this node counts as unavailable meanwhile.
            unavailable += 1
        elif new is not None:
            if not is_available(new, ds.min_ready_seconds, now):
                unavailable += 1
        elif old is not None:
            if not is_available(old, ds.min_ready_seconds, now):
                replace.append(old)
            elif unavailable < max_unavailable:
                candidates.append(old)
    room = min(max(max_unavailable - unavailable, 0), len(candidates))
    return replace + candidates[:room]


def _with_surge(ds: DaemonSetSpec, node_pods: Mapping[str, Sequence[PodRecord]],
                nodes: Mapping[str, NodeRecord], max_surge: int, desired: int,
                now: datetime) -> tuple[list[PodRecord], list[str]]:
    delete: list[PodRecord] = []
    unwanted: list[PodRecord] = []  # old pods on nodes that no longer want one
    allowed: list[str] = []  # old pod unavailable: a new one at once
    candidates: list[str] = []
    surge = 0
    available = 0
    for name in sorted(node_pods):
        new, old, ok = new_and_old(ds, node_pods[name])
        if not ok:
            surge += 1
            continue
        current = old if old is not None else new
        if current is not None and is_available(current, ds.min_ready_seconds, now):
            available += 1
        node = nodes.get(name)
        wanted = node is not None and should_run(node, ds.pod_spec)[0]
        if old is None:
            continue
        if new is None:
            if not is_available(old, ds.min_ready_seconds, now):
                if not wanted:
                    delete.append(old)
                else:
                    allowed.append(name)
            elif not wanted:
                unwanted.append(old)
            elif surge < max_surge:
                candidates.append(name)
        elif not is_available(new, ds.min_ready_seconds, now):
            surge += 1
        else:
            delete.append(old)
    # With surge the owner expects full availability: an unwanted node's pod goes only
    # while more pods are available than nodes want one.
    deletable = min(max(available - desired, 0), len(unwanted))
    delete.extend(unwanted[:deletable])
    room = min(max(max_surge - surge, 0), len(candidates))
    return delete, allowed + candidates[:room]


def rolling_update(ds: DaemonSetSpec, node_pods: Mapping[str, Sequence[PodRecord]],
                   nodes: Mapping[str, NodeRecord], desired: int,
                   now: datetime) -> tuple[list[PodRecord], list[str]]:
    """(old pods to delete, nodes to create a new pod on) for one sync."""
    max_surge, max_unavailable = fenceposts(ds, desired)
    if max_surge == 0:
        return _without_surge(ds, node_pods, max_unavailable, now), []
    return _with_surge(ds, node_pods, nodes, max_surge, desired, now)
