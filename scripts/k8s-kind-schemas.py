#!/usr/bin/env python3
"""Write reconciler/schemas/*.json for the kinds the reconciler records without acting on them.

ServiceAccount, PodDisruptionBudget, StorageClass, HorizontalPodAutoscaler,
NetworkPolicy, Role, RoleBinding, ClusterRole, ClusterRoleBinding and Ingress are
accepted so that real application folders load (issue 17), and nothing runs
from them. Their schemas are Kubernetes' own (the strict definitions the
kubernetes-validate package ships, as reconciler.manifests.k8sfields reads them),
cut down to the JSON Schema keywords reconciler.manifests.fastcheck implements:
descriptions, formats and `x-kubernetes-*` hints dropped, `oneOf` of plain types
merged into one type list, `status` left out (the server writes it), and
`metadata` replaced by the project's own ObjectMeta (ClusterMeta when
cluster-scoped) so names and labels are checked as for every other kind.

Usage: .venv/bin/python scripts/k8s-kind-schemas.py   (rewrites the files; commit them)
tests/unit/manifests/test_recorded_kinds.py checks the files are what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.manifests import k8sfields  # noqa: E402  (after the sys.path line)

# file -> (kind, Kubernetes definition, apiVersions it serves, cluster-scoped)
TARGETS: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "serviceaccount.json": ("ServiceAccount", "io.k8s.api.core.v1.ServiceAccount", ("v1",),
                            False),
    "poddisruptionbudget.json": ("PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudget",
                                 ("policy/v1",), False),
    "storageclass.json": ("StorageClass", "io.k8s.api.storage.v1.StorageClass",
                          ("storage.k8s.io/v1",), True),
    "horizontalpodautoscaler.json": ("HorizontalPodAutoscaler",
                                     "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
                                     ("autoscaling/v2",), False),
    "horizontalpodautoscaler-v1.json": ("HorizontalPodAutoscaler",
                                        "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
                                        ("autoscaling/v1",), False),
    "networkpolicy.json": ("NetworkPolicy", "io.k8s.api.networking.v1.NetworkPolicy",
                           ("networking.k8s.io/v1",), False),
    "role.json": ("Role", "io.k8s.api.rbac.v1.Role", ("rbac.authorization.k8s.io/v1",), False),
    "rolebinding.json": ("RoleBinding", "io.k8s.api.rbac.v1.RoleBinding",
                         ("rbac.authorization.k8s.io/v1",), False),
    "clusterrole.json": ("ClusterRole", "io.k8s.api.rbac.v1.ClusterRole",
                         ("rbac.authorization.k8s.io/v1",), True),
    "clusterrolebinding.json": ("ClusterRoleBinding", "io.k8s.api.rbac.v1.ClusterRoleBinding",
                                ("rbac.authorization.k8s.io/v1",), True),
    "ingress.json": ("Ingress", "io.k8s.api.networking.v1.Ingress", ("networking.k8s.io/v1",),
                     False),
}
_KEEP = frozenset({"$ref", "type", "properties", "required", "additionalProperties", "items",
                   "enum"})
_PREFIX = "#/$defs/"


class _Converter:
    """Copies one definition and the definitions it reaches, in the reduced keyword set."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.out: dict[str, Any] = {}

    def ref(self, target: str) -> dict[str, Any]:
        name = target.rsplit("/", 1)[-1]
        if name not in self.out:
            self.out[name] = {}  # reserved first: definitions can be recursive
            self.out[name] = self.node(self.defs[name])
        return {"$ref": _PREFIX + name}

    def node(self, node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            return self.ref(node["$ref"])
        if "oneOf" in node:
            types: list[str] = []
            for option in node["oneOf"]:
                for t in option.get("type", []) if isinstance(option.get("type"), list) else \
                        [option.get("type")]:
                    if t and t not in types:
                        types.append(t)
            return {"type": types}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in _KEEP:
                continue
            if key == "properties":
                out[key] = {k: self.node(v) for k, v in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self.node(value)
            else:
                out[key] = value
        return out


def schema_for(kind: str, definition: str, versions: tuple[str, ...],
               cluster: bool) -> dict[str, Any]:
    """The schema file of one recorded kind."""
    defs = k8sfields._definitions()
    conv = _Converter(defs)
    top = defs[definition]
    props: dict[str, Any] = {
        "apiVersion": {"type": "string", "enum": list(versions)},
        "kind": {"const": kind},
        "metadata": {"$ref": "defs.json#/$defs/" + ("ClusterMeta" if cluster else "ObjectMeta")},
    }
    for name, sub in top["properties"].items():
        if name not in props and name != "status":
            props[name] = conv.node(sub)
    required = ["apiVersion", "kind", "metadata",
                *(r for r in top.get("required", []) if r not in ("apiVersion", "kind",
                                                                  "metadata"))]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": kind,
        "description": (f"{kind} ({', '.join(versions)}): recorded, not acted on. Generated by "
                        f"scripts/k8s-kind-schemas.py from Kubernetes' {definition} "
                        f"({k8sfields.K8S_SCHEMA_VERSION})."),
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
        "$defs": dict(sorted(conv.out.items())),
    }


def render(name: str) -> str:
    """The text of one generated file."""
    return json.dumps(schema_for(*TARGETS[name]), indent=2) + "\n"


def main() -> int:
    for name in TARGETS:
        (ROOT / "reconciler" / "schemas" / name).write_text(render(name), encoding="utf-8")
        print(f"wrote reconciler/schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
