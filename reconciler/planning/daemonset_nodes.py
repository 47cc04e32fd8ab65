"""Which nodes a DaemonSet's pod belongs on: node selector, required node affinity, taints.

The node half of the pure DaemonSet planner (`reconciler.planning.daemonset`),
which asks `should_run` for every registered node. Mirrors Kubernetes'
pkg/controller/daemon: NodeShouldRunDaemonPod and predicates() (node name, the
required node affinity with the nodeSelector, taints of effect NoSchedule and
NoExecute), and util.AddOrUpdateDaemonPodTolerations (the tolerations every
daemon pod carries). Nodes here have no taint list of their own: the taints are
the ones Kubernetes' node lifecycle controller would put on the node, read off
its record (cordoned: unschedulable; not Ready: not-ready), the same two the
scheduler's `node_ready` filter knows (`reconciler.api.taints`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.api.records import NodeRecord
from reconciler.api.taints import NOT_READY_TAINT, UNSCHEDULABLE_TAINT, node_labels, tolerates
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


@dataclass(frozen=True)
class Taint:
    """A node taint: key, value and effect (NoSchedule or NoExecute)."""

    key: str
    effect: str
    value: str = ""


def node_taints(node: NodeRecord) -> list[Taint]:
    """The taints Kubernetes would put on a node in this state (TaintNodesByCondition)."""
    taints: list[Taint] = []
    if node.unschedulable:
        taints.append(Taint(UNSCHEDULABLE_TAINT, "NoSchedule"))
    if not node.ready:
        # Kubernetes taints a NotReady node both ways: no new pods, and evict the pods
        # that do not tolerate it (daemon pods do, by the tolerations above).
        taints.append(Taint(NOT_READY_TAINT, "NoSchedule"))
        taints.append(Taint(NOT_READY_TAINT, "NoExecute"))
    return taints


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


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One NodeSelectorRequirement (In, NotIn, Exists, DoesNotExist, Gt, Lt)."""
    key = str(expr.get("key", ""))
    op = str(expr.get("operator", ""))
    values = [str(v) for v in expr.get("values") or []]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False  # an unknown operator matches nothing, as a parse error does


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """A NodeSelectorTerm: its expressions and fields all hold; an empty term matches none."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if not all(_expression_matches(e, labels) for e in exprs):
        return False
    # metadata.name is the one field a node selector term may name.
    return all(f.get("key") == "metadata.name"
               and _expression_matches({**f, "key": "name"}, {"name": name})
               for f in fields)


def required_affinity_matches(spec: JSON, labels: Mapping[str, str], name: str) -> bool:
    """nodeaffinity.GetRequiredNodeAffinity(pod).Match: the nodeSelector map and the
    requiredDuringSchedulingIgnoredDuringExecution terms (any one term) both hold."""
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != str(value):
            return False
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    terms: Sequence[Mapping[str, Any]] = required.get("nodeSelectorTerms") or []
    return any(_term_matches(t, labels, name) for t in terms)


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
