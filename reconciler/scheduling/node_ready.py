"""Filter: the node is schedulable (not cordoned); the taint reasons' wording.

The first filter `scheduler.py` runs. Mirrors kube-scheduler's NodeUnschedulable
plugin: a cordoned node carries `node.kubernetes.io/unschedulable:NoSchedule`, and
a pod that tolerates the taint passes, as in Kubernetes. The not-ready taint of a
NotReady node and the Node manifest's taints are `taint_toleration.py`'s.
"""

from __future__ import annotations

from reconciler.api.records import PodRecord
from reconciler.api.taints import NOT_READY_TAINT, UNSCHEDULABLE_TAINT, tolerates
from reconciler.scheduling.nodeinfo import NodeInfo

REASON_UNSCHEDULABLE = "node(s) were unschedulable"


def untolerated_taint_reason(key: str, value: str = "") -> str:
    """TaintToleration's reason, naming the taint as `{key: value}`."""
    return f"node(s) had untolerated taint {{{key}: {value}}}"


REASON_NOT_READY = untolerated_taint_reason(NOT_READY_TAINT)


def fits_schedulable(pod: PodRecord, info: NodeInfo) -> list[str]:
    """NodeUnschedulable: a cordoned node takes only pods tolerating the unschedulable taint."""
    if info.node.unschedulable and not tolerates(pod.spec, UNSCHEDULABLE_TAINT, "", "NoSchedule"):
        return [REASON_UNSCHEDULABLE]
    return []
