"""Filter and score: the node's taints against the pod's tolerations.

The filter runs after NodeName in `scheduler.py`. Mirrors kube-scheduler's
TaintToleration plugin: a taint of effect NoSchedule or NoExecute the pod does
not tolerate keeps it off the node ("node(s) had untolerated taint {key: value}",
naming the first such taint); the score counts the PreferNoSchedule taints it
does not tolerate, fewer being better (normalized in reverse). The taints are the
Node manifest's spec.taints plus the ones Kubernetes' node lifecycle controller
would set (`reconciler.api.taints.node_taints`: not-ready; the unschedulable taint
is NodeUnschedulable's, `node_ready.py`, which runs first). Eviction by NoExecute
taints is the node controller's (`control/nodes.py`, `toleration_seconds`).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.api.records import PodRecord
from reconciler.api.taints import (
    UNSCHEDULABLE_TAINT,
    Taint,
    node_taints,
    tolerates,
    toleration_seconds,
)
from reconciler.api.types import JSON
from reconciler.scheduling.node_affinity import normalize
from reconciler.scheduling.node_ready import untolerated_taint_reason
from reconciler.scheduling.nodeinfo import NodeInfo

_FILTERED = ("NoSchedule", "NoExecute")


def fits(pod: PodRecord, info: NodeInfo) -> list[str]:
    """No NoSchedule or NoExecute taint of the node is left untolerated."""
    for taint in node_taints(info.node):
        if taint.key == UNSCHEDULABLE_TAINT or taint.effect not in _FILTERED:
            continue
        if not tolerates(pod.spec, taint.key, taint.value, taint.effect):
            return [untolerated_taint_reason(taint.key, taint.value)]
    return []


def intolerable_preferred(pod: PodRecord, info: NodeInfo) -> int:
    """countIntolerableTaintsPreferNoSchedule."""
    return sum(1 for t in node_taints(info.node)
               if t.effect == "PreferNoSchedule"
               and not tolerates(pod.spec, t.key, t.value, t.effect))


def scores(pod: PodRecord, infos: Sequence[NodeInfo]) -> list[int]:
    """Per node, 100 for the fewest untolerated PreferNoSchedule taints, 0 for the most."""
    return normalize([intolerable_preferred(pod, i) for i in infos], reverse=True)


def eviction_delay(spec: JSON, taints: Sequence[Taint]) -> float | None:
    """Seconds a pod may stay on a node with these taints before its eviction (the taint
    manager's getMinTolerationTime over NoExecute taints): 0 at once, None never."""
    delays = [toleration_seconds(spec, t) for t in taints if t.effect == "NoExecute"]
    finite = [d for d in delays if d is not None]
    return min(finite) if finite else None
