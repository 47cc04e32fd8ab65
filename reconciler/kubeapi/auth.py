"""Who may ask the API what: Host checks, client certificates, bearer tokens, two roles.

The ASGI middleware `app.py` puts in front of every route (`middleware(ctx)`). For
each request, in order:
1. The Host header must be one the dashboard would answer (`reconciler.views.hosts`:
   IP literals, localhost, the bound name): a web page rebinding its own name to
   127.0.0.1 cannot make a browser read or write the cluster. 403 otherwise.
2. The caller: a client certificate the TLS layer verified against our CA
   (`certs.PeerCertH11Protocol` puts it in the scope; the role is its O), else an
   `Authorization: Bearer` token from the tokens file (`TOKEN,USER,ROLE` lines,
   re-read when it changes; a token not in it is a 401), else nobody. Nobody is
   refused (401) from beyond loopback; on loopback nobody reads only (Secrets without
   their data): any local user is nobody, and writing the desired source is root's.
   Only in the plain-HTTP loopback mode (`[api] tls = false`) with `[api]
   anonymous_write = true` (a single-user machine, the tests) may nobody also write.
3. The role: read-only may GET (and watch) and ask what it may do (reviews.py),
   nothing else (403), and gets Secrets without their data: the bodies of Secret
   responses are filtered here, watch streams line by line, so no route needs to
   know about roles.
The user and role go into `scope["state"]` ("user", "role") for the routes (writes
name the client in the commits they make).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.kubeapi import certs
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.status import status_object
from reconciler.views import hosts

log = logging.getLogger("reconciler.kubeapi")
READ_ONLY, READ_WRITE = certs.READ_ONLY, certs.READ_WRITE
ROLES = (READ_ONLY, READ_WRITE)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# POSTs that only ask what the caller may do or who they are (reviews.py): any role.
REVIEW_PATHS = ("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews")


@dataclass(frozen=True)
class Caller:
    """Who is asking, and what they may do."""

    user: str
    role: str


class TokenFile:
    """The bearer tokens of a file of `TOKEN,USER,ROLE` lines, re-read when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._tokens: dict[str, Caller] = {}

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen, self._tokens = None, {}
            return
        if self._seen == (st.st_mtime, st.st_size):
            return
        self._seen, self._tokens = (st.st_mtime, st.st_size), parse_tokens(
            self.path.read_text(encoding="utf-8"))
        warning = tokens_file_warning(self.path)
        if warning:
            log.warning("%s", warning)

    def lookup(self, token: str) -> Caller | None:
        """The caller a token stands for, or None."""
        self._load()
        found = None
        for known, caller in self._tokens.items():
            # Compared in constant time, every entry: the answer's timing says nothing.
            if hmac.compare_digest(known.encode(), token.encode()):
                found = caller
        return found


def parse_tokens(text: str) -> dict[str, Caller]:
    """token -> Caller from the file's text; blank, `#` and malformed lines are skipped."""
    out: dict[str, Caller] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if not parts[0] or parts[0].startswith("#") or len(parts) < 3 or parts[2] not in ROLES:
            continue
        out[parts[0]] = Caller(parts[1] or "token", parts[2])
    return out


def is_loopback(host: str) -> bool:
    """Whether a client address is this machine (IPv4-mapped IPv6 included)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def _header(scope: Scope, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), "")


def same_origin(origin: str, host: str) -> bool:
    """True when a request carries no Origin (kubectl, client libraries) or its own.

    A browser sends Origin with every cross-site write and WebSocket; neither is held
    back by CORS (a WebSocket never, a form POST of text/plain not), so a page the
    user visits could otherwise exec in pods or write through a loopback API.
    """
    if not origin:
        return True
    return origin != "null" and urlsplit(origin).netloc.lower() == host.lower()


def is_secret_path(path: str) -> bool:
    """Whether `path` reads Secrets: /api/v1/secrets or /api/v1/namespaces/NS/secrets[/NAME]."""
    parts = path.strip("/").split("/")
    if parts[:2] != ["api", "v1"]:
        return False
    rest = parts[2:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    return rest[:1] == ["secrets"]


def redact(doc: Any) -> Any:
    """A Secret, SecretList, Table of Secrets or watch event without any Secret's data."""
    if not isinstance(doc, dict):
        return doc
    for item in doc.get("items") or ():
        redact(item)
    for row in doc.get("rows") or ():
        if isinstance(row, dict):
            redact(row.get("object"))
    if isinstance(doc.get("object"), dict):
        redact(doc["object"])
    if doc.get("kind") in ("Secret", None) or "data" in doc:
        doc.pop("data", None)
        doc.pop("stringData", None)
    # Any object of a Secret response (a Table row's PartialObjectMetadata too): the
    # annotation holds the whole manifest, data included.
    annotations = (doc.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return doc


class SecretFilter:
    """Wraps `send`: Secret responses leave without data (whole bodies, or watch lines)."""

    def __init__(self, send: Send, stream: bool) -> None:
        self.send = send
        self.stream = stream
        self.start: Message | None = None
        self.buffer = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() != b"content-length"]
            self.start = {**message, "headers": headers}
            if self.stream:
                await self.send(self.start)
            return
        if message["type"] != "http.response.body":
            await self.send(message)
            return
        self.buffer += message.get("body", b"")
        more = bool(message.get("more_body", False))
        if self.stream:
            lines = self.buffer.split(b"\n")
            self.buffer = b"" if not more else lines.pop()
            out = b"".join(_redact_bytes(line) + b"\n" for line in lines if line.strip())
            await self.send({"type": "http.response.body", "body": out, "more_body": more})
            return
        if more:
            return
        body = _redact_bytes(self.buffer)
        assert self.start is not None
        start = dict(self.start)
        start["headers"] = [*start["headers"], (b"content-length", str(len(body)).encode())]
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body})


def _redact_bytes(data: bytes) -> bytes:
    try:
        doc = json.loads(data)
    except ValueError:
        return b"" if data.strip() else data  # never pass on what could not be checked
    return json.dumps(redact(doc), separators=(",", ":")).encode()


class ApiAuth:
    """The middleware of the module docstring."""

    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx
        self.tokens = TokenFile(Path(str(ctx.extra["tokens"])) if ctx.extra.get("tokens")
                                else None)
        self._names: tuple[str, frozenset[str]] | None = None

    @property
    def tls(self) -> bool:
        return bool(self.ctx.extra.get("tls", False))

    def names(self) -> frozenset[str]:
        """The Host names answered besides IP literals and localhost (for the bound host)."""
        bound = self.ctx.address.rpartition(":")[0].strip("[]") or "127.0.0.1"
        if self._names is None or self._names[0] != bound:
            self._names = (bound, hosts.allowed_names(bound))
        return self._names[1]

    def caller(self, scope: Scope) -> Caller | str:
        """Who asks, or the reason (401) they are refused."""
        state = scope.get("state") or {}
        peer = certs.peer_role(state.get(certs.PEER_CERT))
        if peer is not None:
            return Caller(*peer)
        auth = _header(scope, b"authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            found = self.tokens.lookup(token.strip()) if scheme.lower() == "bearer" else None
            return found or "the bearer token is not valid"
        client = (scope.get("client") or ("", 0))[0]
        if not is_loopback(client):
            return "credentials are required from beyond loopback"
        # Writing the desired source and reading Secrets is root's: on plain HTTP any
        # local user is "anonymous", so that is read-only unless configured otherwise.
        writes = not self.tls and bool(self.ctx.extra.get("anonymous_write", False))
        return Caller("anonymous", READ_WRITE if writes else READ_ONLY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not hosts.host_allowed(_header(scope, b"host"), self.names()):
            await _refuse(scope, send, 403, "Forbidden",
                          "unknown Host header: use the server's address or localhost")
            return
        if not same_origin(_header(scope, b"origin"), _header(scope, b"host")):
            await _refuse(scope, send, 403, "Forbidden",
                          "a request from another web origin: use kubectl or a client library")
            return
        who = self.caller(scope)
        if isinstance(who, str):
            if scope["path"] not in HEALTH_PATHS:
                await _refuse(scope, send, 401, "Unauthorized", f"Unauthorized: {who}")
                return
            who = Caller("anonymous", READ_ONLY)
        method = scope.get("method", "GET")
        if who.role != READ_WRITE and method not in READ_METHODS and (
                scope["path"] not in REVIEW_PATHS):
            await _refuse(scope, send, 403, "Forbidden",
                          f'User "{who.user}" cannot {method.lower()} {scope["path"]}: '
                          "the read-only role may only read")
            return
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["user"], state["role"] = who.user, who.role
        if who.role != READ_WRITE and scope["type"] == "http" and is_secret_path(scope["path"]):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            stream = query.get("watch", [""])[0].lower() in ("1", "true")
            # No compression on the way back: the filter must read what it passes on.
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"]
                                          if k != b"accept-encoding"]}
            send = SecretFilter(send, stream)
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, code: int, reason: str, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(status_object(code, reason, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="reconciler"'))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def middleware(ctx: ApiContext) -> list[Middleware]:
    """The authentication middleware for `app.create_app`."""
    return [Middleware(ApiAuth, ctx=ctx)]


def tokens_file_warning(path: Path) -> str:
    """A warning when the tokens file can be read by others than its owner; "" if fine."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return ""
    if mode & 0o077:
        return f"{path} is readable by others (mode {mode & 0o777:o}): chmod 600 it"
    return ""
