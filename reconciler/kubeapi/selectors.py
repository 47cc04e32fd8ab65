"""The `labelSelector` and `fieldSelector` query parameters of a list (and watch).

Used by `app.py` and watch.py. Label selectors are the project's own parser
(`reconciler.api.selectors`, set-based included). Field selectors follow the
API server: `a=b`, `a==b`, `a!=b` joined by commas, on the fields each kind
supports (`metadata.name` and `metadata.namespace` everywhere, `spec.nodeName`
and `status.phase` on pods, `involvedObject.*` on events...); any other field
is a 400 BadRequest "field label not supported", as Kubernetes answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.api.selectors import LabelPredicate, SelectorError, parse
from reconciler.kubeapi.resources import Resource

JSON = dict[str, Any]
ObjectPredicate = Callable[[JSON], bool]

COMMON_FIELDS = ("metadata.name", "metadata.namespace")
# Per kind, the fields its API server indexes (the kubectl-relevant ones of Kubernetes').
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
            "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion",
              "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"),
    "Secret": ("type",),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "ReplicaSet": ("status.replicas",),
    "ReplicationController": ("status.replicas",),
    "Job": ("status.successful",),
}


class FieldSelectorError(ValueError):
    """A field selector the kind does not support, or that does not parse."""


@dataclass(frozen=True)
class FieldTerm:
    """One `field=value` (equal) or `field!=value` (not equal) term."""

    field: str
    value: str
    equal: bool

    def matches(self, obj: JSON) -> bool:
        return (field_value(obj, self.field) == self.value) == self.equal


def label_predicate(text: str | None) -> LabelPredicate | None:
    """The `labelSelector` parameter as a predicate on labels; None when empty."""
    if not text:
        return None
    try:
        return parse(text).matches
    except SelectorError as exc:
        raise FieldSelectorError(f"unable to parse requirement: {exc}") from None


def field_value(obj: JSON, path: str) -> str:
    """The text a field selector compares: "" for a missing field, booleans as true/false."""
    if path == "source":  # events: the reporting component
        path = "source.component"
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        if path == "metadata.namespace":
            return ""
        return "false" if path in ("spec.hostNetwork", "spec.unschedulable") else ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_fields(resource: Resource, text: str | None) -> list[FieldTerm]:
    """The `fieldSelector` parameter's terms; FieldSelectorError for what Kubernetes refuses."""
    if not text:
        return []
    allowed = set(COMMON_FIELDS) | set(KIND_FIELDS.get(resource.kind, ()))
    terms = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        term = _term(part)
        if term is None:
            raise FieldSelectorError(f'invalid selector: "{text}"; can\'t understand "{part}"')
        if term.field not in allowed:
            raise FieldSelectorError(f"field label not supported: {term.field}")
        terms.append(term)
    return terms


def _term(part: str) -> FieldTerm | None:
    for op, equal in (("!=", False), ("==", True), ("=", True)):
        if op in part:
            field, value = part.split(op, 1)
            return FieldTerm(field.strip(), value.strip(), equal)
    return None


def field_predicate(resource: Resource, text: str | None) -> ObjectPredicate | None:
    """The `fieldSelector` parameter as a predicate on objects; None when empty."""
    terms = parse_fields(resource, text)
    if not terms:
        return None
    return lambda obj: all(t.matches(obj) for t in terms)


def name_from_fields(resource: Resource, text: str | None) -> str | None:
    """The one name `metadata.name=x` asks for (kubectl's `get pod x -w`), else None."""
    names = [t.value for t in parse_fields(resource, text)
             if t.field == "metadata.name" and t.equal]
    return names[0] if len(names) == 1 else None
