"""Plain data shared by every layer: object keys, source positions, diagnostics, desired objects.

Sits at the bottom of the flow: the manifest loader produces `DesiredObject`s and
`Diagnostic`s, the planner and controllers consume them, the store persists them.
Nothing here does I/O.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]

# Kinds without a namespace; their Key.namespace is "".
CLUSTER_SCOPED_KINDS = frozenset({"Node", "Namespace", "StorageClass", "ClusterRole",
                                  "ClusterRoleBinding"})

# Short names the CLI accepts, as kubectl does.
KIND_ALIASES: dict[str, str] = {
    "po": "Pod",
    "pod": "Pod",
    "pods": "Pod",
    "rc": "ReplicationController",
    "replicationcontroller": "ReplicationController",
    "replicationcontrollers": "ReplicationController",
    "rs": "ReplicaSet",
    "replicaset": "ReplicaSet",
    "replicasets": "ReplicaSet",
    "deploy": "Deployment",
    "deployment": "Deployment",
    "deployments": "Deployment",
    "ds": "DaemonSet",
    "daemonset": "DaemonSet",
    "daemonsets": "DaemonSet",
    "job": "Job",
    "jobs": "Job",
    "cj": "CronJob",
    "cronjob": "CronJob",
    "cronjobs": "CronJob",
    "sts": "StatefulSet",
    "statefulset": "StatefulSet",
    "statefulsets": "StatefulSet",
    "svc": "Service",
    "service": "Service",
    "services": "Service",
    "ep": "Endpoints",
    "endpoints": "Endpoints",
    "ns": "Namespace",
    "namespace": "Namespace",
    "namespaces": "Namespace",
    "no": "Node",
    "node": "Node",
    "nodes": "Node",
    "cs": "ComponentStatus",
    "componentstatus": "ComponentStatus",
    "componentstatuses": "ComponentStatus",
    "ev": "Event",
    "event": "Event",
    "events": "Event",
    "cm": "ConfigMap",
    "configmap": "ConfigMap",
    "configmaps": "ConfigMap",
    "secret": "Secret",
    "secrets": "Secret",
    "pvc": "PersistentVolumeClaim",
    "persistentvolumeclaim": "PersistentVolumeClaim",
    "persistentvolumeclaims": "PersistentVolumeClaim",
}
# Kinds recorded and not acted on (reconciler.manifests.effects_table): `get` lists them.
RECORDED_RESOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ServiceAccount", "serviceaccounts", ("sa",)),
    ("PodDisruptionBudget", "poddisruptionbudgets", ("pdb",)),
    ("StorageClass", "storageclasses", ("sc",)),
    ("HorizontalPodAutoscaler", "horizontalpodautoscalers", ("hpa",)),
    ("NetworkPolicy", "networkpolicies", ("netpol",)),
    ("Role", "roles", ()),
    ("RoleBinding", "rolebindings", ()),
    ("ClusterRole", "clusterroles", ()),
    ("ClusterRoleBinding", "clusterrolebindings", ()),
    ("Ingress", "ingresses", ("ing",)),
)
for _kind, _plural, _short in RECORDED_RESOURCES:
    for _alias in (_kind.lower(), _plural, *_short):
        KIND_ALIASES.setdefault(_alias, _kind)

# The apiVersion of the kind that declares a Docker host (see reconciler/schemas/node.json).
NODE_API_VERSION = "reconciler.dev/v1"


@dataclass(frozen=True, order=True)
class Key:
    """Identity of an object: kind, namespace ("" when cluster-scoped) and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Position:
    """Where something was written: file, 1-based line and column, 0-based document index."""

    file: str
    line: int = 1
    column: int = 1
    document: int = 0


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning about the desired state, pointing at the file and field."""

    severity: Severity
    position: Position
    # JSON path of the field, e.g. "spec.template.spec.containers[0].image"; "" for the file
    path: str
    message: str

    def render(self) -> str:
        """`FILE:LINE:COL: error|warning: MESSAGE`, as compilers and pre-commit expect."""
        p = self.position
        where = f" (document {p.document + 1})" if p.document else ""
        field_ = f"{self.path}: " if self.path else ""
        return f"{p.file}:{p.line}:{p.column}: {self.severity}: {field_}{self.message}{where}"


@dataclass(frozen=True)
class DesiredObject:
    """One object declared in the desired folder, validated and defaulted."""

    key: Key
    body: JSON  # the full, defaulted Kubernetes object: apiVersion, kind, metadata, spec
    position: Position  # where its document starts
    content_hash: str  # sha256 of the canonical JSON of `body`: unchanged hash, nothing to do
    # What was accepted and has no effect here (reconciler.manifests.effects): `plan`
    # shows these beside the object and the service records them as an event.
    notes: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class ReadFailure:
    """A folder or file the source could not read: display path ("" is the root) and errno."""

    path: str
    errno: int | None
    message: str

    def render(self) -> str:
        """`cannot read team/web.yaml: ENOENT (No such file or directory)`."""
        code = errno_name(self.errno)
        what = self.path or "the desired folder (root)"
        return f"cannot read {what}: {code} ({self.message})" if code else \
            f"cannot read {what}: {self.message}"


def errno_name(number: int | None) -> str:
    """`ENOENT` for 2; "" when unknown."""
    return _errno.errorcode.get(number, f"errno {number}") if number is not None else ""


def held_by(file: str, failures: Iterable[ReadFailure]) -> bool:
    """True when `file` is, or lies under, a path that could not be read."""
    return any(f.path == "" or file == f.path or file.startswith(f.path + "/") for f in failures)


@dataclass
class LoadResult:
    """What loading and validating a desired folder gave."""

    objects: list[DesiredObject] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Files with at least one error. Objects last recorded from these files stay in
    # force: a typo must never prune a running workload.
    failed_files: frozenset[str] = frozenset()
    # Folders and files that could not be read at all (root gone, EIO, a file that
    # vanished after it was listed). A load with any is partial: it applies nothing,
    # since what is absent from it may only be unread, not removed.
    unreadable: tuple[ReadFailure, ...] = ()
    # Manifest files found and read (valid or not), and the st_dev of the folder whose
    # listing found them (None: not a folder load, or not listed): no file at all, where
    # objects were recorded from another filesystem, is a mount gone (sourceguard).
    files: int = 0
    device: int | None = None

    @property
    def complete(self) -> bool:
        return not self.unreadable

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]
