"""A DaemonSet as its planner sees it: the parsed spec, the revision hash, a pod's node.

The model half of the pure DaemonSet planner: `daemonset.plan_daemonset` and
`daemonset_update.rolling_update` decide with these; the DaemonSet controller
(`reconciler.control.daemonsets`) parses bodies with `ds_from_body`. Mirrors
pkg/controller/daemon/util (CreatePodTemplate, IsPodUpdated, GetTargetNodeName,
AllowsSurge, SurgeCount and UnavailableCount). Difference: a pod is "updated"
by its `controller-revision-hash` label alone (there are no ControllerRevision
objects; the hash is `deployment.pod_template_hash` of the template).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.api.records import OwnerRef, PodRecord
from reconciler.api.selectors import Selector, from_label_selector
from reconciler.api.types import JSON
from reconciler.planning.daemonset_nodes import with_daemon_tolerations
from reconciler.planning.deployment import pod_template_hash, scaled_value

HASH_LABEL = "controller-revision-hash"  # apps.ControllerRevisionHashLabelKey
KIND = "DaemonSet"


@dataclass(frozen=True)
class DaemonSetSpec:
    """The parts of a DaemonSet the planner needs, from its defaulted body."""

    namespace: str
    name: str
    uid: str
    selector: Selector
    template: JSON
    generation: int = 1
    min_ready_seconds: int = 0
    strategy: str = "RollingUpdate"
    max_surge: int | str = 0
    max_unavailable: int | str = 1
    api_version: str = "apps/v1"
    hash: str = ""
    pod_spec: JSON = field(default_factory=dict)  # the template's, with daemon tolerations

    @property
    def owner_ref(self) -> OwnerRef:
        return OwnerRef(KIND, self.name, self.uid, self.api_version, controller=True)

    @property
    def pod_labels(self) -> dict[str, str]:
        labels = dict((self.template.get("metadata") or {}).get("labels") or {})
        labels[HASH_LABEL] = self.hash
        return labels

    @property
    def pod_annotations(self) -> dict[str, str]:
        return dict((self.template.get("metadata") or {}).get("annotations") or {})

    def spec_for(self, node: str) -> JSON:
        """The pod spec for one node: bound to it by spec.nodeName (the scheduler still
        checks that it fits there: resources, host ports, readiness)."""
        spec = dict(self.pod_spec)
        spec["nodeName"] = node
        return spec


def _int_or_percent(value: Any, default: int) -> int | str:
    if value is None:
        return default
    return value if isinstance(value, int) else str(value)


def ds_from_body(body: JSON, uid: str, generation: int | None = None) -> DaemonSetSpec:
    """A DaemonSetSpec from a defaulted DaemonSet body; `generation` from the store wins."""
    meta: dict[str, Any] = body.get("metadata") or {}
    spec: dict[str, Any] = body.get("spec") or {}
    template: JSON = spec.get("template") or {}
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    return DaemonSetSpec(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name", "")),
        uid=uid,
        selector=from_label_selector(spec.get("selector")),
        template=template,
        generation=generation or int(meta.get("generation") or 1),
        min_ready_seconds=int(spec.get("minReadySeconds") or 0),
        strategy=str(strategy.get("type") or "RollingUpdate"),
        max_surge=_int_or_percent(rolling.get("maxSurge"), 0),
        max_unavailable=_int_or_percent(rolling.get("maxUnavailable"), 1),
        api_version=str(body.get("apiVersion", "apps/v1")),
        hash=pod_template_hash(template),
        pod_spec=with_daemon_tolerations(dict(template.get("spec") or {})),
    )


def target_node(pod: PodRecord) -> str:
    """util.GetTargetNodeName: where the pod is bound, or the node its spec names."""
    return pod.node_name or str(pod.spec.get("nodeName") or "")


def pod_order(pod: PodRecord) -> tuple[bool, datetime, str]:
    # podByCreationTimestampAndPhase: bound pods first, then the oldest, then by name.
    return (not pod.node_name, pod.created_at, pod.name)


def updated(ds: DaemonSetSpec, pod: PodRecord) -> bool:
    """util.IsPodUpdated: the pod carries the template's current hash."""
    return pod.labels.get(HASH_LABEL) == ds.hash


def surging(ds: DaemonSetSpec) -> bool:
    """util.AllowsSurge: a RollingUpdate whose maxSurge is not zero."""
    return ds.strategy == "RollingUpdate" and str(ds.max_surge) not in ("0", "0%")


def new_and_old(ds: DaemonSetSpec, pods: Sequence[PodRecord]) -> tuple[
        PodRecord | None, PodRecord | None, bool]:
    """findUpdatedPodsOnNode: (new pod, old pod, ok); not ok when two of a kind are live."""
    new: PodRecord | None = None
    old: PodRecord | None = None
    for pod in pods:
        if pod.deletion_timestamp is not None:
            continue
        if updated(ds, pod):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def fenceposts(ds: DaemonSetSpec, desired: int) -> tuple[int, int]:
    """updatedDesiredNodeCounts: (maxSurge, maxUnavailable), percentages rounded up;
    never both zero while a node wants a pod."""
    surge = scaled_value(ds.max_surge, desired, True) if ds.strategy == "RollingUpdate" else 0
    unavailable = scaled_value(ds.max_unavailable, desired, True)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable
