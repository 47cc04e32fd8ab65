"""Semantic rules for a pod spec's nodeAffinity: node selector terms, as the apiserver checks them.

Called by reconciler.manifests.podrules for a Pod and every pod template, on
defaulted bodies (the schema has already checked types, the operator names and
a preferred term's weight of 1-100). Mirrors Kubernetes' ValidateNodeSelector,
ValidateNodeSelectorRequirement, ValidateNodeFieldSelectorRequirement and
ValidatePreferredSchedulingTerms, with their messages. A term the matcher
(reconciler.api.node_affinity) cannot parse matches no node: a DaemonSet would
run nowhere and its pods be deleted, a pod stay Pending. So each matchExpressions
requirement the rules accept is also parsed by that matcher's own parser
(`selectors.from_node_selector_requirements`), and what it refuses (a Gt or Lt
value that is no integer) is an error too; matchFields are held to the matcher's
own conditions (In or NotIn, one value, on metadata.name) and a node name's syntax.
The validator thus cannot accept a term the matcher refuses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reconciler.api.node_affinity import NAME_FIELD
from reconciler.api.selectors import SelectorError, from_node_selector_requirements
from reconciler.api.types import JSON
from reconciler.manifests import names
from reconciler.manifests.fields import Finding, Path_

_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _values(req: Mapping[str, Any]) -> list[str]:
    return [str(v) for v in req.get("values") or []]


def _check_expression(req: Mapping[str, Any], where: Path_) -> list[Finding]:
    """ValidateNodeSelectorRequirement, then the matcher's parse of what it accepts."""
    out: list[Finding] = []
    op, values = req.get("operator"), _values(req)
    if op in ("In", "NotIn") and not values:
        out.append(Finding("error", (*where, "values"), "Required value: must be specified "
                           "when `operator` is 'In' or 'NotIn'"))
    elif op in ("Exists", "DoesNotExist") and values:
        out.append(Finding("error", (*where, "values"), "Forbidden: may not be specified "
                           "when `operator` is 'Exists' or 'DoesNotExist'"))
    elif op in ("Gt", "Lt") and len(values) != 1:
        out.append(Finding("error", (*where, "values"), "Required value: must be specified "
                           "single value when `operator` is 'Lt' or 'Gt'"))
    problem = names.label_key(str(req.get("key", "")))
    if problem:
        out.append(Finding("error", (*where, "key"), f"invalid node label key: {problem}"))
    for j, value in enumerate(values):
        problem = names.label_value(value)
        if problem:
            out.append(Finding("error", (*where, "values", j),
                               f"invalid node label value: {problem}"))
    if out:
        return out
    try:
        from_node_selector_requirements([req])
    except SelectorError as e:
        return [Finding("error", where, f"invalid node selector requirement: {e} "
                        "(such a term matches no node)")]
    return []


def _check_field(req: Mapping[str, Any], where: Path_) -> list[Finding]:
    """ValidateNodeFieldSelectorRequirement: In or NotIn, one value, on metadata.name."""
    out: list[Finding] = []
    op, key, values = req.get("operator"), str(req.get("key", "")), _values(req)
    if op not in ("In", "NotIn"):
        out.append(Finding("error", (*where, "operator"), f"Invalid value: {json.dumps(op)}: "
                           "not a valid selector operator (matchFields takes In or NotIn)"))
    if len(values) != 1:
        out.append(Finding("error", (*where, "values"), "Required value: must be only one "
                           "value when `operator` is 'In' or 'NotIn' for node field selector"))
    if key != NAME_FIELD:
        out.append(Finding("error", (*where, "key"), f"Invalid value: {json.dumps(key)}: not "
                           f"a valid field selector key (only {NAME_FIELD})"))
    else:
        for j, value in enumerate(values):
            problem = names.dns1123_subdomain(value)
            if problem:
                out.append(Finding("error", (*where, "values", j), f"node name {problem}"))
    return out


def check_node_selector_term(term: Mapping[str, Any], path: Path_) -> list[Finding]:
    """ValidateNodeSelectorTerm: each matchExpressions and matchFields requirement."""
    out: list[Finding] = []
    for j, req in enumerate(term.get("matchExpressions") or []):
        out += _check_expression(req, (*path, "matchExpressions", j))
    for j, req in enumerate(term.get("matchFields") or []):
        out += _check_field(req, (*path, "matchFields", j))
    return out


def check_node_affinity(spec: JSON, path: Path_) -> list[Finding]:
    """spec.affinity.nodeAffinity of a pod spec at `path`: required and preferred terms."""
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    where: Path_ = (*path, "affinity", "nodeAffinity")
    out: list[Finding] = []
    required = affinity.get(_REQUIRED)
    if isinstance(required, dict):
        terms_path: Path_ = (*where, _REQUIRED, "nodeSelectorTerms")
        terms = required.get("nodeSelectorTerms") or []
        if not terms:
            out.append(Finding("error", terms_path,
                               "Required value: must have at least one node selector term"))
        for i, term in enumerate(terms):
            out += check_node_selector_term(term, (*terms_path, i))
            if not term.get("matchExpressions") and not term.get("matchFields"):
                # Valid for the apiserver, but a term with no requirement matches no node.
                out.append(Finding("warning", (*terms_path, i), "an empty node selector term "
                                   "(no matchExpressions, no matchFields) matches no node"))
    for i, pref in enumerate(affinity.get(_PREFERRED) or []):
        out += check_node_selector_term(pref.get("preference") or {},
                                        (*where, _PREFERRED, i, "preference"))
    return out
