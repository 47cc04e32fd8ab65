"""Unit tests of kubeapi/reviews.py: can-i, can-i --list and whoami from the two roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from reconciler.kubeapi import auth, reviews
from reconciler.kubeapi.context import ApiContext
from tests.unit.kubeapi.asgi_call import Answer, call

ACCESS, RULES, WHOAMI = auth.REVIEW_PATHS


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    tokens = tmp_path / "tokens"
    tokens.write_text("ro-1,viewer,read-only\nrw-1,editor,read-write\n")
    ctx = ApiContext(state="x.db", extra={"tls": True, "tokens": str(tokens)})
    return Starlette(routes=reviews.routes(ctx), middleware=auth.middleware(ctx))


def _post(app: Starlette, path: str, token: str, body: dict[str, Any]) -> Answer:
    return call(app, path, method="POST", body=json.dumps(body).encode(),
                headers={"authorization": f"Bearer {token}",
                         "content-type": "application/json"})


def _can(app: Starlette, token: str, verb: str, resource: str = "deployments",
         subresource: str = "") -> bool:
    spec = {"resourceAttributes": {"verb": verb, "resource": resource, "group": "apps",
                                   "subresource": subresource, "namespace": "default"}}
    answer = _post(app, ACCESS, token, {"apiVersion": "authorization.k8s.io/v1",
                                       "kind": "SelfSubjectAccessReview", "spec": spec})
    assert answer.status == 201
    got = answer.json()
    assert got["kind"] == "SelfSubjectAccessReview" and got["spec"] == spec
    allowed: bool = got["status"]["allowed"]
    return allowed


class TestAccessReview:
    @pytest.mark.parametrize(("token", "verb", "allowed"), [
        ("ro-1", "get", True), ("ro-1", "list", True), ("ro-1", "watch", True),
        ("ro-1", "create", False), ("ro-1", "patch", False), ("ro-1", "delete", False),
        ("rw-1", "create", True), ("rw-1", "delete", True), ("rw-1", "get", True),
    ])
    def test_the_roles(self, app: Starlette, token: str, verb: str, allowed: bool) -> None:
        """Read-only may get, list and watch; read-write may do everything."""
        assert _can(app, token, verb) is allowed

    @pytest.mark.parametrize("sub", ["attach", "portforward"])
    def test_subresources_not_served_are_refused_to_all(self, app: Starlette,
                                                         sub: str) -> None:
        """No tool is told it may attach or port-forward: the server answers 405 to those."""
        assert _can(app, "rw-1", "create", "pods", sub) is False

    def test_exec_follows_the_roles(self, app: Starlette) -> None:
        """exec is served (over WebSocket): read-write may, read-only may not."""
        assert _can(app, "rw-1", "create", "pods", "exec") is True
        assert _can(app, "ro-1", "create", "pods", "exec") is False

    def test_a_bad_body_is_a_400(self, app: Starlette) -> None:
        """A review that is not JSON is a BadRequest Status."""
        answer = call(app, ACCESS, method="POST", body=b"{nope",
                      headers={"authorization": "Bearer rw-1"})
        assert answer.status == 400 and answer.json()["kind"] == "Status"


def _pb(number: int, data: bytes) -> bytes:
    """One length-delimited protobuf field (lengths here stay under 128)."""
    return bytes([number << 3 | 2, len(data)]) + data


class TestProtobuf:
    def test_kubectl_s_encoding_is_read(self, app: Starlette) -> None:
        """kubectl posts typed protobuf: the k8s envelope, the review, its attributes."""
        attrs = _pb(1, b"default") + _pb(2, b"create") + _pb(3, b"apps") + _pb(5, b"deployments")
        review = _pb(2, _pb(1, attrs))
        unknown = _pb(1, _pb(1, b"authorization.k8s.io/v1") + _pb(2, b"SelfSubjectAccessReview"))
        body = reviews.PB_MAGIC + unknown + _pb(2, review)
        assert reviews.spec_from_protobuf(body) == {"resourceAttributes": {
            "namespace": "default", "verb": "create", "group": "apps",
            "resource": "deployments"}}
        answer = call(app, ACCESS, method="POST", body=body,
                      headers={"authorization": "Bearer ro-1",
                               "content-type": "application/vnd.kubernetes.protobuf"})
        assert answer.status == 201 and answer.json()["status"]["allowed"] is False

    def test_not_protobuf_is_a_400(self, app: Starlette) -> None:
        """A body without the k8s envelope is a BadRequest Status."""
        answer = call(app, ACCESS, method="POST", body=b"junk",
                      headers={"authorization": "Bearer ro-1",
                               "content-type": "application/vnd.kubernetes.protobuf"})
        assert answer.status == 400


class TestRulesAndWhoami:
    @pytest.mark.parametrize(("token", "verbs"), [("ro-1", ["get", "list", "watch"]),
                                                  ("rw-1", ["*"])])
    def test_rules_review(self, app: Starlette, token: str, verbs: list[str]) -> None:
        """can-i --list: the role's verbs on every resource."""
        got = _post(app, RULES, token, {"spec": {"namespace": "default"}}).json()
        assert got["status"]["resourceRules"][0]["verbs"] == verbs
        assert got["status"]["incomplete"] is False

    def test_whoami(self, app: Starlette) -> None:
        """whoami: the user and the role as a group, even for the read-only role."""
        answer = _post(app, WHOAMI, "ro-1", {})
        assert answer.status == 201
        assert answer.json()["status"]["userInfo"] == {
            "username": "viewer", "groups": ["reconciler:read-only"]}
