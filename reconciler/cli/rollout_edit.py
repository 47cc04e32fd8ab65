"""Rewrite a Deployment's pod template in its manifest text, keeping every other byte.

Used by `reconciler rollout undo` and `rollout restart` (GitOps: they edit the
file, the service converges from the edit). The new template is compared with
the composed YAML node by node: a changed scalar (an image tag) is replaced in
place with its quoting style, a key added to a block mapping becomes one new
line, and only a node whose shape changed is rendered again (block YAML at its
column, or JSON inside flow style and JSON files). Comments, key order and the
layout of everything else stay. Pure: text in, text out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from reconciler.api.manifest_edit import EditError, find_object, mapping_get
from reconciler.api.types import JSON


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def _value(node: yaml.Node) -> Any:
    """The Python value of a composed node, as safe_load would give it."""
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _content_end(node: yaml.Node) -> int:
    """Where the node's own text ends: a block collection's end mark runs on over the
    comments and indentation before the next token, which are not its to replace."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1])
    return int(node.end_mark.index)


def _line_end(text: str, at: int) -> int:
    """The index of the newline ending the line that holds `at` (or the text's end)."""
    nl = text.find("\n", at)
    return len(text) if nl < 0 else nl


def _block(value: Any, column: int) -> str:
    """`value` as block YAML whose first line starts at `column` (already there)."""
    if not isinstance(value, (dict, list)) or not value:
        return _scalar_text(value, None)
    dumped = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=10**6)
    lines = dumped.rstrip("\n").split("\n")
    return "\n".join([lines[0], *(" " * column + line for line in lines[1:])])


def _scalar_text(value: Any, style: str | None) -> str:
    if style == '"' or isinstance(value, (dict, list)):
        return json.dumps(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.removesuffix("\n...\n").rstrip("\n")


def _in_flow(node: yaml.Node, flow: bool) -> bool:
    return flow or bool(getattr(node, "flow_style", False))


def _diff(text: str, node: yaml.Node, new: Any, flow: bool, out: list[_Edit]) -> None:
    """Append the edits turning `node`'s text into `new`; `flow`: inside a flow collection."""
    if isinstance(node, yaml.ScalarNode) and not isinstance(new, (dict, list)):
        if _value(node) != new or type(_value(node)) is not type(new):
            out.append(_scalar_edit(text, node, new))
        return
    inner_flow = _in_flow(node, flow)
    if isinstance(node, yaml.MappingNode) and isinstance(new, dict) and node.value:
        _diff_mapping(text, node, new, inner_flow, out)
        return
    if isinstance(node, yaml.SequenceNode) and isinstance(new, list) and node.value and new:
        _diff_sequence(text, node, new, inner_flow, out)
        return
    _replace(text, node, new, flow, out)


def _scalar_edit(text: str, node: yaml.ScalarNode, new: Any) -> _Edit:
    """The changed part of a string only, when that reads back as `new` (a tag in a folded
    command line keeps its folding); else the scalar written again in its quoting."""
    start, end = int(node.start_mark.index), int(node.end_mark.index)
    old = _value(node)
    if isinstance(old, str) and isinstance(new, str):
        p = 0
        while p < min(len(old), len(new)) and old[p] == new[p]:
            p += 1
        q = 0
        while q < min(len(old), len(new)) - p and old[-1 - q] == new[-1 - q]:
            q += 1
        old_mid, new_mid = old[p:len(old) - q], new[p:len(new) - q]
        span = text[start:end]
        if old_mid and span.count(old_mid) == 1:
            at = start + span.index(old_mid)
            edit = _Edit(at, at + len(old_mid), new_mid)
            if _scalar_at(_apply(text, [edit]), start) == new:
                return edit
    return _Edit(start, end, _scalar_text(new, node.style if node.style == '"' else None))


def _scalar_at(text: str, index: int) -> Any:
    """The value of the scalar that starts at `index` in `text` (None when none does)."""
    try:
        stack = [r for r in yaml.compose_all(text, Loader=yaml.SafeLoader) if r is not None]
    except yaml.YAMLError:
        return None
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.start_mark.index == index:
                return _value(node)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(v for _, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def _diff_sequence(text: str, node: yaml.SequenceNode, new: list[Any], flow: bool,
                   out: list[_Edit]) -> None:
    """Items edited in place; a longer list gets its new items appended, a shorter one
    loses its last items' lines (a sidecar added or removed keeps the others' bytes)."""
    items = node.value
    if flow and len(new) < len(items):
        _replace(text, node, new, flow, out)
        return
    for item, value in zip(items, new, strict=False):
        _diff(text, item, value, flow, out)
    if len(new) > len(items):
        if flow:
            at = int(items[-1].end_mark.index)
            out.append(_Edit(at, at, "".join(", " + json.dumps(v) for v in new[len(items):])))
        else:
            column = node.start_mark.column
            at = _line_end(text, _content_end(items[-1]))
            out.append(_Edit(at, at, "\n" + " " * column + _block(new[len(items):], column)))
    elif len(new) < len(items):
        start = text.rfind("\n", 0, items[len(new)].start_mark.index) + 1
        out.append(_Edit(start, _line_end(text, _content_end(items[-1])) + 1, ""))


def _replace(text: str, node: yaml.Node, new: Any, flow: bool, out: list[_Edit]) -> None:
    start = node.start_mark.index
    if _in_flow(node, flow):
        out.append(_Edit(start, int(node.end_mark.index), json.dumps(new)))
    else:
        out.append(_Edit(start, _content_end(node), _block(new, node.start_mark.column)))


def _diff_mapping(text: str, node: yaml.MappingNode, new: JSON, flow: bool,
                  out: list[_Edit]) -> None:
    old_keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
    if len(old_keys) != len(node.value) or not set(old_keys) & set(new):
        _replace(text, node, new, flow, out)
        return
    for key_node, value_node in node.value:
        key = key_node.value
        if key in new:
            _diff(text, value_node, new[key], flow, out)
        elif flow:
            _replace(text, node, new, flow, out)
            return
        else:
            # The key's whole lines go: from its line's start to the end of its value's text.
            start = text.rfind("\n", 0, key_node.start_mark.index) + 1
            out.append(_Edit(start, _line_end(text, _content_end(value_node)) + 1, ""))
    added = {k: v for k, v in new.items() if k not in old_keys}
    if not added:
        return
    last = node.value[-1][1]
    if flow:
        at = int(last.end_mark.index)
        pieces = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in added.items()]
        out.append(_Edit(at, at, ", " + ", ".join(pieces)))
        return
    column = node.start_mark.column
    at = _line_end(text, _content_end(last))
    out.append(_Edit(at, at, "\n" + " " * column + _block(added, column)))


def _apply(text: str, edits: list[_Edit]) -> str:
    # From the end backwards; of two inserts at one place the one found later (an item
    # appended after a key added to the item before it) is applied first, so ends up last.
    ordered = sorted(enumerate(edits), key=lambda ie: (ie[1].start, ie[0]), reverse=True)
    for _, e in ordered:
        text = text[: e.start] + e.text + text[e.end:]
    return text


def set_template(text: str, kind: str, namespace: str, name: str, template: JSON) -> str:
    """`text` with `spec.template` of the named object turned into `template`."""
    doc = find_object(text, kind, namespace, name)
    spec = mapping_get(doc, "spec")
    if not isinstance(spec, yaml.MappingNode):
        raise EditError(f"{kind} {name} has no spec mapping")
    current = mapping_get(spec, "template")
    if current is None:
        raise EditError(f"{kind} {name} has no spec.template")
    edits: list[_Edit] = []
    _diff(text, current, template, bool(spec.flow_style), edits)
    return _apply(text, edits)


def template_of(text: str, kind: str, namespace: str, name: str) -> JSON:
    """The named object's `spec.template` as written in `text`."""
    doc = find_object(text, kind, namespace, name)
    spec = mapping_get(doc, "spec")
    current = mapping_get(spec, "template") if isinstance(spec, yaml.MappingNode) else None
    if current is None:
        raise EditError(f"{kind} {name} has no spec.template")
    value = _value(current)
    if not isinstance(value, dict):
        raise EditError(f"{kind} {name}: spec.template is not a mapping")
    return value
