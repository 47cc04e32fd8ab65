"""Filter: a pod whose spec.nodeName is set fits only that node.

Runs second in `scheduler.py`. Mirrors kube-scheduler's nodename plugin (Fits,
ErrReason). In Kubernetes such a pod bypasses the scheduler; here it still passes
through it so that a pinned pod on a missing node gets the same FailedScheduling
explanation as any other.
"""

from __future__ import annotations

from reconciler.api.records import PodRecord
from reconciler.scheduling.nodeinfo import NodeInfo

REASON = "node(s) didn't match the requested node name"


def fits(pod: PodRecord, info: NodeInfo) -> list[str]:
    """spec.nodeName, when set, must be this node."""
    wanted = pod.spec.get("nodeName") or ""
    if wanted and wanted != info.node.name:
        return [REASON]
    return []
