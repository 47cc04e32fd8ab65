"""Filters: the node is schedulable (not cordoned) and Ready.

The first filters `scheduler.py` runs. Mirrors kube-scheduler's NodeUnschedulable
plugin and the part of TaintToleration that sees the taints the node lifecycle
controller puts on a node: `node.kubernetes.io/unschedulable:NoSchedule` for a
cordoned node and `node.kubernetes.io/not-ready:NoSchedule` for a NotReady one.
A pod that tolerates the taint passes, as in Kubernetes.
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


def fits_ready(pod: PodRecord, info: NodeInfo) -> list[str]:
    """TaintToleration on the not-ready taint: a NotReady node takes no new pods."""
    if not info.node.ready and not tolerates(pod.spec, NOT_READY_TAINT, "", "NoSchedule"):
        return [REASON_NOT_READY]
    return []
