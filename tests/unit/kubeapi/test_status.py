"""kubeapi.status: errors as Kubernetes Status objects."""

from __future__ import annotations

import json

from reconciler.kubeapi.resources import resource_of_kind
from reconciler.kubeapi.status import invalid, not_found, status_object, status_response


class TestStatus:
    def test_not_found_wording(self) -> None:
        """404 worded as the API server words it (kubectl prints it after "NotFound")."""
        deploy = resource_of_kind("Deployment")
        assert deploy is not None
        response = not_found(deploy, "web")
        body = json.loads(bytes(response.body))
        assert response.status_code == 404 and body["reason"] == "NotFound"
        assert body["message"] == 'deployments.apps "web" not found'
        assert body["details"] == {"name": "web", "kind": "deployments", "group": "apps"}

    def test_default_reason(self) -> None:
        """A reason left empty is Kubernetes' reason for the code."""
        assert status_object(410, "", "too old")["reason"] == "Expired"

    def test_response_code_and_kind(self) -> None:
        """The HTTP status is the Status's code; the body is a v1 Status of a Failure."""
        response = status_response(409, "Conflict", "busy")
        body = json.loads(bytes(response.body))
        assert response.status_code == 409
        assert (body["kind"], body["apiVersion"], body["status"]) == ("Status", "v1", "Failure")

    def test_invalid_causes(self) -> None:
        """422 Invalid carries the field causes and names the kind."""
        pods = resource_of_kind("Pod")
        assert pods is not None
        body = json.loads(bytes(invalid(pods, "x", [{"field": "spec.containers",
                                                     "message": "Required value"}]).body))
        assert body["code"] == 422 and body["details"]["kind"] == "Pod"
        assert body["message"] == 'Pod "x" is invalid: spec.containers: Required value'
