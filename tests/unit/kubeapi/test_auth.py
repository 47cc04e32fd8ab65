"""Unit tests of kubeapi/auth.py: Host checks, callers, roles and Secrets without data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reconciler.kubeapi import auth, certs
from reconciler.kubeapi.context import ApiContext
from tests.unit.kubeapi.asgi_call import call

SECRET = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
          "metadata": {"name": "creds", "annotations": {auth.LAST_APPLIED: "{...}", "a": "b"}},
          "data": {"token": "aHVzaA=="}}


async def _who(request: Request) -> Response:
    return JSONResponse({"user": request.state.user, "role": request.state.role})


async def _secret(request: Request) -> Response:
    return JSONResponse(json.loads(json.dumps(SECRET)))


async def _secrets(request: Request) -> Response:
    if request.query_params.get("watch"):
        async def events() -> Any:
            for kind in ("ADDED", "MODIFIED"):
                line = json.dumps({"type": kind, "object": SECRET}) + "\n"
                # Split mid-line: the filter must join chunks before it reads a line.
                yield line[:20].encode()
                yield line[20:].encode()
        return StreamingResponse(events(), media_type="application/json")
    return JSONResponse({"kind": "SecretList", "items": [SECRET, SECRET]})


def _app(tmp_path: Path, *, tls: bool, anonymous_write: bool = False) -> Starlette:
    tokens = tmp_path / "tokens"
    tokens.write_text("# token,user,role\nro-1,viewer,read-only\nrw-1,editor,read-write\n"
                      "bad-line\nx-1,who,admin\n")
    ctx = ApiContext(state="x.db", address="127.0.0.1:6443",
                     extra={"tls": tls, "tokens": str(tokens),
                            "anonymous_write": anonymous_write})
    routes = [Route("/who", _who, methods=["GET", "POST"]),
              Route("/api/v1/namespaces/{ns}/secrets/{name}", _secret),
              Route("/api/v1/secrets", _secrets)]
    return Starlette(routes=routes, middleware=auth.middleware(ctx))


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return _app(tmp_path, tls=True)


ADMIN_CERT = {"subject": ((("organizationName", "reconciler:read-write"),),
                          (("commonName", "admin"),))}


class TestHostHeader:
    @pytest.mark.parametrize("host", ["evil.example.com", "127.0.0.1.nip.io:6443", ""])
    def test_a_foreign_host_is_refused(self, app: Starlette, host: str) -> None:
        """A name that could be rebound to 127.0.0.1 is a 403 Status, credentials or not."""
        answer = call(app, "/who", headers={"host": host, "authorization": "Bearer rw-1"})
        assert answer.status == 403 and answer.json()["kind"] == "Status"

    @pytest.mark.parametrize("host", ["127.0.0.1:6443", "localhost:6443", "[::1]:6443"])
    def test_ip_literals_and_localhost_are_answered(self, app: Starlette, host: str) -> None:
        """IP literals and localhost cannot be rebound: answered."""
        assert call(app, "/who", headers={"host": host}).status == 200


class TestCallers:
    def test_client_certificate_gives_its_role(self, app: Starlette) -> None:
        """A verified certificate from anywhere is its CN with its O's role."""
        answer = call(app, "/who", client="192.0.2.7", state={certs.PEER_CERT: ADMIN_CERT})
        assert answer.json() == {"user": "admin", "role": "read-write"}

    @pytest.mark.parametrize(("token", "who"), [
        ("ro-1", {"user": "viewer", "role": "read-only"}),
        ("rw-1", {"user": "editor", "role": "read-write"}),
    ])
    def test_bearer_tokens_from_the_file(self, app: Starlette, token: str,
                                         who: dict[str, str]) -> None:
        """A token of the file is its user and role, from beyond loopback too."""
        answer = call(app, "/who", client="192.0.2.7",
                      headers={"authorization": f"Bearer {token}"})
        assert answer.json() == who

    @pytest.mark.parametrize("token", ["nope", "x-1", "bad-line", ""])
    def test_an_unknown_token_is_401_even_on_loopback(self, app: Starlette, token: str) -> None:
        """A token not in the file (or with no valid role) is refused, wherever it comes from."""
        answer = call(app, "/who", headers={"authorization": f"Bearer {token}"})
        assert answer.status == 401 and answer.json()["reason"] == "Unauthorized"

    @pytest.mark.parametrize("client", ["192.0.2.7", "10.96.0.10", "::ffff:192.0.2.7"])
    def test_no_credentials_beyond_loopback_is_401(self, app: Starlette, client: str) -> None:
        """Nobody from another address is refused with a 401 Status."""
        answer = call(app, "/who", client=client)
        assert answer.status == 401 and "beyond loopback" in answer.json()["message"]
        assert call(app, "/healthz", client=client).status != 401

    @pytest.mark.parametrize(("tls", "anonymous_write", "role"), [
        (True, False, "read-only"), (False, False, "read-only"), (False, True, "read-write"),
        (True, True, "read-only")])
    def test_no_credentials_on_loopback(self, tmp_path: Path, tls: bool, anonymous_write: bool,
                                        role: str) -> None:
        """Loopback without credentials reads; it writes only on plain HTTP when configured."""
        answer = call(_app(tmp_path, tls=tls, anonymous_write=anonymous_write), "/who",
                      client="::ffff:127.0.0.1")
        assert answer.json() == {"user": "anonymous", "role": role}

    def test_the_tokens_file_is_read_again_when_it_changes(self, tmp_path: Path) -> None:
        """A token added to the file works without a restart; one removed stops working."""
        app = _app(tmp_path, tls=True)
        assert call(app, "/who", headers={"authorization": "Bearer new-1"}).status == 401
        tokens = tmp_path / "tokens"
        tokens.write_text("new-1,newbie,read-only\n")
        os.utime(tokens, (1, 1))  # a different mtime, however fast the rewrite
        assert call(app, "/who", headers={"authorization": "Bearer new-1"}).status == 200
        assert call(app, "/who", headers={"authorization": "Bearer ro-1"}).status == 401


class TestReadOnlyRole:
    def test_writes_are_forbidden(self, app: Starlette) -> None:
        """Any method but GET/HEAD/OPTIONS is a 403 Status for the read-only role."""
        answer = call(app, "/who", method="POST", headers={"authorization": "Bearer ro-1"})
        assert answer.status == 403 and "read-only" in answer.json()["message"]
        assert call(app, "/who", method="POST",
                    headers={"authorization": "Bearer rw-1"}).status == 200

    def test_a_secret_has_no_data(self, app: Starlette) -> None:
        """GET of a Secret: data and the last-applied annotation gone, the rest kept."""
        answer = call(app, "/api/v1/namespaces/default/secrets/creds",
                      headers={"authorization": "Bearer ro-1"})
        got = answer.json()
        assert "data" not in got and got["metadata"]["annotations"] == {"a": "b"}
        assert int(answer.headers["content-length"]) == len(answer.body)

    def test_a_list_has_no_data(self, app: Starlette) -> None:
        """Every item of a SecretList loses its data."""
        items = call(app, "/api/v1/secrets", headers={"authorization": "Bearer ro-1"}
                     ).json()["items"]
        assert len(items) == 2 and not any("data" in i for i in items)

    def test_a_watch_stream_has_no_data(self, app: Starlette) -> None:
        """Watch events, even split across chunks, arrive whole and without data."""
        answer = call(app, "/api/v1/secrets", query="watch=1",
                      headers={"authorization": "Bearer ro-1"})
        events = [json.loads(line) for line in answer.body.splitlines()]
        assert [e["type"] for e in events] == ["ADDED", "MODIFIED"]
        assert not any("data" in e["object"] for e in events)

    def test_a_foreign_origin_is_refused_even_to_read_write(self, app: Starlette) -> None:
        """A page of another origin cannot write through a caller's credentials (403)."""
        answer = call(app, "/who", method="POST", headers={
            "authorization": "Bearer rw-1", "origin": "http://evil.example"})
        assert answer.status == 403 and "origin" in answer.json()["message"]

    def test_read_write_sees_the_data(self, app: Starlette) -> None:
        """The read-write role gets Secrets as they are."""
        answer = call(app, "/api/v1/namespaces/default/secrets/creds",
                      state={certs.PEER_CERT: ADMIN_CERT})
        assert answer.json()["data"] == {"token": "aHVzaA=="}


class TestHelpers:
    @pytest.mark.parametrize(("path", "secret"), [
        ("/api/v1/secrets", True), ("/api/v1/namespaces/x/secrets", True),
        ("/api/v1/namespaces/x/secrets/y", True), ("/api/v1/namespaces/secrets", False),
        ("/api/v1/configmaps", False), ("/apis/apps/v1/secrets", False),
    ])
    def test_is_secret_path(self, path: str, secret: bool) -> None:
        """Only the core group's secrets paths are filtered."""
        assert auth.is_secret_path(path) is secret

    def test_redact_a_metadata_table(self) -> None:
        """kubectl's default Table rows (PartialObjectMetadata) lose the last-applied copy."""
        row = {"kind": "PartialObjectMetadata", "metadata": {
            "name": "creds", "annotations": {auth.LAST_APPLIED: '{"data":{"t":"aHVzaA=="}}',
                                             "a": "b"}}}
        table = {"kind": "Table", "rows": [{"cells": ["creds"], "object": row}]}
        assert auth.redact(table)["rows"][0]["object"]["metadata"]["annotations"] == {"a": "b"}

    @pytest.mark.parametrize(("origin", "same"), [
        ("", True), ("https://127.0.0.1:6443", True), ("http://evil.example", False),
        ("http://127.0.0.1:8000", False), ("null", False)])
    def test_same_origin(self, origin: str, same: bool) -> None:
        """No Origin (kubectl) or the server's own passes; another page's, or null, does not."""
        assert auth.same_origin(origin, "127.0.0.1:6443") is same

    def test_redact_a_table(self) -> None:
        """A Table's row objects lose their data too."""
        table = {"kind": "Table", "rows": [{"cells": ["creds"], "object": dict(SECRET)}]}
        assert "data" not in auth.redact(table)["rows"][0]["object"]

    def test_tokens_file_warning(self, tmp_path: Path) -> None:
        """A tokens file others can read is named in a warning."""
        path = tmp_path / "tokens"
        path.write_text("")
        path.chmod(0o644)
        assert "chmod 600" in auth.tokens_file_warning(path)
        path.chmod(0o600)
        assert auth.tokens_file_warning(path) == ""
