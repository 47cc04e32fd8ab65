"""Node selector terms: does a node's label set satisfy a pod's nodeSelector and nodeAffinity.

Shared by the scheduler's NodeAffinity filter and score (`reconciler.scheduling.
node_affinity`) and the DaemonSet planner (`reconciler.planning.daemonset_nodes`),
which must agree on where a pod may go. Mirrors k8s.io/component-helpers
nodeaffinity: a term's matchExpressions are parsed by the one selector matcher
(`reconciler.api.selectors`, with the Gt and Lt of NodeSelectorRequirement), its
matchFields are In or NotIn on metadata.name; a term's requirements are ANDed,
terms ORed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.api import selectors
from reconciler.api.types import JSON

NAME_FIELD = "metadata.name"
_FIELD_OPERATORS: dict[str, selectors.Operator] = {"In": "in", "NotIn": "notin"}


def _fields_match(fields: Sequence[Mapping[str, Any]], name: str) -> bool:
    # nodeSelectorRequirementsAsFieldSelector: In or NotIn with exactly one value, on
    # metadata.name (the one field a node offers); anything else is a parse error.
    for f in fields:
        op = _FIELD_OPERATORS.get(str(f.get("operator", "")))
        values = [str(v) for v in f.get("values") or []]
        if op is None or len(values) != 1 or f.get("key") != NAME_FIELD:
            return False
        if not selectors.Requirement(NAME_FIELD, op, tuple(values)).matches({NAME_FIELD: name}):
            return False
    return True


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """A NodeSelectorTerm: its expressions and fields all hold; an empty term matches none."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if exprs:
        try:
            matcher = selectors.from_node_selector_requirements(exprs)
        except selectors.SelectorError:
            return False  # a term that does not parse matches no node, as in Kubernetes
        if not matcher.matches(labels):
            return False
    return _fields_match(fields, name)


def node_affinity(spec: JSON) -> JSON:
    """spec.affinity.nodeAffinity, {} when absent."""
    return dict((spec.get("affinity") or {}).get("nodeAffinity") or {})


def selector_matches(spec: JSON, labels: Mapping[str, str]) -> bool:
    """The nodeSelector map: every pair a label of the node."""
    return all(labels.get(k) == str(v) for k, v in (spec.get("nodeSelector") or {}).items())


def required_terms_match(spec: JSON, labels: Mapping[str, str], name: str) -> bool:
    """requiredDuringSchedulingIgnoredDuringExecution: any one term holds (none given: true)."""
    required = node_affinity(spec).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    terms: Sequence[Mapping[str, Any]] = required.get("nodeSelectorTerms") or []
    return any(term_matches(t, labels, name) for t in terms)


def required_affinity_matches(spec: JSON, labels: Mapping[str, str], name: str) -> bool:
    """nodeaffinity.GetRequiredNodeAffinity(pod).Match: the nodeSelector map and the
    requiredDuringSchedulingIgnoredDuringExecution terms (any one term) both hold."""
    return selector_matches(spec, labels) and required_terms_match(spec, labels, name)


def preferred_weight(spec: JSON, labels: Mapping[str, str], name: str) -> int:
    """The sum of the weights of the preferred terms the node matches (NodeAffinity's Score)."""
    total = 0
    for pref in node_affinity(spec).get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        weight = int(pref.get("weight") or 0)
        if weight and term_matches(pref.get("preference") or {}, labels, name):
            total += weight
    return total
