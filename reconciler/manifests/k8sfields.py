"""Kubernetes' own field tree, from the schemas the kubernetes-validate package ships.

Consulted by reconciler.manifests.fields only when a document holds a field our
schemas do not implement, to tell a Kubernetes field we ignore or refuse from a
typo. The definitions (about 2 MB of JSON) are loaded once, on first need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

K8S_SCHEMA_VERSION = "v1.37.0-local-strict"
_DEFS_PREFIX = "#/$defs/"


@dataclass(frozen=True)
class K8sNode:
    """One object type in Kubernetes' schema: its definition name and its field names."""

    type_name: str
    fields: frozenset[str]
    # A map (additionalProperties) rather than an object: any key is Kubernetes-valid,
    # as in a ResourceList (`ephemeral-storage`, `nvidia.com/gpu`).
    is_map: bool = False


@cache
def _definitions() -> dict[str, Any]:
    base = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    candidates = [base / K8S_SCHEMA_VERSION]
    # A newer kubernetes-validate ships other versions: take the newest strict one.
    candidates += sorted(
        (p for p in base.iterdir() if p.name.endswith("-local-strict")),
        key=lambda p: [int(x) for x in p.name[1:].split("-")[0].split(".")],
        reverse=True,
    )
    for folder in candidates:
        path = folder / "_definitions.json"
        if path.is_file():
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            defs: dict[str, Any] = data.get("$defs") or data.get("definitions") or {}
            return defs
    return {}


def _deref(node: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    name = None
    defs = _definitions()
    while "$ref" in node:
        ref: str = node["$ref"]
        name = ref.rsplit("/", 1)[-1] if "/" in ref else ref
        node = defs.get(name, {})
    return name, node


def _step(node: dict[str, Any], segment: str | int) -> dict[str, Any] | None:
    _, node = _deref(node)
    if isinstance(segment, int):
        items = node.get("items")
        return items if isinstance(items, dict) else None
    props = node.get("properties")
    if isinstance(props, dict) and segment in props:
        child: dict[str, Any] = props[segment]
        return child
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def object_at(root_type: str, path: tuple[str | int, ...]) -> K8sNode | None:
    """The Kubernetes object type at `path` under `root_type`; None when Kubernetes has none."""
    node: dict[str, Any] | None = {"$ref": _DEFS_PREFIX + root_type}
    for segment in path:
        if node is None:
            return None
        node = _step(node, segment)
    if node is None:
        return None
    name, node = _deref(node)
    props = node.get("properties")
    if not isinstance(props, dict):
        if isinstance(node.get("additionalProperties"), dict):
            return K8sNode(name or "", frozenset(), is_map=True)
        return None
    return K8sNode(name or "", frozenset(props))


def available() -> bool:
    """Whether Kubernetes' definitions could be loaded (the package is installed)."""
    try:
        return bool(_definitions())
    except (ModuleNotFoundError, OSError, ValueError):
        return False


def definition(name: str) -> dict[str, Any] | None:
    """Kubernetes' schema of the definition `name` ("io.k8s.api.core.v1.Pod"), or None.

    Read by reconciler.kubeapi.k8sdocs for the descriptions and patch extensions of the
    OpenAPI documents the API serves.
    """
    if not available():
        return None
    found: dict[str, Any] | None = _definitions().get(name)
    return found
