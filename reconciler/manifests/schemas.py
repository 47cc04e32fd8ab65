"""The project's JSON Schemas (reconciler/schemas/): compiled validators and field trees, per kind.

Used by reconciler.manifests.document: the field tree says which fields we implement
(everything else is reported by reconciler.manifests.fields), then the compiled
Draft 2020-12 validator checks types, enums and required fields. Both are built
once per kind, on first use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMAS_ENV = "RECONCILER_SCHEMAS"


def schemas_dir() -> Path:
    """Where the schemas are: $RECONCILER_SCHEMAS, else reconciler/schemas/ in the package.

    Inside the package (package data in pyproject.toml), so that an installed wheel
    validates as the checkout does.
    """
    env = os.environ.get(SCHEMAS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "schemas"


@cache
def _raw(name: str) -> dict[str, Any]:
    with open(schemas_dir() / name, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def raw_schema(name: str) -> dict[str, Any]:
    """The parsed JSON of one schema file (cached; do not modify)."""
    return _raw(name)


@cache
def _registry() -> Registry[Any]:
    resources = [
        (p.name, Resource.from_contents(_raw(p.name), default_specification=DRAFT202012))
        for p in sorted(schemas_dir().glob("*.json"))
    ]
    return Registry().with_resources(resources)


@cache
def validator(schema_name: str) -> Draft202012Validator:
    """A compiled validator for one kind's schema file, cached."""
    schema = dict(_raw(schema_name))
    # An $id makes the relative "defs.json#/..." references resolve in the registry.
    schema["$id"] = schema_name
    return Draft202012Validator(schema, registry=_registry())


@dataclass
class FieldTree:
    """The fields a schema node allows: named properties, list items, or map values."""

    props: dict[str, FieldTree] | None = None
    items: FieldTree | None = None
    values: FieldTree | None = None  # additionalProperties as a schema: a map
    names: frozenset[str] = field(default_factory=frozenset)
    # `additionalProperties: true` written out: other keys are allowed and kept unchecked
    # (the loose schemas of apiVersions Kubernetes no longer serves).
    open: bool = False


def _resolve(doc: str, node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    while "$ref" in node:
        target: str = node["$ref"]
        file, _, pointer = target.partition("#")
        doc = file or doc
        node = _raw(doc)
        for part in pointer.strip("/").split("/"):
            if part:
                node = node[part]
    return doc, node


def _compile(doc: str, node: dict[str, Any], memo: dict[int, FieldTree]) -> FieldTree:
    doc, node = _resolve(doc, node)
    if id(node) in memo:
        return memo[id(node)]
    tree = FieldTree()
    memo[id(node)] = tree
    if "properties" in node:
        tree.props = {k: _compile(doc, v, memo) for k, v in node["properties"].items()}
        tree.names = frozenset(tree.props)
    extra = node.get("additionalProperties")
    tree.open = extra is True
    if isinstance(extra, dict):
        tree.values = _compile(doc, extra, memo)
    if isinstance(node.get("items"), dict):
        tree.items = _compile(doc, node["items"], memo)
    return tree


@cache
def field_tree(schema_name: str) -> FieldTree:
    """The implemented-field tree of one kind's schema file, cached."""
    return _compile(schema_name, _raw(schema_name), {})
