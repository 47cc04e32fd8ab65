"""Reading one manifest file: bytes to documents, within limits, keeping line and column.

The first step of loading (reconciler.manifests.loader calls `parse_file`, then
reconciler.manifests.document validates each document). Safe YAML only; JSON
files go through `json` (faster, and exact JSON semantics). Limits are checked on
the composed node graph before any value is constructed, so an alias bomb is
refused in time and memory proportional to the file, not to its expansion.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is part of the PyYAML wheels
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True)
class Limits:
    """Bounds on what one manifest file may hold; each refusal says which bound."""

    max_file_bytes: int = 1024 * 1024
    max_documents: int = 500
    max_depth: int = 64
    # Nodes of a document once aliases are expanded (a "billion laughs" file has 10**9), and
    # of a file as written: 1 MiB of `[1,1,...]` is 500,000 of them, 3 s of CPU to build,
    # while the largest real manifests have a few thousand.
    max_nodes: int = 200_000


class ParseError(Exception):
    """A file that cannot be read as manifests; line and column are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1, document: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.document = document


@dataclass
class Document:
    """One document of a file: its value and, for YAML, the composed node (for positions)."""

    index: int
    value: Any
    node: yaml.Node | None
    line: int = 1  # where the document starts, 1-based
    column: int = 1


@dataclass
class ParsedFile:
    """What a file held: its documents (null documents dropped) and its text."""

    documents: list[Document] = field(default_factory=list)
    text: str = ""


def decode(data: bytes, limits: Limits) -> str:
    """Text of a manifest file, or ParseError for oversized, binary or non-UTF-8 content.

    As kubectl reads files (`unicode.BOMOverride`): UTF-8 with or without a BOM, and
    UTF-16 little- or big-endian when a BOM says so; anything else with NUL bytes is binary.
    """
    if len(data) > limits.max_file_bytes:
        raise ParseError(f"file is too large: {len(data)} bytes (limit {limits.max_file_bytes})")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")  # the BOM picks the byte order and is dropped
        except UnicodeDecodeError as e:
            raise ParseError(f"not UTF-16 text (invalid bytes at offset {e.start})") from None
    if b"\x00" in data:
        raise ParseError("binary file (contains NUL bytes); not a manifest")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ParseError(f"not UTF-8 text (invalid byte 0x{data[e.start]:02x})",
                         line, column) from None


def _mark_error(e: yaml.MarkedYAMLError, document: int) -> ParseError:
    mark = e.problem_mark or e.context_mark
    problem = e.problem or e.context or "invalid YAML"
    context = f" ({e.context})" if e.context and e.problem else ""
    if mark is None:
        return ParseError(f"invalid YAML: {problem}{context}", document=document)
    return ParseError(f"invalid YAML: {problem}{context}", mark.line + 1, mark.column + 1,
                      document)


def _check_node(root: yaml.Node, limits: Limits, document: int) -> None:
    """Depth and expanded size of one composed document with aliases, without recursion."""
    sizes: dict[int, int] = {}
    # (node, depth, children_done): post-order, so a shared (aliased) node is sized once.
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if id(node) in sizes and not done:
            continue
        if depth > limits.max_depth:
            raise _limit(node, f"nesting is too deep (limit {limits.max_depth} levels)", document)
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = list(_children(node))
        if not done:
            stack.append((node, depth, True))
            stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
            continue
        size = 1 + sum(sizes.get(id(c), 1) for c in children)
        sizes[id(node)] = size
        if size > limits.max_nodes:
            raise _limit(node, f"document expands to more than {limits.max_nodes} nodes "
                         "(alias expansion or size limit)", document)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield k
            yield v
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _limit(node: yaml.Node, message: str, document: int) -> ParseError:
    m = node.start_mark
    return ParseError(message, m.line + 1, m.column + 1, document)


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
# Kubernetes reads YAML into JSON: timestamps and binary stay the text they were written as.
_AS_TEXT = frozenset({"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"})
_SCALARS = frozenset({"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool",
                      "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


class _Builder:
    """Plain JSON-like values from composed nodes, checking depth and duplicate keys on the way.

    Faster than PyYAML's constructor, and closer to Kubernetes: mapping keys are
    the text they were written as (`80:` is the key "80"), timestamps stay text.
    Aliased nodes are built once and shared (`memo`), as PyYAML does.
    """

    def __init__(self, loader: Any, limits: Limits, document: int, shared: bool) -> None:
        self.loader = loader
        self.limits = limits
        self.document = document
        self.memo: dict[int, Any] | None = {} if shared else None

    def build(self, node: yaml.Node, depth: int = 1) -> Any:
        if depth > self.limits.max_depth:
            raise _limit(node, f"nesting is too deep (limit {self.limits.max_depth} levels)",
                         self.document)
        if isinstance(node, yaml.ScalarNode):
            tag = node.tag
            if tag == _STR or tag in _AS_TEXT:
                return node.value
            if tag in _SCALARS:
                return self.loader.construct_object(node)
            raise _limit(node, f"unsupported YAML tag {tag!r}", self.document)
        memo = self.memo
        if memo is not None and id(node) in memo:
            return memo[id(node)]
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise _limit(node, f"unsupported YAML tag {node.tag!r}", self.document)
            seq = [self.build(child, depth + 1) for child in node.value]
            if memo is not None:
                memo[id(node)] = seq
            return seq
        assert isinstance(node, yaml.MappingNode)
        if node.tag != "tag:yaml.org,2002:map":
            raise _limit(node, f"unsupported YAML tag {node.tag!r}", self.document)
        if any(k.tag == _MERGE for k, _ in node.value):
            self.loader.flatten_mapping(node)  # `<<: *base`, as Kubernetes' YAML reader allows
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _limit(key_node, "a mapping key must be a plain value", self.document)
            key = key_node.value
            if key in out:
                raise _limit(key_node, f"duplicate key {key!r}", self.document)
            out[key] = self.build(value_node, depth + 1)
        if memo is not None:
            memo[id(node)] = out
        return out


# Below this size a file cannot hold enough nodes to be slow: no pre-scan.
_SCAN_ABOVE = 64 * 1024


def _count_nodes(text: str, limits: Limits) -> None:
    """Refuse a file of too many nodes from libyaml's events alone (0.5 s for 500,000), before
    composing them (2 s: the resolver is Python) and building values (1 s more)."""
    count = 0
    index = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                index += 1
            count += 1
            if count > limits.max_nodes:
                m = event.start_mark
                line, column = (m.line + 1, m.column + 1) if m is not None else (1, 1)
                raise ParseError(f"file has more than {limits.max_nodes} nodes (size limit)",
                                 line, column, max(index - 1, 0))
    except yaml.YAMLError:
        return  # the parse proper reports it, with its position


def _parse_yaml(text: str, limits: Limits) -> list[Document]:
    if len(text) > _SCAN_ABOVE:
        _count_nodes(text, limits)
    loader = _Loader(text)
    documents: list[Document] = []
    # Without anchors there are no aliases: nothing can expand beyond the text itself.
    anchored = "&" in text
    index = 0
    try:
        while loader.check_node():
            if index >= limits.max_documents:
                raise ParseError(f"too many documents (limit {limits.max_documents})",
                                 document=index)
            node = loader.get_node()
            if node is not None:
                if anchored:
                    _check_node(node, limits, index)
                value = _Builder(loader, limits, index, anchored).build(node)
                if value is not None:
                    m = node.start_mark
                    documents.append(Document(index, value, node, m.line + 1, m.column + 1))
            index += 1
    except yaml.MarkedYAMLError as e:
        raise _mark_error(e, index) from None
    except yaml.YAMLError as e:
        raise ParseError(f"invalid YAML: {e}", document=index) from None
    except RecursionError:
        raise ParseError(f"nesting is too deep (limit {limits.max_depth} levels)",
                         document=index) from None
    finally:
        loader.dispose()
    return documents


def _depth(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return False
        if isinstance(v, dict):
            stack.extend((c, d + 1) for c in v.values())
        elif isinstance(v, list):
            stack.extend((c, d + 1) for c in v)
    return True


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _duplicate_at(text: str, key: str, limits: Limits) -> ParseError:
    """Where a JSON file repeats a key: the YAML reading of the same text says (JSON is YAML)."""
    try:
        _parse_yaml(text, limits)
    except ParseError as e:
        if "duplicate key" in e.message:
            return e
    return ParseError(f"duplicate key {key!r}")


def _parse_json(text: str, limits: Limits) -> list[Document]:
    try:
        # Go's JSON keeps the last of two equal keys; the apiserver's strict decoding and
        # kubectl refuse them, as the YAML reader here does.
        value = json.loads(text, object_pairs_hook=_unique)
    except _DuplicateKey as e:
        raise _duplicate_at(text, e.key, limits) from None
    except json.JSONDecodeError as e:
        raise ParseError(f"invalid JSON: {e.msg}", e.lineno, e.colno) from None
    except RecursionError:
        raise ParseError(f"nesting is too deep (limit {limits.max_depth} levels)") from None
    if not _depth(value, limits.max_depth):
        raise ParseError(f"nesting is too deep (limit {limits.max_depth} levels)")
    if value is None:
        return []
    return [Document(0, value, None)]


def parse_text(text: str, name: str, limits: Limits) -> ParsedFile:
    """Documents of one file's text; JSON when the name ends in .json, else YAML."""
    if not text.strip():
        raise ParseError("file is empty: no objects")
    parse = _parse_json if name.endswith(".json") else _parse_yaml
    parsed = ParsedFile(parse(text, limits), text)
    if not parsed.documents:
        raise ParseError("file holds no objects (only empty documents or comments)")
    return parsed


def parse_file(data: bytes, name: str, limits: Limits) -> ParsedFile:
    """Documents of one file's bytes (see `decode` and `parse_text`)."""
    return parse_text(decode(data, limits), name, limits)
