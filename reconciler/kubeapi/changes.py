"""What a write changes in a manifest: the difference between two served objects, as data.

Pure, between kubeapi/patch.py and kubeapi/docedit.py in the write path
(kubeapi/writes.py). A client writes against the object as served, which
carries defaults, status and server metadata the manifest never declared; the
manifest must change only where the client changed something. So the object
before and after the client's edit are compared (`diff`), and only those
changes are carried over to the object as written in its file (`carry`): a
`kubectl scale` changes `spec.replicas` and nothing else, a `kubectl replace`
with a file that leaves out a defaulted field removes nothing from the
manifest, and a field the client dropped that the manifest declares goes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

JSON = Any
Path_ = tuple[str | int, ...]
REMOVE = object()  # the value of a change that removes the field
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Server-set metadata: never written to a manifest, never compared.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation",
                   "managedFields", "selfLink", "deletionTimestamp",
                   "deletionGracePeriodSeconds")


def strip(obj: JSON) -> JSON:
    """The declarable part of an object: no status, no server metadata, no last-applied copy."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k not in SERVER_METADATA}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def applied_config(patch: JSON) -> JSON | None:
    """The configuration `kubectl apply` sends in its last-applied annotation, if any."""
    try:
        text = patch["metadata"]["annotations"][LAST_APPLIED]
    except (KeyError, TypeError):
        return None
    try:
        config = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return config if isinstance(config, dict) else None


def diff(before: JSON, after: JSON, at: Path_ = ()) -> list[tuple[Path_, JSON]]:
    """The changes from `before` to `after`: (path, new value or REMOVE), deepest first found.

    Lists of one length are compared item by item, so a changed image is one
    change and not the whole container list.
    """
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[tuple[Path_, JSON]] = []
        for key in before:
            if key not in after:
                out.append(((*at, key), REMOVE))
        for key, value in after.items():
            if key not in before:
                out.append(((*at, key), copy.deepcopy(value)))
            else:
                out += diff(before[key], value, (*at, key))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [c for i, (a, b) in enumerate(zip(before, after, strict=True))
                for c in diff(a, b, (*at, i))]
    return [(at, copy.deepcopy(after))]


def _value_at(obj: JSON, path: Path_) -> JSON:
    for step in path:
        obj = obj[step]
    return obj


def carry(manifest: JSON, changes: list[tuple[Path_, JSON]], after: JSON) -> JSON:
    """`manifest` with `changes` made; where the manifest lacks the path's parents (a
    defaulted list it never declared), the whole value is taken from `after`."""
    out = copy.deepcopy(manifest)
    for path, value in changes:
        node = out
        for depth, step in enumerate(path[:-1]):
            child = _child(node, step)
            if child is None:
                if value is not REMOVE:
                    _set(node, step, copy.deepcopy(_value_at(after, path[:depth + 1])))
                break
            node = child
        else:
            last = path[-1]
            if value is REMOVE:
                if isinstance(node, dict):
                    node.pop(last, None)
                elif isinstance(node, list) and isinstance(last, int) and last < len(node):
                    del node[last]
            else:
                _set(node, last, value)
    return out


def _child(node: JSON, step: str | int) -> JSON:
    if isinstance(node, dict) and isinstance(step, str):
        child = node.get(step)
    elif isinstance(node, list) and isinstance(step, int) and step < len(node):
        child = node[step]
    else:
        return None
    return child if isinstance(child, dict | list) else None


def _set(node: JSON, step: str | int, value: JSON) -> None:
    if isinstance(node, dict) and isinstance(step, str):
        node[step] = value
    elif isinstance(node, list) and isinstance(step, int):
        if step < len(node):
            node[step] = value
        else:
            node.append(value)


def new_file(kind: str, namespace: str | None, name: str) -> str:
    """Where an object created through the API is written: `<namespace>/<kind>-<name>.yaml`."""
    base = f"{kind.lower()}-{name}.yaml"
    return f"{namespace}/{base}" if namespace else base
