"""What may I do, and who am I: the self-review APIs answered from `auth.py`'s two roles.

`kubectl auth can-i` (SelfSubjectAccessReview), `kubectl auth can-i --list`
(SelfSubjectRulesReview) and `kubectl auth whoami` (SelfSubjectReview) POST to these
paths, and so do k9s and Headlamp before they offer an action. They are reads in
fact: `auth.py` lets every caller post them (REVIEW_PATHS). The answers follow the
roles: read-only may get, list and watch; read-write may do everything (exec too,
served over WebSocket by execws.py), except the subresources this server does not
serve (attach, port-forward), which are refused for everyone so that no tool offers
them. Gathered by `app.py` (`routes`).
They are not in discovery: clients call them by path, as Kubernetes' typed clients do.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.kubeapi import auth, certs
from reconciler.kubeapi.status import bad_request

READ_VERBS = ("get", "list", "watch")
NOT_SERVED = frozenset({"attach", "portforward"})
ACCESS, RULES, WHOAMI = auth.REVIEW_PATHS


def decide(role: str, verb: str, subresource: str = "") -> tuple[bool, str]:
    """Whether `role` may `verb` (on `subresource`), and why, as a review's status says."""
    if subresource in NOT_SERVED:
        return False, f"{subresource} is not served here: use `reconciler exec`"
    if verb in READ_VERBS or role == auth.READ_WRITE:
        return True, f"the {role} role"
    return False, f"the {role} role may only {', '.join(READ_VERBS)}"


# kubectl's typed clients send Kubernetes' protobuf: the "k8s\0" envelope (runtime.Unknown,
# the object in field 2), then k8s.io/api/authorization/v1's messages: the review's spec
# is field 2; in it, resourceAttributes 1 and nonResourceAttributes 2, whose strings are:
PB_MAGIC = b"k8s\x00"
RESOURCE_FIELDS = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                   6: "subresource", 7: "name"}
NON_RESOURCE_FIELDS = {1: "path", 2: "verb"}


def _pb_fields(data: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a protobuf message (the last of each number)."""
    out: dict[int, bytes] = {}
    at = 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while at < len(data):
        key = varint()
        wire = key & 7
        if wire == 0:
            varint()
        elif wire == 2:
            size = varint()
            out[key >> 3] = data[at:at + size]
            at += size
        else:
            at += {1: 8, 5: 4}[wire]
    return out


def spec_from_protobuf(data: bytes) -> dict[str, Any]:
    """A review's spec, as JSON would give it, from its Kubernetes protobuf encoding."""
    if not data.startswith(PB_MAGIC):
        raise ValueError("not Kubernetes protobuf (no k8s envelope)")
    spec = _pb_fields(_pb_fields(_pb_fields(data[len(PB_MAGIC):]).get(2, b"")).get(2, b""))
    out: dict[str, Any] = {}
    for number, key, names in ((1, "resourceAttributes", RESOURCE_FIELDS),
                               (2, "nonResourceAttributes", NON_RESOURCE_FIELDS)):
        if number in spec:
            found = _pb_fields(spec[number])
            out[key] = {names[n]: v.decode() for n, v in found.items() if n in names}
    return out


async def _body(request: Request) -> dict[str, Any] | Response:
    data = await request.body()
    try:
        if "protobuf" in request.headers.get("content-type", ""):
            return {"spec": spec_from_protobuf(data)}
        body = json.loads(data or b"{}")
    except (ValueError, IndexError, KeyError) as exc:
        return bad_request(f"the review cannot be read: {exc}")
    return body if isinstance(body, dict) else bad_request("the review is not an object")


def _who(request: Request) -> tuple[str, str]:
    state = request.scope.get("state") or {}
    return str(state.get("user", "anonymous")), str(state.get("role", auth.READ_ONLY))


def _answer(kind: str, group: str, spec: Any, status: dict[str, Any]) -> Response:
    return JSONResponse({"kind": kind, "apiVersion": f"{group}/v1",
                         "metadata": {"creationTimestamp": None}, "spec": spec,
                         "status": status}, status_code=201)


async def access_review(request: Request) -> Response:
    body = await _body(request)
    if isinstance(body, Response):
        return body
    spec = body.get("spec") or {}
    attrs = spec.get("resourceAttributes") or spec.get("nonResourceAttributes") or {}
    allowed, reason = decide(_who(request)[1], str(attrs.get("verb", "")),
                             str(attrs.get("subresource", "")))
    status: dict[str, Any] = {"allowed": allowed, "reason": reason}
    if not allowed:
        status["denied"] = True
    return _answer("SelfSubjectAccessReview", "authorization.k8s.io", spec, status)


async def rules_review(request: Request) -> Response:
    # The spec (a namespace) changes nothing here: the rules are the role's everywhere.
    verbs = ["*"] if _who(request)[1] == auth.READ_WRITE else list(READ_VERBS)
    rules = [{"verbs": verbs, "apiGroups": ["*"], "resources": ["*"]}]
    return _answer("SelfSubjectRulesReview", "authorization.k8s.io", {}, {
        "resourceRules": rules,
        "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["*"]}],
        "incomplete": False,
    })


async def whoami(request: Request) -> Response:
    user, role = _who(request)
    info = {"username": user, "groups": [f"{certs.ROLE_PREFIX}{role}"]}
    return JSONResponse({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                         "metadata": {"creationTimestamp": None},
                         "status": {"userInfo": info}}, status_code=201)


def routes(ctx: object) -> list[BaseRoute]:
    """The three review paths (POST); they do not depend on `ctx`."""
    return [Route(ACCESS, access_review, methods=["POST"]),
            Route(RULES, rules_review, methods=["POST"]),
            Route(WHOAMI, whoami, methods=["POST"])]
