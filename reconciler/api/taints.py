"""Node taints and pod tolerations: the well-known taint keys, toleration matching, node labels.

Shared by the scheduler's filters (`reconciler.scheduling.node_ready`,
`nodeinfo`), the DaemonSet planner (`reconciler.planning.daemonset_nodes`) and
the node controller's eviction, which must agree on what a pod tolerates.
Mirrors v1helper.TolerationsTolerateTaint and the taint keys of
k8s.io/api/core/v1 (well_known_taints.go).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.api.records import NodeRecord

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def tolerates(spec: Mapping[str, Any], key: str, value: str, effect: str) -> bool:
    """TolerationsTolerateTaint: does any of the pod's tolerations tolerate this taint."""
    for t in spec.get("tolerations") or []:
        t_effect = t.get("effect") or ""
        if t_effect and t_effect != effect:
            continue
        t_key = t.get("key") or ""
        if t_key and t_key != key:
            continue
        operator = t.get("operator") or "Equal"
        if operator == "Exists" or (operator == "Equal" and (t.get("value") or "") == value):
            return True
    return False


def node_labels(node: NodeRecord) -> dict[str, str]:
    """The node's labels plus the well-known ones a kubelet sets about itself.

    The heartbeat records os and arch from the engine (control/nodes.py); these
    defaults cover a node not yet heard from.
    """
    labels = {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
              "beta.kubernetes.io/os": "linux"}
    labels.update(node.labels)
    return labels
