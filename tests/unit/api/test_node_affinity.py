"""Node selector terms: the shared selector matcher with nodeAffinity's Gt, Lt and matchFields."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.node_affinity import preferred_weight, required_affinity_matches, term_matches
from reconciler.api.selectors import SelectorError, from_node_selector_requirements


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "operator": op}
    if values:
        out["values"] = list(values)
    return out


class TestNodeSelectorRequirements:
    @pytest.mark.parametrize(("requirement", "labels", "expected"), [
        (expr("zone", "In", "a", "b"), {"zone": "b"}, True),
        (expr("zone", "In", "a"), {}, False),
        (expr("zone", "NotIn", "a"), {}, True),
        (expr("zone", "NotIn", "a"), {"zone": "a"}, False),
        (expr("gpu", "Exists"), {"gpu": ""}, True),
        (expr("gpu", "DoesNotExist"), {"gpu": "1"}, False),
        (expr("cores", "Gt", "8"), {"cores": "16"}, True),
        (expr("cores", "Lt", "8"), {"cores": "16"}, False),
        (expr("cores", "Gt", "8"), {"cores": "many"}, False),
        (expr("cores", "Gt", "8"), {}, False),
    ])
    def test_operators(self, requirement: dict[str, Any], labels: dict[str, str],
                       expected: bool) -> None:
        """Each NodeSelectorRequirement operator reads the node's labels as Kubernetes does."""
        assert from_node_selector_requirements([requirement]).matches(labels) is expected

    @pytest.mark.parametrize("requirement", [
        expr("zone", "In"), expr("zone", "NotIn"), expr("gpu", "Exists", "1"),
        expr("cores", "Gt", "1", "2"), expr("cores", "Lt", "x"), expr("zone", "Near", "a"),
        expr("bad key!", "Exists"),
    ])
    def test_invalid_requirement(self, requirement: dict[str, Any]) -> None:
        """A requirement NewRequirement rejects raises, naming no partial selector."""
        with pytest.raises(SelectorError):
            from_node_selector_requirements([requirement])

    def test_no_expressions_select_nothing(self) -> None:
        """An empty list of requirements selects no node."""
        assert not from_node_selector_requirements([]).matches({"zone": "a"})


class TestTerms:
    def test_invalid_term_matches_no_node(self) -> None:
        """A term with one requirement that does not parse matches nothing, even with NotIn."""
        term = {"matchExpressions": [expr("zone", "NotIn")]}
        assert not term_matches(term, {}, "n1")
        term = {"matchExpressions": [expr("zone", "In", "a"), expr("cores", "Gt", "1", "2")]}
        assert not term_matches(term, {"zone": "a", "cores": "3"}, "n1")

    @pytest.mark.parametrize(("field", "name", "expected"), [
        (expr("metadata.name", "In", "n1"), "n1", True),
        (expr("metadata.name", "In", "n1"), "n2", False),
        (expr("metadata.name", "NotIn", "n1"), "n2", True),
        (expr("metadata.name", "In", "n1", "n2"), "n1", False),
        (expr("metadata.name", "Exists"), "n1", False),
        (expr("metadata.labels", "In", "n1"), "n1", False),
    ])
    def test_match_fields(self, field: dict[str, Any], name: str, expected: bool) -> None:
        """matchFields: In or NotIn with one value on metadata.name; anything else matches none."""
        assert term_matches({"matchFields": [field]}, {}, name) is expected

    def test_node_names_longer_than_a_label_value(self) -> None:
        """A node name is a DNS subdomain, not a label value: a long one still matches."""
        long_name = "n" * 100 + ".example.com"
        assert term_matches({"matchFields": [expr("metadata.name", "In", long_name)]},
                            {}, long_name)

    def test_expressions_and_fields_are_anded(self) -> None:
        """A term holds only when its expressions and its fields both hold."""
        term = {"matchExpressions": [expr("zone", "In", "a")],
                "matchFields": [expr("metadata.name", "In", "n1")]}
        assert term_matches(term, {"zone": "a"}, "n1")
        assert not term_matches(term, {"zone": "a"}, "n2")
        assert not term_matches(term, {"zone": "b"}, "n1")

    def test_empty_term(self) -> None:
        """A term with neither expressions nor fields matches no node."""
        assert not term_matches({}, {"zone": "a"}, "n1")


class TestPodSpec:
    def test_required_terms_are_ored_with_node_selector_anded(self) -> None:
        """Any one required term holds, and the nodeSelector map holds as well."""
        spec = {"nodeSelector": {"role": "worker"}, "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [expr("zone", "In", "a")]},
                {"matchExpressions": [expr("zone", "In", "b")]}]}}}}
        assert required_affinity_matches(spec, {"role": "worker", "zone": "b"}, "n")
        assert not required_affinity_matches(spec, {"role": "db", "zone": "b"}, "n")
        assert not required_affinity_matches(spec, {"role": "worker", "zone": "c"}, "n")

    def test_preferred_weight(self) -> None:
        """The weights of the preferred terms a node matches are summed; invalid terms add 0."""
        spec = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [expr("disk", "In", "ssd")]}},
            {"weight": 5, "preference": {"matchExpressions": [expr("cores", "Gt", "4")]}},
            {"weight": 7, "preference": {"matchExpressions": [expr("cores", "Gt")]}}]}}}
        assert preferred_weight(spec, {"disk": "ssd", "cores": "8"}, "n") == 15
        assert preferred_weight(spec, {"cores": "2"}, "n") == 0
