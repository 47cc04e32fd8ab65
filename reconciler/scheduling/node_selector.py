"""Filter: spec.nodeSelector against the node's labels.

Runs after the readiness filters in `scheduler.py`. Mirrors the nodeSelector half
of kube-scheduler's NodeAffinity plugin (ErrReasonPod); spec.affinity is not
implemented (the validator warns about it), so only the selector map counts.
Node labels include `kubernetes.io/hostname`, `kubernetes.io/os` and `kubernetes.io/arch`
(and the beta aliases) as a kubelet sets them (control/nodes.py, from the engine).
"""

from __future__ import annotations

from reconciler.api.records import PodRecord
from reconciler.scheduling.nodeinfo import NodeInfo

REASON = "node(s) didn't match Pod's node affinity/selector"


def fits(pod: PodRecord, info: NodeInfo) -> list[str]:
    """Every nodeSelector pair must be a label of the node."""
    selector = pod.spec.get("nodeSelector") or {}
    for key, value in selector.items():
        if info.labels.get(key) != str(value):
            return [REASON]
    return []
