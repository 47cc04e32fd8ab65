"""Which nodes a DaemonSet's pod belongs on: node selector, required node affinity, taints.

The node half of the pure DaemonSet planner (`reconciler.planning.daemonset`),
which asks `should_run` for every registered node. Mirrors Kubernetes'
pkg/controller/daemon: NodeShouldRunDaemonPod and predicates() (node name, the
required node affinity with the nodeSelector, taints of effect NoSchedule and
NoExecute), and util.AddOrUpdateDaemonPodTolerations (the tolerations every
daemon pod carries). The taints are the Node manifest's own plus the ones
Kubernetes' node lifecycle controller would put on the node, read off its record
(cordoned: unschedulable; not Ready: not-ready), as the scheduler sees them
(`reconciler.api.taints.node_taints`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from reconciler.api.node_affinity import required_affinity_matches
from reconciler.api.records import NodeRecord
from reconciler.api.taints import (
    NOT_READY_TAINT,
    UNSCHEDULABLE_TAINT,
    Taint,
    node_labels,
    node_taints,
    tolerates,
)
from reconciler.api.types import JSON

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DISK_PRESSURE_TAINT = "node.kubernetes.io/disk-pressure"
MEMORY_PRESSURE_TAINT = "node.kubernetes.io/memory-pressure"
PID_PRESSURE_TAINT = "node.kubernetes.io/pid-pressure"
NETWORK_UNAVAILABLE_TAINT = "node.kubernetes.io/network-unavailable"

# AddOrUpdateDaemonPodTolerations: (key, effect), operator Exists, no tolerationSeconds,
# so a daemon pod stays on a NotReady or unreachable node and ignores node pressure.
DAEMON_TOLERATIONS: tuple[tuple[str, str], ...] = (
    (NOT_READY_TAINT, "NoExecute"),
    (UNREACHABLE_TAINT, "NoExecute"),
    (DISK_PRESSURE_TAINT, "NoSchedule"),
    (MEMORY_PRESSURE_TAINT, "NoSchedule"),
    (PID_PRESSURE_TAINT, "NoSchedule"),
    (UNSCHEDULABLE_TAINT, "NoSchedule"),
)


def with_daemon_tolerations(spec: JSON) -> JSON:
    """A copy of a pod spec with the daemon tolerations added (util.CreatePodTemplate)."""
    out = copy.deepcopy(spec)
    tolerations: list[dict[str, Any]] = list(out.get("tolerations") or [])
    keys = {(t.get("key"), t.get("effect")) for t in tolerations}
    wanted = list(DAEMON_TOLERATIONS)
    if out.get("hostNetwork"):
        wanted.append((NETWORK_UNAVAILABLE_TAINT, "NoSchedule"))
    for key, effect in wanted:
        if (key, effect) not in keys:
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    out["tolerations"] = tolerations
    return out


def _untolerated(spec: JSON, taints: Sequence[Taint], effects: tuple[str, ...]) -> bool:
    return any(t.effect in effects and not tolerates(spec, t.key, t.value, t.effect)
               for t in taints)


def should_run(node: NodeRecord, spec: JSON) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (should run a new pod, should keep a running one).

    `spec` is the pod spec as created, with the daemon tolerations.
    """
    wanted_name = spec.get("nodeName") or ""
    if wanted_name and wanted_name != node.name:
        return False, False
    if not required_affinity_matches(spec, node_labels(node), node.name):
        return False, False
    taints = node_taints(node)
    if _untolerated(spec, taints, ("NoSchedule", "NoExecute")):
        # A running daemon pod stays unless a NoExecute taint would evict it.
        return False, not _untolerated(spec, taints, ("NoExecute",))
    return True, True
