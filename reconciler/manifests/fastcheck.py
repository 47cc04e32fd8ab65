"""A fast yes/no check of a document against our JSON Schemas, compiled from the same files.

Used by reconciler.manifests.document before jsonschema: a document that passes
is valid; one that fails goes to the jsonschema validator (the reference) for its
error messages. jsonschema walks about 40 schema nodes per field of a manifest,
which made it most of the cost of a cold load of 10,000 files; this check does
one closure call per field. It implements exactly the keywords our schemas use
and refuses to compile any other, so a schema edit cannot make the two disagree
silently (tests compare both on the real corpus and on generated documents).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from reconciler.manifests.schemas import raw_schema

Check = Callable[[Any], bool]

# Keywords that say nothing about validity.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "$comment"})
_SUPPORTED = frozenset({
    "$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "pattern", "minimum", "maximum", "minItems", "minLength", "maxLength",
})


def _is_type(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float)
    raise ValueError(f"unknown JSON Schema type {name!r}")


_PLAIN = {"string": str, "object": dict, "array": list, "boolean": bool, "null": type(None)}


def _type_check(types: tuple[str, ...]) -> Check:
    """One closure per type list; the common single types need no loop."""
    for name in types:
        if name not in _PLAIN and name not in ("integer", "number"):
            raise ValueError(f"unknown JSON Schema type {name!r}")
    if len(types) == 1 and types[0] in _PLAIN:
        cls = _PLAIN[types[0]]
        return lambda v: v.__class__ is cls or isinstance(v, cls)
    return lambda v: any(_is_type(v, n) for n in types)


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda v: a(v) and b(v)
    return lambda v: all(c(v) for c in checks)


def _same(a: Any, b: Any) -> bool:
    """JSON Schema equality: 1 == 1.0, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


class _Compiler:
    def __init__(self) -> None:
        self._memo: dict[tuple[str, str], Check] = {}

    def ref(self, doc: str, target: str) -> Check:
        file, _, pointer = target.partition("#")
        doc = file or doc
        key = (doc, pointer)
        if key not in self._memo:
            # A forward cell, so a recursive schema would still compile.
            cell: list[Check] = []
            self._memo[key] = lambda v: cell[0](v)
            node = raw_schema(doc)
            for part in pointer.strip("/").split("/"):
                if part:
                    node = node[part]
            cell.append(self.compile(doc, node))
            self._memo[key] = cell[0]
        return self._memo[key]

    def compile(self, doc: str, node: dict[str, Any]) -> Check:
        unknown = set(node) - _SUPPORTED - _ANNOTATIONS
        if unknown:
            raise ValueError(f"fastcheck does not implement {sorted(unknown)} ({doc})")
        checks: list[Check] = []
        if "$ref" in node:
            checks.append(self.ref(doc, node["$ref"]))
        if "type" in node:
            types = tuple(node["type"] if isinstance(node["type"], list) else [node["type"]])
            checks.append(_type_check(types))
        if "enum" in node:
            choices = list(node["enum"])
            checks.append(lambda v: any(_same(v, c) for c in choices))
        if "const" in node:
            const = node["const"]
            checks.append(lambda v: _same(v, const))
        checks += self._strings(node) + self._numbers(node) + self._arrays(doc, node)
        checks += self._objects(doc, node)
        return _all_of(checks)

    def _strings(self, node: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "pattern" in node:
            search = re.compile(node["pattern"]).search
            out.append(lambda v: not isinstance(v, str) or search(v) is not None)
        if "minLength" in node:
            low = node["minLength"]
            out.append(lambda v: not isinstance(v, str) or len(v) >= low)
        if "maxLength" in node:
            high = node["maxLength"]
            out.append(lambda v: not isinstance(v, str) or len(v) <= high)
        return out

    def _numbers(self, node: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        number = (int, float)
        if "minimum" in node:
            low = node["minimum"]
            out.append(lambda v: not isinstance(v, number) or isinstance(v, bool) or v >= low)
        if "maximum" in node:
            high = node["maximum"]
            out.append(lambda v: not isinstance(v, number) or isinstance(v, bool) or v <= high)
        return out

    def _arrays(self, doc: str, node: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "minItems" in node:
            low = node["minItems"]
            out.append(lambda v: not isinstance(v, list) or len(v) >= low)
        if isinstance(node.get("items"), dict):
            item = self.compile(doc, node["items"])
            out.append(lambda v: not isinstance(v, list) or all(item(i) for i in v))
        return out

    def _objects(self, doc: str, node: dict[str, Any]) -> list[Check]:
        props = {k: self.compile(doc, s) for k, s in (node.get("properties") or {}).items()}
        required = tuple(node.get("required") or ())
        extra = node.get("additionalProperties", True)
        extra_check = self.compile(doc, extra) if isinstance(extra, dict) else None
        if not props and not required and extra is True:
            return []

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key in required:
                if key not in v:
                    return False
            for key, value in v.items():
                prop = props.get(key)
                if prop is not None:
                    if not prop(value):
                        return False
                elif extra is False or (extra_check is not None and not extra_check(value)):
                    return False
            return True

        return [check]


@cache
def checker(schema_name: str) -> Check:
    """A compiled yes/no check for one kind's schema file, cached."""
    return _Compiler().compile(schema_name, raw_schema(schema_name))
