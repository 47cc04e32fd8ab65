"""The three patch formats of the Kubernetes API: strategic merge, JSON merge and JSON patch.

Pure functions of the write path (kubeapi/writes.py): a PATCH request's body is
applied here to the object as served, and the result is what the manifest file
should then declare (kubeapi/sourcewrite.py writes it). Nothing is stored here.

- JSON merge patch (RFC 7386): maps merge, `null` deletes, everything else replaces.
- JSON patch (RFC 6902): add/remove/replace/move/copy/test on JSON pointers. Written
  here rather than taken from the `jsonpatch` package: it is seventy lines, and an
  untyped dependency would cost more than it saves.
- Strategic merge patch (Kubernetes' own): like a merge patch, but lists that
  Kubernetes' types declare with a patch merge key (containers by name, ports by
  containerPort, ...) are merged item by item, primitive lists declared "merge"
  (finalizers) are unioned, and the directives `$patch: replace|delete|merge`,
  `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`
  are honoured. The merge keys are those of `x-kubernetes-patch-merge-key` in
  Kubernetes' OpenAPI for the fields of the kinds reconciler holds (MERGE_KEYS).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

JSON = Any


class PatchError(ValueError):
    """The patch is malformed or cannot apply (a JSON patch `test` failed, a path is absent)."""


# --- JSON merge patch (RFC 7386) -------------------------------------------------------------

def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7386: `target` with `patch` merged in; neither argument is changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- JSON patch (RFC 6902) -------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'JSON pointer "{path}" must start with "/"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f'"{token}" is not an array index')
    i = int(token)
    if i > len(container) or (i == len(container) and not adding):
        raise PatchError(f"array index {i} is out of range")
    return i


def _parent(doc: JSON, tokens: list[str]) -> JSON:
    node = doc
    for t in tokens[:-1]:
        if isinstance(node, dict) and t in node:
            node = node[t]
        elif isinstance(node, list):
            node = node[_index(node, t, adding=False)]
        else:
            raise PatchError(f'path "/{"/".join(tokens)}" does not exist')
    return node


def _existing(doc: JSON, path: str) -> tuple[Any, str | int]:
    """The container holding the value at `path` and its key or index; PatchError if absent."""
    tokens = _pointer(path)
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent, last
    if isinstance(parent, list):
        return parent, _index(parent, last, adding=False)
    raise PatchError(f'path "{path}" does not exist')


def _get(doc: JSON, path: str) -> JSON:
    if not path:
        return doc
    parent, key = _existing(doc, path)
    return parent[key]


def _add(doc: JSON, path: str, value: JSON) -> JSON:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], adding=True), value)
    else:
        raise PatchError(f'cannot add at "{path}": the parent is not an object or array')
    return doc


def _remove(doc: JSON, path: str) -> JSON:
    if not path:
        raise PatchError("cannot remove the whole document")
    parent, key = _existing(doc, path)
    del parent[key]
    return doc


def json_patch(target: JSON, operations: JSON) -> JSON:
    """RFC 6902: `target` with each operation applied in order; `target` is not changed."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is an array of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"not a JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f'operation "{kind}" needs a value')
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # must exist
            doc = _add(_remove(doc, path), path, copy.deepcopy(op["value"])) if path else \
                copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise PatchError(f'operation "{kind}" needs "from"')
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                if path.startswith(source + "/"):
                    raise PatchError("cannot move a value into one of its children")
                doc = _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f'test failed: "{path}" is not {op["value"]!r}')
        else:
            raise PatchError(f'unknown JSON patch operation "{kind}"')
    return doc


# --- Strategic merge patch -------------------------------------------------------------------

@dataclass(frozen=True)
class ListRule:
    """How a list field merges: by `key` (objects), as a set (primitives), items typed by `item`."""

    key: str | None
    item: dict[str, Any] | None = None


META: dict[str, Any] = {"ownerReferences": ListRule("uid"), "finalizers": ListRule(None)}
CONTAINER: dict[str, Any] = {
    "env": ListRule("name"),
    "ports": ListRule("containerPort"),
    "volumeMounts": ListRule("mountPath"),
    "volumeDevices": ListRule("devicePath"),
    "resizePolicy": ListRule("resourceName"),
}
POD_SPEC: dict[str, Any] = {
    "containers": ListRule("name", CONTAINER),
    "initContainers": ListRule("name", CONTAINER),
    "ephemeralContainers": ListRule("name", CONTAINER),
    "volumes": ListRule("name"),
    "imagePullSecrets": ListRule("name"),
    "hostAliases": ListRule("ip"),
    "topologySpreadConstraints": ListRule("topologyKey"),
    "schedulingGates": ListRule("name"),
    "resourceClaims": ListRule("name"),
}
TEMPLATE: dict[str, Any] = {"metadata": META, "spec": POD_SPEC}
_WORKLOAD: dict[str, Any] = {"metadata": META, "spec": {"template": TEMPLATE}}
# The merge keys of Kubernetes' types (x-kubernetes-patch-merge-key), per kind, by field path.
MERGE_KEYS: dict[str, dict[str, Any]] = {
    "Pod": {"metadata": META, "spec": POD_SPEC},
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "ReplicationController": _WORKLOAD,
    "StatefulSet": _WORKLOAD,
    "DaemonSet": _WORKLOAD,
    "Job": _WORKLOAD,
    "CronJob": {"metadata": META, "spec": {"jobTemplate": {"metadata": META, "spec": {
        "template": TEMPLATE}}}},
    "Service": {"metadata": META, "spec": {"ports": ListRule("port")}},
    "ServiceAccount": {"metadata": META, "secrets": ListRule("name")},
}

_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


def strategic_merge(target: JSON, patch: JSON, kind: str) -> JSON:
    """Kubernetes' strategic merge patch of a `kind` object; `target` is not changed."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch is a JSON object")
    return _merge_map(copy.deepcopy(target) if isinstance(target, dict) else {}, patch,
                      MERGE_KEYS.get(kind, {"metadata": META}))


def _merge_map(target: dict[str, Any], patch: dict[str, Any], schema: dict[str, Any]) -> JSON:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in _clean(patch).items()}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise PatchError(f'unknown $patch directive "{directive}"')
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith(_ELEMENT_ORDER):
            continue  # the order of merged lists is left as merged: tolerated, not applied
        if key.startswith(_DELETE_PRIMITIVES):
            field = key[len(_DELETE_PRIMITIVES):]
            if isinstance(target.get(field), list) and isinstance(value, list):
                target[field] = [v for v in target[field] if v not in value]
            continue
        if value is None:
            target.pop(key, None)
            continue
        rule = schema.get(key)
        if isinstance(value, dict):
            sub = rule if isinstance(rule, dict) else {}
            current = target.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, sub)
            if merged is None:
                target.pop(key, None)
            else:
                target[key] = merged
        elif isinstance(value, list) and isinstance(rule, ListRule):
            current = target.get(key)
            target[key] = _merge_list(current if isinstance(current, list) else [], value, rule)
        else:
            target[key] = _clean(value)
    if isinstance(retain, list):
        for key in [k for k in target if k not in retain]:
            del target[key]
    return target


def _merge_list(target: list[Any], patch: list[Any], rule: ListRule) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_clean(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if rule.key is None:  # a primitive list merged as a set, in order
        return target + [p for p in patch if p not in target]
    result = list(target)
    for item in patch:
        if not isinstance(item, dict) or rule.key not in item:
            raise PatchError(f'each item of this list needs its merge key "{rule.key}"')
        at = next((i for i, t in enumerate(result)
                   if isinstance(t, dict) and t.get(rule.key) == item[rule.key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del result[at]
            continue
        if at is None:
            result.append(_merge_map({}, item, rule.item or {}))
        else:
            result[at] = _merge_map(result[at], item, rule.item or {})
    return result


def _clean(value: JSON) -> JSON:
    """A value with the patch directives taken out (for parts that replace rather than merge)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()
                if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
