"""Edits of manifest text that keep every other byte: GitOps scaling writes through here.

`reconciler scale` changes one value (`spec.replicas`) in the file the object
came from; comments, key order, quoting and layout of the rest of the file stay
byte for byte. The edit is located with PyYAML's composed node marks (exact
character offsets), so it works for block YAML, flow-style YAML and JSON alike.
Pure: text in, text out.
"""

from __future__ import annotations

import yaml

from reconciler.api.types import CLUSTER_SCOPED_KINDS


class EditError(Exception):
    """The object or field to edit could not be found in the text."""


def mapping_get(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            assert isinstance(v, yaml.Node)
            return v
    return None


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _matches(doc: yaml.Node, kind: str, namespace: str, name: str) -> bool:
    if not isinstance(doc, yaml.MappingNode) or _scalar(mapping_get(doc, "kind")) != kind:
        return False
    meta = mapping_get(doc, "metadata")
    if not isinstance(meta, yaml.MappingNode) or _scalar(mapping_get(meta, "name")) != name:
        return False
    if kind in CLUSTER_SCOPED_KINDS:
        return True
    return (_scalar(mapping_get(meta, "namespace")) or "default") == namespace


def _candidates(root: yaml.Node) -> list[yaml.Node]:
    """A document, or the items of a `kind: List` document."""
    if isinstance(root, yaml.MappingNode) and _scalar(mapping_get(root, "kind")) == "List":
        items = mapping_get(root, "items")
        if isinstance(items, yaml.SequenceNode):
            return list(items.value)
    return [root]


def find_object(text: str, kind: str, namespace: str, name: str) -> yaml.MappingNode:
    """The composed node (with exact marks) of the named object in `text`; EditError if absent."""
    try:
        roots = [r for r in yaml.compose_all(text, Loader=yaml.SafeLoader) if r is not None]
    except yaml.YAMLError as e:
        raise EditError(f"the file does not parse: {e}") from e
    for root in roots:
        for doc in _candidates(root):
            if _matches(doc, kind, namespace, name):
                assert isinstance(doc, yaml.MappingNode)
                return doc
    raise EditError(f'{kind} "{name}" is not declared in this file')


def set_replicas(text: str, kind: str, namespace: str, name: str, replicas: int) -> str:
    """`text` with `spec.replicas` of the named object set to `replicas`, nothing else changed."""
    if replicas < 0:
        raise EditError("replicas must be 0 or more")
    return set_spec_value(text, kind, namespace, name, "replicas", str(replicas))


def set_spec_value(text: str, kind: str, namespace: str, name: str, key: str,
                   value: str) -> str:
    """`text` with `spec.<key>` of the named object set to the scalar `value` (YAML/JSON
    text, e.g. "3" or "true"), nothing else changed; `reconciler drain` cordons with it."""
    doc = find_object(text, kind, namespace, name)
    spec = mapping_get(doc, "spec")
    if not isinstance(spec, yaml.MappingNode):
        raise EditError(f"{kind} {name} has no spec mapping")
    return _replace_or_insert(text, spec, key, value)


def _replace_or_insert(text: str, spec: yaml.MappingNode, name: str, value: str) -> str:
    current = mapping_get(spec, name)
    if current is not None:
        start, end = current.start_mark.index, current.end_mark.index
        return text[:start] + value + text[end:]
    if spec.flow_style or not spec.value:
        # `spec: {a: 1}`: add the key first inside the braces.
        first_key = spec.value[0][0] if spec.value else None
        if first_key is None:
            raise EditError(f"spec is empty; cannot place {name}")
        at = first_key.start_mark.index
        key = f'"{name}"' if first_key.style == '"' else name  # JSON keeps JSON
        return text[:at] + f"{key}: {value}, " + text[at:]
    first_key = spec.value[0][0]
    at = first_key.start_mark.index
    indent = " " * first_key.start_mark.column
    return text[:at] + f"{name}: {value}\n{indent}" + text[at:]
