"""Kubernetes `Status` objects: how every error of the API is answered.

Used by every module of the package. kubectl prints `Error from server
(<reason>): <message>` from them and decides by `code` and `reason` (a
NotFound for `get`, a Conflict for `apply`); `details` names the object
(`name`, `kind` as the plural, `group`) and, for a 422 Invalid, the field
causes. The reasons are Kubernetes' own (metav1.StatusReason).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from reconciler.kubeapi.resources import Resource

JSON = dict[str, Any]

# The reason Kubernetes gives with each code when a module asks for none.
REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


def status_object(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    """A v1 Status of a failure (watch streams send it as an ERROR event's object)."""
    out: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": message, "reason": reason or REASONS.get(code, ""), "code": code}
    if details:
        out["details"] = details
    return out


def status_response(code: int, reason: str, message: str, details: JSON | None = None,
                    headers: dict[str, str] | None = None) -> Response:
    """The HTTP response of a failure: the Status object with `code` as the HTTP status."""
    return JSONResponse(status_object(code, reason, message, details), status_code=code,
                        headers=headers)


def object_details(resource: Resource, name: str) -> JSON:
    """`details` naming one object: kubectl prints `<plural>[.<group>] "<name>"`."""
    out: JSON = {"name": name, "kind": resource.plural}
    if resource.group:
        out["group"] = resource.group
    return out


def _qualified(resource: Resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def not_found(resource: Resource, name: str) -> Response:
    """404 NotFound for one object, worded as the API server words it."""
    return status_response(404, "NotFound", f'{_qualified(resource)} "{name}" not found',
                           object_details(resource, name))


def no_such_path(path: str) -> Response:
    """404 for a path that names no resource (kubectl: the server doesn't have a resource type)."""
    return status_response(404, "NotFound", "the server could not find the requested resource",
                           {"causes": [{"reason": "UnexpectedServerResponse",
                                        "message": f"404 page not found: {path}"}]})


def bad_request(message: str) -> Response:
    """400 BadRequest: an unsupported field selector, a malformed query parameter."""
    return status_response(400, "BadRequest", message)


def method_not_allowed(message: str) -> Response:
    """405 MethodNotAllowed (a read-only server, a verb a resource does not offer)."""
    return status_response(405, "MethodNotAllowed", message)


def invalid(resource: Resource, name: str, causes: list[JSON], message: str = "") -> Response:
    """422 Invalid with field causes ({"type", "message", "field"} each)."""
    kind = resource.kind
    text = message or f'{kind} "{name}" is invalid: ' + "; ".join(
        f"{c.get('field', '')}: {c.get('message', '')}" for c in causes)
    details = {**object_details(resource, name), "kind": kind, "causes": causes}
    return status_response(422, "Invalid", text, details)
