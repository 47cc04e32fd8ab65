"""Validating one parsed document: kind, fields, schema, defaults, semantic rules.

The step after reconciler.manifests.parse and before the cross-file checks of
reconciler.manifests.crossfile; called by reconciler.manifests.loader for each
document of each changed file. A `kind: List` document gives one object per item.
A document with an error gives no object (its findings become Diagnostics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from jsonschema import ValidationError

from reconciler.api.defaults import content_hash, default_in_place
from reconciler.api.types import JSON, DesiredObject, Diagnostic, Key, Position, Severity
from reconciler.manifests import configkinds, effects, fastcheck, kinds, names, schemas
from reconciler.manifests.fields import Finding, Path_, check_fields, path_text
from reconciler.manifests.parse import Document
from reconciler.manifests.positions import locate
from reconciler.manifests.semantic import check_object

_SELECTOR_REQUIRED = ("ReplicaSet", "Deployment", "StatefulSet", "DaemonSet")


@dataclass
class Located:
    """A DesiredObject and where its body sits in its document (a List item has a prefix)."""

    obj: DesiredObject
    prefix: Path_ = ()


@dataclass
class DocumentResult:
    """Objects and diagnostics of one document."""

    objects: list[Located] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "object"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _schema_message(error: ValidationError) -> tuple[Path_, str]:
    path: Path_ = tuple(error.absolute_path)
    v = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        return (*path, missing), "required field is missing"
    if v == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return path, f"must be of type {wanted} (got {_type_name(value)} {_short(value)})"
    if v == "enum":
        choices = ", ".join(str(c) for c in expected)
        return path, f"must be one of {choices} (got {_short(value)})"
    if v == "pattern":
        if path and path[0] == "spec" and path[-1] == "engine":
            return path, names.engine_url(str(value))
        return path, names.quantity(value) or f"{_short(value)} does not match {expected}"
    if v in ("minimum", "maximum"):
        word = "at least" if v == "minimum" else "at most"
        return path, f"must be {word} {expected} (got {_short(value)})"
    if v == "minItems":
        return path, f"must have at least {expected} item(s)"
    if v == "minLength":
        return path, "must not be empty"
    if v == "maxLength":
        return path, f"must be no more than {expected} characters (got {len(value)})"
    if v == "const":
        return path, f"must be {expected!r}"
    return path, error.message


def _validate_object(body: JSON, kind_info: kinds.KindInfo) -> tuple[list[Finding], JSON | None]:
    findings: list[Finding] = []
    deprecated = kinds.deprecation(kind_info, str(body.get("apiVersion")))
    if deprecated:
        findings.append(Finding("warning", ("apiVersion",), deprecated))
    if (kind_info.kind in _SELECTOR_REQUIRED and body.get("apiVersion") == "apps/v1"
            and isinstance(body.get("spec"), dict) and "selector" not in body["spec"]):
        findings.append(Finding("error", ("spec", "selector"),
                                "required field is missing (apps/v1 does not default it)"))
    findings += check_fields(body, schemas.field_tree(kind_info.schema), kind_info.k8s_type)
    if not fastcheck.checker(kind_info.schema)(body):
        for error in schemas.validator(kind_info.schema).iter_errors(body):
            path, message = _schema_message(error)
            findings.append(Finding("error", path, message))
    findings = configkinds.redact(kind_info.kind, findings)
    if any(f.severity == "error" for f in findings):
        return findings, None
    # Before defaulting: only what the user wrote can be "accepted with no effect".
    findings += effects.check(kind_info.kind, body)
    # The body was built for this document alone: defaulting it in place saves a deep copy.
    defaulted = default_in_place(body)
    findings += check_object(defaulted)
    if any(f.severity == "error" for f in findings):
        return findings, None
    return findings, defaulted


class DocumentValidator:
    """Validates the documents of one file; `node_of` gives positions lazily (JSON has none)."""

    def __init__(self, file: str, node_of: Any) -> None:
        self.file = file
        self._node_of = node_of

    def position(self, doc: Document, path: Path_, at_key: bool = False) -> Position:
        line, column = locate(self._node_of(doc), path, at_key)
        return Position(self.file, line, column, doc.index)

    def diagnostic(self, doc: Document, severity: str, path: Path_, message: str,
                   at_key: bool = False) -> Diagnostic:
        sev: Severity = "error" if severity == "error" else "warning"
        return Diagnostic(sev, self.position(doc, path, at_key), path_text(path), message)

    def validate(self, doc: Document) -> DocumentResult:
        """Objects and diagnostics of one document."""
        result = DocumentResult()
        value = doc.value
        if not isinstance(value, dict):
            result.diagnostics.append(self.diagnostic(
                doc, "error", (), f"a document must be an object with apiVersion and kind "
                f"(got {_type_name(value)})"))
            return result
        if value.get("kind") == "List" and value.get("apiVersion") == "v1":
            items = value.get("items")
            if not isinstance(items, list):
                result.diagnostics.append(self.diagnostic(
                    doc, "error", ("items",), "a List needs items (a list of objects)"))
                return result
            for i, item in enumerate(items):
                self._one(doc, item, ("items", i), result)
            return result
        self._one(doc, value, (), result)
        return result

    def _one(self, doc: Document, body: Any, prefix: Path_, result: DocumentResult) -> None:
        if not isinstance(body, dict):
            result.diagnostics.append(self.diagnostic(
                doc, "error", prefix, f"an item must be an object (got {_type_name(body)})"))
            return
        info, where, problem = kinds.lookup(body.get("apiVersion"), body.get("kind"))
        if info is None:
            result.diagnostics.append(self.diagnostic(doc, "error", (*prefix, where), problem))
            return
        findings, defaulted = _validate_object(body, info)
        for f in findings:
            result.diagnostics.append(self.diagnostic(doc, f.severity, (*prefix, *f.path),
                                                      f.message, f.at_key))
        if defaulted is None:
            return
        meta = defaulted["metadata"]
        namespace = "" if info.cluster_scoped else meta["namespace"]
        key = Key(info.kind, namespace, meta["name"])
        obj = DesiredObject(key, defaulted, self.position(doc, prefix) if prefix else
                            Position(self.file, doc.line, doc.column, doc.index),
                            content_hash(defaulted), effects.notes(findings))
        result.objects.append(Located(obj, prefix))


def json_node_of(text: str) -> Any:
    """A lazy `node_of` for JSON files: composes the text as YAML only when a position is needed."""
    cache: list[yaml.Node | None] = []

    def node_of(doc: Document) -> yaml.Node | None:
        if doc.node is not None:
            return doc.node
        if not cache:
            from reconciler.manifests.positions import compose_documents
            nodes = compose_documents(text)
            cache.append(nodes[0] if nodes else None)
        return cache[0]

    return node_of
