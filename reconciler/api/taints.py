"""Node taints and pod tolerations: the well-known taint keys, toleration matching, node labels.

Shared by the scheduler's filters (`reconciler.scheduling.node_ready`,
`nodeinfo`), the DaemonSet planner (`reconciler.planning.daemonset_nodes`) and
the node controller's eviction, which must agree on what a pod tolerates.
Mirrors v1helper.TolerationsTolerateTaint and the taint keys of
k8s.io/api/core/v1 (well_known_taints.go).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.api.records import NodeRecord

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


@dataclass(frozen=True)
class Taint:
    """A node taint: key, value and effect (NoSchedule, PreferNoSchedule or NoExecute)."""

    key: str
    effect: str
    value: str = ""


def node_taints(node: NodeRecord) -> list[Taint]:
    """The Node manifest's spec.taints, plus the taints Kubernetes would put on a node in
    this state (TaintNodesByCondition): cordoned, not Ready."""
    taints = [Taint(str(t.get("key", "")), str(t.get("effect", "")), str(t.get("value") or ""))
              for t in node.taints]
    if node.unschedulable:
        taints.append(Taint(UNSCHEDULABLE_TAINT, "NoSchedule"))
    if not node.ready:
        # Kubernetes taints a NotReady node both ways: no new pods, and evict the pods
        # that do not tolerate it (daemon pods do).
        taints.append(Taint(NOT_READY_TAINT, "NoSchedule"))
        taints.append(Taint(NOT_READY_TAINT, "NoExecute"))
    return taints


def toleration_seconds(spec: Mapping[str, Any], taint: Taint) -> float | None:
    """How long the pod stays on a node with this NoExecute taint: None for ever (a
    toleration without tolerationSeconds), 0 when nothing tolerates it, else the least
    tolerationSeconds of the tolerations that match (getMinTolerationTime)."""
    least: float | None = None
    matched = False
    for t in spec.get("tolerations") or []:
        if not _matches(t, taint.key, taint.value, taint.effect):
            continue
        matched = True
        seconds = t.get("tolerationSeconds")
        if seconds is None:
            continue
        least = float(max(int(seconds), 0)) if least is None else min(least, max(int(seconds), 0))
    if not matched:
        return 0.0
    return least


def tolerates(spec: Mapping[str, Any], key: str, value: str, effect: str) -> bool:
    """TolerationsTolerateTaint: does any of the pod's tolerations tolerate this taint."""
    return any(_matches(t, key, value, effect) for t in spec.get("tolerations") or [])


def _matches(t: Mapping[str, Any], key: str, value: str, effect: str) -> bool:
    """Toleration.ToleratesTaint: an empty effect or key (with Exists) matches every one."""
    t_effect = t.get("effect") or ""
    if t_effect and t_effect != effect:
        return False
    t_key = t.get("key") or ""
    if t_key and t_key != key:
        return False
    operator = t.get("operator") or "Equal"
    return bool(operator == "Exists" or (operator == "Equal" and (t.get("value") or "") == value))


def node_labels(node: NodeRecord) -> dict[str, str]:
    """The node's labels plus the well-known ones a kubelet sets about itself.

    The heartbeat records os and arch from the engine (control/nodes.py); these
    defaults cover a node not yet heard from.
    """
    labels = {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
              "beta.kubernetes.io/os": "linux"}
    labels.update(node.labels)
    return labels


def taint_text(taint: Taint) -> str:
    """kubectl's rendering: `key=value:effect`, or `key:effect` without a value."""
    value = f"={taint.value}" if taint.value else ""
    return f"{taint.key}{value}:{taint.effect}"
