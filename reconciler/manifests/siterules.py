"""Rules that depend on the installation, not only on the manifests: bounds, nodes, hostPaths.

Run by reconciler.manifests.loader with the cross-file rules
(reconciler.manifests.crossfile), each object under the same guard. What they
need comes in a `SiteChecks`: `reconciler validate` fills it from its options,
the configuration file (the runtime's hostPath allow-list) and the store when
one exists (the registered nodes); a part left None is not checked, since
guessing it would warn about a cluster we cannot see.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.api.node_affinity import selector_matches
from reconciler.api.types import JSON, DesiredObject
from reconciler.manifests.crossfile import CrossFinding, guarded, pod_template
from reconciler.manifests.fields import Path_

# A replicas count above this is more likely a typo (10000 for 10) than a plan.
DEFAULT_MAX_REPLICAS = 1000
_REPLICATED = frozenset({"ReplicationController", "ReplicaSet", "Deployment", "StatefulSet"})


@dataclass(frozen=True)
class SiteChecks:
    """What the installation allows and has; None: not known here, so not checked."""

    max_replicas: int = DEFAULT_MAX_REPLICAS
    # runtime.host_path_allow of the configuration the pods will run under
    host_path_allow: tuple[str, ...] | None = None
    # labels of every registered node (well-known ones included), from the store
    node_labels: tuple[Mapping[str, str], ...] | None = None


def _pod_spec(obj: DesiredObject) -> tuple[Path_, JSON] | None:
    template = pod_template(obj)
    return None if template is None else (template[0], template[2])


def _replicas(obj: DesiredObject, checks: SiteChecks) -> list[CrossFinding]:
    if obj.key.kind not in _REPLICATED:
        return []
    replicas = obj.body["spec"].get("replicas")
    if not isinstance(replicas, int) or replicas <= checks.max_replicas:
        return []
    return [CrossFinding("warning", obj, ("spec", "replicas"),
                         f"replicas {replicas} is above the sanity bound of {checks.max_replicas}"
                         " (a typo? `validate --max-replicas` raises the bound)")]


def _allowed(path: str, allow: tuple[str, ...]) -> bool:
    # Lexical, unlike the runtime's check (which resolves symlinks on the host itself):
    # validate may run on another machine than the pods.
    real = posixpath.normpath(path)
    return any(real == posixpath.normpath(root) or
               real.startswith(posixpath.normpath(root).rstrip("/") + "/") for root in allow)


def _host_paths(obj: DesiredObject, checks: SiteChecks) -> list[CrossFinding]:
    found = _pod_spec(obj)
    if found is None or checks.host_path_allow is None:
        return []
    prefix, spec = found
    out: list[CrossFinding] = []
    allow = checks.host_path_allow
    for i, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume.get("hostPath"), dict):
            continue
        path = str(volume["hostPath"].get("path", ""))
        if not _allowed(path, allow):
            out.append(CrossFinding(
                "error", obj, (*prefix, "volumes", i, "hostPath", "path"),
                f"hostPath {path} is not under an allowed path ({', '.join(allow) or 'none'}): "
                "the runtime refuses to start this pod (runtime.host_path_allow)"))
    return out


def _node_selector(obj: DesiredObject, checks: SiteChecks,
                   declared: tuple[Mapping[str, str], ...]) -> list[CrossFinding]:
    found = _pod_spec(obj)
    if found is None or checks.node_labels is None:
        return []
    prefix, spec = found
    selector = spec.get("nodeSelector") or {}
    if not selector:
        return []
    nodes = (*checks.node_labels, *declared)
    if any(selector_matches(spec, labels) for labels in nodes):
        return []
    return [CrossFinding("warning", obj, (*prefix, "nodeSelector"),
                         f"no node satisfies the nodeSelector ({len(nodes)} registered or "
                         "declared): the pods stay Pending")]


def check_site(objects: list[DesiredObject], checks: SiteChecks) -> list[CrossFinding]:
    """Every installation-dependent rule over the valid objects of a load."""
    declared = tuple({"kubernetes.io/hostname": o.key.name, "kubernetes.io/os": "linux",
                      **{str(k): str(v) for k, v in
                         (o.body["metadata"].get("labels") or {}).items()}}
                     for o in objects if o.key.kind == "Node")
    out: list[CrossFinding] = []
    for obj in objects:
        out += guarded("replicas bound", obj, _replicas, checks)
        out += guarded("hostPath allow-list", obj, _host_paths, checks)
        out += guarded("nodeSelector", obj, _node_selector, checks, declared)
    return out
