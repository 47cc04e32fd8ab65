"""Filter: the node has room for one more pod and for the pod's cpu and memory requests.

Runs last among the filters in `scheduler.py`. Mirrors kube-scheduler's
NodeResourcesFit plugin (fitsRequest): a node holding its allocatable pod count
(`NodeRecord.allocatable_pods`: max-pods within the addresses of its pod network,
`capacity.py`) gives "Too many pods"; a request of a resource above the node's
allocatable minus what its placed pods request gives "Insufficient <resource>",
and every reason is reported when several are short. Requests default to limits
(reconciler.api.quantity.container_requests), as Kubernetes defaults them.
"""

from __future__ import annotations

from reconciler.api.quantity import pod_requests
from reconciler.api.records import PodRecord
from reconciler.scheduling.nodeinfo import NodeInfo

REASON_PODS = "Too many pods"
REASON_CPU = "Insufficient cpu"
REASON_MEMORY = "Insufficient memory"


def fits(pod: PodRecord, info: NodeInfo) -> list[str]:
    """Each requested resource fits in what the node has left."""
    cpu, memory = pod_requests(pod.spec)
    allocatable = info.node.allocatable
    reasons: list[str] = []
    if info.pods + 1 > info.node.allocatable_pods:
        reasons.append(REASON_PODS)
    if cpu > 0 and cpu > allocatable.cpu_milli - info.requested_cpu:
        reasons.append(REASON_CPU)
    if memory > 0 and memory > allocatable.memory - info.requested_memory:
        reasons.append(REASON_MEMORY)
    return reasons
