"""kubeapi.selectors: labelSelector and fieldSelector as the API server reads them."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.kubeapi.resources import Resource
from reconciler.kubeapi.selectors import (
    FieldSelectorError,
    field_predicate,
    field_value,
    label_predicate,
    name_from_fields,
    parse_fields,
)
from tests.unit.kubeapi.store_kit import res

POD, EVENT, DEPLOY = res("Pod"), res("Event"), res("Deployment")

OBJ: dict[str, Any] = {"metadata": {"name": "web-a", "namespace": "default"},
                       "spec": {"nodeName": "local", "hostNetwork": True},
                       "status": {"phase": "Running"}}


def matches(resource: Resource, text: str, obj: dict[str, Any]) -> bool:
    pred = field_predicate(resource, text)
    assert pred is not None
    return pred(obj)


class TestLabelPredicate:
    def test_equality_and_sets(self) -> None:
        """Equality and set-based requirements, as kubectl -l sends them."""
        pred = label_predicate("app=web,tier in (front,back),!canary")
        assert pred is not None
        assert pred({"app": "web", "tier": "front"})
        assert not pred({"app": "web", "tier": "front", "canary": "1"})

    def test_empty_is_none(self) -> None:
        """No selector: no predicate (everything matches)."""
        assert label_predicate("") is None and label_predicate(None) is None

    def test_malformed_is_refused(self) -> None:
        """A selector that does not parse is a FieldSelectorError (a 400 in app.py)."""
        with pytest.raises(FieldSelectorError):
            label_predicate("app in (web")


class TestFieldSelector:
    def test_pod_fields(self) -> None:
        """spec.nodeName and status.phase with =, == and != on pods."""
        assert matches(POD, "spec.nodeName=local,status.phase==Running", OBJ)
        assert not matches(POD, "status.phase!=Running", OBJ)

    def test_common_fields_everywhere(self) -> None:
        """metadata.name and metadata.namespace work on every kind."""
        assert matches(DEPLOY, "metadata.name=web-a,metadata.namespace=default", OBJ)

    def test_unsupported_field_refused(self) -> None:
        """A field the kind does not index is refused with Kubernetes' message."""
        with pytest.raises(FieldSelectorError, match=r"field label not supported: spec\.image"):
            parse_fields(POD, "spec.image=x")
        with pytest.raises(FieldSelectorError):
            parse_fields(DEPLOY, "spec.nodeName=local")

    def test_events_involved_object(self) -> None:
        """Events select on involvedObject.* (kubectl describe's event search)."""
        ev = {"metadata": {"name": "x", "namespace": "default"},
              "involvedObject": {"kind": "Pod", "name": "web-a", "uid": "u1"},
              "source": {"component": "kubelet"}}
        assert matches(EVENT, "involvedObject.kind=Pod,involvedObject.name=web-a,"
                              "involvedObject.namespace=,source=kubelet", ev)

    def test_values(self) -> None:
        """Booleans read as true/false; a missing field as ""."""
        assert field_value(OBJ, "spec.hostNetwork") == "true"
        assert field_value(OBJ, "status.podIP") == ""

    def test_malformed_term(self) -> None:
        """A term without an operator is refused."""
        with pytest.raises(FieldSelectorError, match="invalid selector"):
            parse_fields(POD, "status.phase")

    def test_name_from_fields(self) -> None:
        """`metadata.name=x` (kubectl get pod x -w) names one object."""
        assert name_from_fields(POD, "metadata.name=web-a") == "web-a"
        assert name_from_fields(POD, "metadata.name!=web-a") is None
