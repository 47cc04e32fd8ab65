"""Node selector terms: does a node's label set satisfy a pod's nodeSelector and nodeAffinity.

Shared by the scheduler's NodeAffinity filter and score (`reconciler.scheduling.
node_affinity`) and the DaemonSet planner (`reconciler.planning.daemonset_nodes`),
which must agree on where a pod may go. Mirrors k8s.io/component-helpers
nodeaffinity (NodeSelectorRequirement operators In, NotIn, Exists, DoesNotExist,
Gt, Lt; a term's requirements ANDed, terms ORed; matchFields on metadata.name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.api.types import JSON


def expression_matches(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One NodeSelectorRequirement (In, NotIn, Exists, DoesNotExist, Gt, Lt)."""
    key = str(expr.get("key", ""))
    op = str(expr.get("operator", ""))
    values = [str(v) for v in expr.get("values") or []]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False  # an unknown operator matches nothing, as a parse error does


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """A NodeSelectorTerm: its expressions and fields all hold; an empty term matches none."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if not all(expression_matches(e, labels) for e in exprs):
        return False
    # metadata.name is the one field a node selector term may name.
    return all(f.get("key") == "metadata.name"
               and expression_matches({**f, "key": "name"}, {"name": name})
               for f in fields)


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
