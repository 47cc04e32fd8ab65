"""Kubernetes' own schema nodes, walked in step with ours, for what our schemas leave out.

Used by `openapi.py` while it converts reconciler/schemas/ to OpenAPI: our schemas
describe the fields we implement, mostly without descriptions; Kubernetes'
(`reconciler.manifests.k8sfields.definition`, from the kubernetes-validate package)
has the text `kubectl explain` prints and the patch extensions
(`x-kubernetes-patch-merge-key`, ...) kubectl's strategic merge patches follow.
Every function takes and returns None when Kubernetes has no such node.
"""

from __future__ import annotations

from typing import Any

from reconciler.manifests.k8sfields import definition

API_VERSION = ("APIVersion defines the versioned schema of this representation of an object. "
               "Servers should convert recognized schemas to the latest internal value, and "
               "may reject unrecognized values.")
KIND = ("Kind is a string value representing the REST resource this object represents. "
        "In CamelCase.")
PRIMITIVES = frozenset({"string", "integer", "number", "boolean"})
OTHER = ("(A Kubernetes field reconciler's manifest schema does not define: "
         "`reconciler validate` says whether it is ignored or refused.)")
EXTENSIONS = ("x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy",
              "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
              "x-kubernetes-map-type")


def node(type_name: str | None) -> dict[str, Any] | None:
    """The definition `type_name` as a node to walk."""
    return definition(type_name) if type_name else None


def deref(k8s: dict[str, Any] | None) -> dict[str, Any] | None:
    """`k8s` with its $ref followed; the referring node's description and extensions win."""
    if k8s is None or "$ref" not in k8s:
        return k8s
    target = definition(str(k8s["$ref"]).rsplit("/", 1)[-1])
    if target is None:
        return None
    own = {k: v for k, v in k8s.items() if k != "$ref"}
    return deref({**target, **own}) if "$ref" in target else {**target, **own}


def target(k8s: dict[str, Any] | None) -> dict[str, Any] | None:
    """The definition a node refers to, without what the referring field says of it."""
    while k8s is not None and "$ref" in k8s:
        k8s = definition(str(k8s["$ref"]).rsplit("/", 1)[-1])
    return k8s


def child(k8s: dict[str, Any] | None, key: str | int) -> dict[str, Any] | None:
    """The node of property `key`, of the map values ("*") or of the list items (0)."""
    k8s = deref(k8s)
    if k8s is None:
        return None
    found: Any
    if key == 0:
        found = k8s.get("items")
    elif key == "*":
        found = k8s.get("additionalProperties")
    else:
        found = (k8s.get("properties") or {}).get(key)
    return found if isinstance(found, dict) else None


def list_extensions(k8s: dict[str, Any] | None) -> dict[str, Any]:
    """The patch and list extensions Kubernetes puts on this node."""
    return {k: v for k, v in (k8s or {}).items() if k in EXTENSIONS}


def type_of(k8s: dict[str, Any] | None) -> str:
    """The node's type; "" when it has none or several (["string", "null"] is "string")."""
    kind = (k8s or {}).get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else ""
    return kind if isinstance(kind, str) else ""


def other_fields(k8s: dict[str, Any] | None, ours: dict[str, Any],
                 note: str = OTHER) -> dict[str, Any]:
    """Kubernetes' fields of this object that `ours` lacks, as open schemas.

    Served objects carry them (defaults such as a Service's `clusterIPs`), so
    `kubectl get -o yaml | kubectl apply -f -` sends them back: kubectl's client-side
    validation must know them. Their values are left unchecked (no type beyond a
    primitive's), and `kubectl explain` marks them with `note` (for a kind that
    has a manifest schema: OTHER).
    """
    k8s = deref(k8s)
    out: dict[str, Any] = {}
    for name, node in ((k8s or {}).get("properties") or {}).items():
        if name in ours or not isinstance(node, dict):
            continue
        target = deref(node) or {}
        field: dict[str, Any] = {"description": " ".join(
            filter(None, (node.get("description") or target.get("description"), note)))}
        kind = type_of(target)
        if kind in PRIMITIVES:
            field["type"] = kind
        elif kind == "array":
            item = type_of(deref(child(target, 0)))
            field.update(type="array", items={"type": item} if item in PRIMITIVES else {})
        out[name] = field
    return out
