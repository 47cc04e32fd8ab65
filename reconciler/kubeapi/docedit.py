"""Edits of one object's document in a manifest file, keeping every other byte where it can.

The text half of the API's GitOps writes (kubeapi/writes.py decides the new
object, kubeapi/sourcewrite.py writes the file). `edit_object` changes only
the scalars, keys and list items that differ between the object as written
and the object wanted, at the exact offsets of PyYAML's composed nodes (as
`reconciler scale` does with reconciler/api/manifest_edit.py): comments,
quoting, key order and the other documents stay as they were: a changed scalar
is replaced in place, a new key goes after its mapping's last one (in that
mapping's block or flow style), a removed key's line goes, new list items are
appended with the list's indentation. A change it cannot place that way (a list
that shrinks, a block mapping left empty, a scalar that becomes a mapping)
re-writes that one document; the result is always parsed back and compared
with what was wanted before it is returned.
Pure: text in, text out.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from reconciler.api.manifest_edit import EditError, find_object
from reconciler.api.types import CLUSTER_SCOPED_KINDS

JSON = Any
Splice = tuple[int, int, str]


class _Fallback(Exception):
    """This change cannot be placed byte-preserving; re-write the document."""


def dump(obj: JSON) -> str:
    """A new manifest's text: block YAML, keys in the given order."""
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=1_000_000)


def parse_object(text: str, kind: str, namespace: str, name: str) -> JSON:
    """The named object as written in `text` (plain data); EditError if absent."""
    node = find_object(text, kind, namespace, name)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def edit_object(text: str, kind: str, namespace: str, name: str, wanted: JSON) -> str:
    """`text` with the named object's document made equal to `wanted`."""
    node = find_object(text, kind, namespace, name)
    current = parse_object(text, kind, namespace, name)
    if current == wanted:
        return text
    try:
        splices: list[Splice] = []
        _diff(text, node, current, wanted, splices)
        edited = _apply(text, splices)
        if parse_object(edited, kind, namespace, name) == wanted:
            return edited
    except (_Fallback, EditError, yaml.YAMLError):
        pass
    return _rewrite(text, node, wanted)


def remove_object(text: str, kind: str, namespace: str, name: str) -> str | None:
    """`text` without the named object's document; None when nothing else is declared in it."""
    node = find_object(text, kind, namespace, name)
    start, end = node.start_mark.index, node.end_mark.index
    spans = _document_spans(text)
    for doc_start, doc_end, root_start in spans:
        if root_start == start:
            rest = text[:doc_start] + text[doc_end:]
            if not any(isinstance(d, dict) for d in yaml.safe_load_all(rest)):
                return None
            return rest
    # An item of a `kind: List` document: that document re-written without it.
    for root in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if not isinstance(root, yaml.MappingNode) or not (root.start_mark.index <= start and
                                                          end <= root.end_mark.index):
            continue
        data = yaml.safe_load(text[root.start_mark.index:root.end_mark.index])
        data["items"] = [i for i in data.get("items") or []
                         if not _is(i, kind, namespace, name)]
        if not data["items"]:
            return _without_root(text, root)
        return _rewrite(text, root, data)
    raise EditError(f'{kind} "{name}" is not declared in this file')


def _without_root(text: str, root: yaml.Node) -> str | None:
    """The file without the document of `root`; None when nothing else is left in it."""
    for doc_start, doc_end, root_start in _document_spans(text):
        if root_start == root.start_mark.index:
            rest = text[:doc_start] + text[doc_end:]
            return rest if any(isinstance(d, dict) for d in yaml.safe_load_all(rest)) else None
    # Never "nothing left": None removes the file, with every other object in it.
    raise EditError("the document to remove was not found in the file")


def _is(item: JSON, kind: str, namespace: str, name: str) -> bool:
    if not isinstance(item, dict) or item.get("kind") != kind:
        return False
    meta = item.get("metadata") or {}
    return bool(meta.get("name") == name and (
        kind in CLUSTER_SCOPED_KINDS or (meta.get("namespace") or "default") == namespace))


def _document_spans(text: str) -> list[tuple[int, int, int]]:
    """(start, end, root start) of each document, its `---` and `...` markers included."""
    spans: list[tuple[int, int, int]] = []
    start = root = -1
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        at = event.start_mark.index if event.start_mark is not None else -1
        if isinstance(event, yaml.DocumentStartEvent):
            start, root = at, -1
        elif isinstance(event, yaml.NodeEvent | yaml.CollectionStartEvent) and root < 0:
            root = at
        elif isinstance(event, yaml.DocumentEndEvent) and event.end_mark is not None:
            spans.append((start, event.end_mark.index, root))
    return spans


def _rewrite(text: str, node: yaml.Node, wanted: JSON) -> str:
    """The document (or List item) at `node` replaced by `wanted`, dumped to match its place."""
    start, end = node.start_mark.index, node.end_mark.index
    if getattr(node, "flow_style", False) or node.start_mark.column > 0:
        body = json.dumps(wanted, indent=2 if node.start_mark.column == 0 else None)
    else:
        body = dump(wanted)
    if not text[start:end].endswith("\n"):
        body = body.rstrip("\n")
    return text[:start] + body + text[end:]


def _apply(text: str, splices: list[Splice]) -> str:
    for start, end, new in sorted(splices, key=lambda s: s[0], reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _scalar_text(node: yaml.ScalarNode, value: JSON) -> str:
    if value is None or isinstance(value, dict | list):
        raise _Fallback
    if node.style == '"' or isinstance(value, bool | int | float):
        return json.dumps(value)
    out = yaml.safe_dump(value, default_flow_style=True, width=1_000_000)
    out = out.removesuffix("\n").removesuffix("\n...").removesuffix("...").strip()
    if "\n" in out:
        raise _Fallback
    return out


def _diff(text: str, node: yaml.Node, old: JSON, new: JSON, out: list[Splice]) -> None:
    if old == new:
        return
    if isinstance(node, yaml.MappingNode) and isinstance(old, dict) and isinstance(new, dict):
        _diff_mapping(text, node, old, new, out)
    elif isinstance(node, yaml.SequenceNode) and isinstance(old, list) and \
            isinstance(new, list) and len(old) == len(node.value) and len(new) >= len(old):
        for child, a, b in zip(node.value, old, new[:len(old)], strict=True):
            _diff(text, child, a, b, out)
        if len(new) > len(old):
            out.append(_append(text, node, new[len(old):]))
    elif isinstance(node, yaml.ScalarNode):
        out.append((node.start_mark.index, node.end_mark.index, _scalar_text(node, new)))
    else:
        raise _Fallback


def _diff_mapping(text: str, node: yaml.MappingNode, old: dict[str, Any], new: dict[str, Any],
                  out: list[Splice]) -> None:
    removed = [k for k in old if k not in new]
    added = {k: v for k, v in new.items() if k not in old}
    if removed and len(removed) == len(old) and not added:
        if not node.flow_style:
            raise _Fallback  # a block mapping left empty needs `{}` in its key's place
        out.append((node.start_mark.index, node.end_mark.index, "{}"))
        return
    for i, (key_node, value_node) in enumerate(node.value):
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key in removed:
            out.append(_flow_removal(node, i) if node.flow_style else
                       _removal(text, key_node, value_node))
        elif key in new:
            _diff(text, value_node, old[key], new[key], out)
    if added:
        out.append(_insertion(text, node, added))


def _flow_removal(node: yaml.MappingNode, i: int) -> Splice:
    """`{a: 1, b: 2}` without item i: up to the next key, or (the last) from the value before."""
    key, value = node.value[i]
    if i + 1 < len(node.value):
        return (key.start_mark.index, node.value[i + 1][0].start_mark.index, "")
    return (node.value[i - 1][1].end_mark.index, value.end_mark.index, "")


def _removal(text: str, key: yaml.Node, value: yaml.Node) -> Splice:
    line_start = text.rfind("\n", 0, key.start_mark.index) + 1
    if text[line_start:key.start_mark.index].strip():
        raise _Fallback  # not the first thing on its line (`- name: x` item)
    end = value.end_mark.index
    if text[end - 1:end] != "\n":
        line_end = text.find("\n", end)
        tail = text[end:] if line_end < 0 else text[end:line_end]
        if tail.strip() and not tail.strip().startswith("#"):
            raise _Fallback
        end = len(text) if line_end < 0 else line_end + 1
    return (line_start, end, "")


def _line_after(text: str, node: yaml.Node) -> int:
    """Where a new line placed after `node` starts (a block collection already ends there)."""
    end = node.end_mark.index
    if text[end - 1:end] == "\n" or end == 0:
        return end
    line_end = text.find("\n", end)
    return len(text) if line_end < 0 else line_end + 1


def _block(text: str, at: int, lines: list[str]) -> Splice:
    block = "".join(line + "\n" for line in lines)
    if at == len(text) and not text.endswith("\n"):
        block = "\n" + block
    return (at, at, block)


def _flow(items: dict[str, Any], as_json: bool) -> str:
    """`a: 1, b: {c: d}`: mapping items in flow style, JSON when the file is JSON."""
    if as_json:
        return ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items.items())
    text = yaml.safe_dump(items, default_flow_style=True, sort_keys=False, width=1_000_000)
    return text.strip()[1:-1]


def _insertion(text: str, node: yaml.MappingNode, added: dict[str, Any]) -> Splice:
    """New keys placed after the mapping's last value, in its own style."""
    if not node.value:
        if not node.flow_style:
            raise _Fallback
        return (node.start_mark.index, node.end_mark.index, "{" + _flow(added, False) + "}")
    first_key = node.value[0][0]
    if node.flow_style:
        at = node.value[-1][1].end_mark.index
        return (at, at, ", " + _flow(added, first_key.style == '"'))
    indent = " " * first_key.start_mark.column
    at = _line_after(text, node.value[-1][1])
    return _block(text, at, [indent + line for line in dump(added).rstrip("\n").split("\n")])


def _append(text: str, node: yaml.SequenceNode, items: list[Any]) -> Splice:
    """New items after a block sequence's last item, with its dash's indentation."""
    if node.flow_style or not node.value:
        raise _Fallback
    first = node.value[0]
    line_start = text.rfind("\n", 0, first.start_mark.index) + 1
    prefix = text[line_start:first.start_mark.index]
    if not prefix.strip() == "-":
        raise _Fallback
    dash = " " * prefix.index("-")
    lines: list[str] = []
    for item in items:
        dumped = dump([item]).rstrip("\n").split("\n")
        lines += [dash + line for line in dumped]
    return _block(text, _line_after(text, node.value[-1]), lines)
