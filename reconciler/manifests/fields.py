"""Fields beyond what we implement: Kubernetes fields we ignore or refuse, and typos.

Runs on each document before its schema check (reconciler.manifests.document).
Walks the document along the implemented-field tree of our schema; a field not
in it is looked up in Kubernetes' own field tree (reconciler.manifests.k8sfields):

- Kubernetes defines it and ignoring it cannot change what runs: a warning
  ("field F has no effect here: not supported, ignored", a `NoEffect` like those
  of reconciler.manifests.effects), and the field is removed from the body.
- Kubernetes defines it and ignoring it would change what runs (the `REFUSED`
  table: host namespaces, privileged containers, volumes and environment read
  from objects we do not have, persistent volume claims): an error.
- Kubernetes does not define it: an error, with "did you mean" when a field is close.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from reconciler.manifests import k8sfields
from reconciler.manifests.schemas import FieldTree

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """One field problem: severity, JSON path of the field, message."""

    severity: str  # "error" | "warning"
    path: Path_
    message: str
    at_key: bool = False  # point at the field's name rather than its value


@dataclass(frozen=True)
class NoEffect(Finding):
    """A warning that an accepted kind or field changes nothing here (reconciler.manifests.effects).

    Besides the `validate` line, `plan` shows it beside the object and the service
    records it as an event on the object.
    """



def path_text(path: Path_) -> str:
    """A JSON path as people write it: spec.containers[0].image."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += ("." if out else "") + segment
    return out


def _truthy(value: Any) -> bool:
    return bool(value)


@dataclass(frozen=True)
class Refusal:
    """Why ignoring a field would change what runs; `active` says when the value matters."""

    reason: str
    active: Callable[[Any], bool] = lambda _v: True


# (Kubernetes type, field) -> refusal. Types by their short definition name.
REFUSED: dict[tuple[str, str], Refusal] = {
    ("PodSpec", "hostNetwork"): Refusal(
        "hostNetwork is not supported: the pod would get its own network, not the host's",
        _truthy),
    ("PodSpec", "hostPID"): Refusal("hostPID is not supported: the pod cannot see host processes",
                                    _truthy),
    ("PodSpec", "hostIPC"): Refusal("hostIPC is not supported", _truthy),
    ("SecurityContext", "privileged"): Refusal(
        "privileged containers are not supported", _truthy),
    ("Container", "volumeDevices"): Refusal("volumeDevices are not supported"),
    # Files the projected volume would lack; configMap and secret sources are implemented.
    ("VolumeProjection", "downwardAPI"): Refusal("projected downwardAPI sources are not supported"),
    ("VolumeProjection", "serviceAccountToken"): Refusal(
        "projected serviceAccountToken sources are not supported (there is no API server)"),
    ("VolumeProjection", "clusterTrustBundle"): Refusal(
        "projected clusterTrustBundle sources are not supported"),
    ("EnvVarSource", "resourceFieldRef"): Refusal("env from resourceFieldRef is not supported"),
    ("EnvVarSource", "fileKeyRef"): Refusal("env from fileKeyRef is not supported"),
}
# Any volume source but emptyDir, hostPath, persistentVolumeClaim, configMap, secret and
# projected: the containers would start without their files.
VOLUME_TYPE = "Volume"

# Fields written by the server, not by the user: ignored without a warning when empty.
_SERVER_FIELDS = frozenset({"creationTimestamp", "status"})


def _short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


@cache
def _k8s_object(root: str, parent: tuple[str, ...]) -> k8sfields.K8sNode | None:
    # Keyed without list indices: every item of a list has the same type.
    return k8sfields.object_at(root, tuple(0 if s == "[]" else s for s in parent))


def _suggest(key: str, candidates: frozenset[str]) -> str:
    lowered = {c.lower(): c for c in candidates}
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key, sorted(candidates), n=1, cutoff=0.75)
    return close[0] if close else ""


def _classify(root: str | None, path: Path_, key: str, value: Any,
              implemented: frozenset[str]) -> Finding | None:
    field_path = (*path, key)
    node = None
    if root is not None:
        node = _k8s_object(root, tuple("[]" if isinstance(s, int) else s for s in path))
    if node is not None and key in node.fields:
        short = _short(node.type_name)
        if short == VOLUME_TYPE:
            return Finding("error", field_path, at_key=True, message=
                           f"volume type {key} is not supported "
                           "(only emptyDir, hostPath, persistentVolumeClaim, configMap, "
                           "secret and projected)")
        refusal = REFUSED.get((short, key))
        if refusal is not None:
            if refusal.active(value):
                return Finding("error", field_path, refusal.reason, at_key=True)
            return None
        if key in _SERVER_FIELDS and not value:
            return None
        if key == "status":
            return Finding("warning", field_path, "is written by the reconciler; ignored", True)
        return NoEffect("warning", field_path,
                        f"field {key} has no effect here: not supported, ignored", True)
    if node is not None and node.is_map:
        acting = " and ".join(sorted(implemented))
        return NoEffect("warning", field_path, f"field {key} has no effect here: not supported, "
                        f"ignored (only {acting} act)", True)
    known = implemented | (node.fields if node is not None else frozenset())
    hint = _suggest(key, known)
    extra = f" (did you mean {hint!r}?)" if hint else ""
    return Finding("error", field_path, f"unknown field {key!r}{extra}", True)


def check_fields(body: dict[str, Any], tree: FieldTree, root: str | None) -> list[Finding]:
    """Report fields outside `tree` and remove them from `body` (in place)."""
    findings: list[Finding] = []
    # Iterative, so a deep document cannot exhaust Python's stack.
    stack: list[tuple[Any, FieldTree, Path_]] = [(body, tree, ())]
    while stack:
        value, node, path = stack.pop()
        if isinstance(value, dict):
            if node.props is not None:
                for key in list(value):
                    child = node.props.get(key) if isinstance(key, str) else None
                    if child is not None:
                        stack.append((value[key], child, (*path, key)))
                        continue
                    if node.open:
                        continue
                    finding = _classify(root, path, str(key), value[key], node.names)
                    if finding is not None:
                        findings.append(finding)
                    del value[key]
            elif node.values is not None:
                for key, item in value.items():
                    stack.append((item, node.values, (*path, key)))
        elif isinstance(value, list) and node.items is not None:
            for i, item in enumerate(value):
                stack.append((item, node.items, (*path, i)))
    findings.sort(key=lambda f: [str(s) for s in f.path])
    return findings
