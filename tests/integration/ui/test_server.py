"""The dashboard's server on a real SQLite store filled through the Store API (no Docker).

`start_ui_server` as `reconciler run` calls it: a thread, port 0, closed at
the end. The store holds a Secret object written straight into it (the
manifest loader refuses the kind), to show the dashboard never serves one.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.api.types import DesiredObject, Key, LoadResult, Position
from reconciler.planning.diff import diff
from reconciler.store import Store
from reconciler.store.secrets import load_key_file
from reconciler.ui.server import UiServer, exposure_warning, split_address, start_ui_server

SECRET_VALUE = "c3VwZXJzZWNyZXQ="


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _get_as(server: UiServer, path: str, host: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*split_address(server.address), timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ui") / "state.db"
    rc = {"apiVersion": "v1", "kind": "ReplicationController",
          "metadata": {"name": "web", "labels": {"app": "web"}},
          "spec": {"replicas": 2, "selector": {"app": "web"}, "template": {
              "metadata": {"labels": {"app": "web"}},
              "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
              "data": {"password": SECRET_VALUE}}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "db", "namespace": "default"},
           "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"containers": [{
                                     "name": "db", "image": "db:1",
                                     "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {
                                         "name": "creds", "key": "password"}}}],
                                     "envFrom": [{"secretRef": {"name": "creds"}}]}]}}}}
    objs = [DesiredObject(Key("ReplicationController", "default", "web"), rc,
                          Position("web-rc.yaml", 3), "h1"),
            DesiredObject(Key("StatefulSet", "default", "db"), sts, Position("db.yaml"), "h3"),
            DesiredObject(Key("Secret", "default", "creds"), secret, Position("creds.yaml"), "h2")]
    with Store.open(str(path)) as store:
        store.sealer = load_key_file(path.with_name("state.key"), create=True)
        store.apply_plan(diff(objs, {}), "folder")
        # web-rc.yaml then fails to load: its RC stays, marked stale.
        store.apply_plan(diff(LoadResult(objs[1:], [], frozenset({"web-rc.yaml"})),
                              store.recorded()))
    return path


@pytest.fixture(scope="module")
def server(state: Path) -> Iterator[UiServer]:
    ui = start_ui_server("127.0.0.1:0", str(state))
    assert ui is not None
    yield ui
    ui.close()


class TestStartUiServer:
    def test_serves_pages_and_api(self, server: UiServer) -> None:
        """The overview and the API answer from the store, on the port it picked."""
        base = f"http://{server.address}"
        status, body = _get(base + "/")
        assert status == 200 and "/replicationcontrollers/default/web" in body
        status, body = _get(base + "/api/replicationcontrollers")
        assert status == 200
        assert [o["metadata"]["name"] for o in json.loads(body)["items"]] == ["web"]

    def test_stale_manifest_is_marked(self, server: UiServer) -> None:
        """An object whose file fails to load shows its file, line and that it is stale."""
        status, body = _get(f"http://{server.address}/replicationcontrollers/default/web")
        assert status == 200 and "web-rc.yaml:3" in body and "stale" in body

    def test_statefulset_page_and_overview(self, server: UiServer) -> None:
        """A stateful set has describe's page and a row among the overview's controllers."""
        base = f"http://{server.address}"
        status, body = _get(base + "/statefulsets/default/db")
        assert status == 200 and "Name:" in body and "db.yaml" in body
        status, body = _get(base + "/")
        assert "StatefulSet/default/db" in body

    def test_secret_objects_are_never_served(self, server: UiServer) -> None:
        """A Secret in the store has no page, no API and leaves no value anywhere."""
        base = f"http://{server.address}"
        assert _get(base + "/api/secrets")[0] == 404
        assert _get(base + "/secrets/default/creds")[0] == 404
        for path in ("/", "/api/events", "/events", "/replicationcontrollers"):
            status, body = _get(base + path)
            assert status == 200 and SECRET_VALUE not in body and "creds" not in body

    def test_secret_env_values_never_shown(self, server: UiServer) -> None:
        """Env from a Secret shows as describe does, `<set to the key ...>`, never its value."""
        base = f"http://{server.address}"
        status, page = _get(base + "/statefulsets/default/db")
        assert status == 200 and "set to the key &#39;password&#39; in secret &#39;creds&#39;" \
            in page
        status, api = _get(base + "/api/statefulsets/default/db")
        assert status == 200 and "secretKeyRef" in api
        for body in (page, api):
            assert SECRET_VALUE not in body and "supersecret" not in body

    @pytest.mark.parametrize("path", ["/", "/api/replicationcontrollers", "/static/ui.js",
                                      "/healthz"])
    def test_foreign_host_refused(self, server: UiServer, path: str) -> None:
        """A Host that is not ours (a DNS-rebinding page's) gets 403; localhost is answered."""
        assert _get_as(server, path, "rebind.example.com")[0] == 403
        assert _get_as(server, path, f"rebind.example.com:{server.address.split(':')[1]}")[0] \
            == 403
        assert _get_as(server, path, "localhost")[0] == 200

    def test_empty_address_is_off(self, state: Path) -> None:
        """No address, no server."""
        assert start_ui_server("", str(state)) is None

    def test_taken_port_raises(self, state: Path) -> None:
        """A port another socket holds is an OSError naming the address, not a hang."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            address = f"127.0.0.1:{s.getsockname()[1]}"
            with pytest.raises(OSError, match=address):
                start_ui_server(address, str(state))

    def test_close_stops_listening(self, state: Path) -> None:
        """After close() the port refuses connections."""
        ui = start_ui_server("127.0.0.1:0", str(state))
        assert ui is not None
        host, port = split_address(ui.address)
        ui.close()
        with socket.socket() as s, pytest.raises(OSError):
            s.connect((host, port))


class TestSplitAddress:
    @pytest.mark.parametrize(("text", "pair"), [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        (":8080", ("127.0.0.1", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ])
    def test_host_and_port(self, text: str, pair: tuple[str, int]) -> None:
        """host:port splits; a missing host means loopback, never all interfaces."""
        assert split_address(text) == pair

    @pytest.mark.parametrize("text", ["8080", "localhost", "host:http"])
    def test_not_an_address(self, text: str) -> None:
        """Text without a numeric port is refused."""
        with pytest.raises(ValueError, match="host:port"):
            split_address(text)




class TestExposureWarning:
    @pytest.mark.parametrize("address", ["127.0.0.1:8080", "[::1]:8080", "localhost:8080",
                                         ":8080"])
    def test_loopback_is_quiet(self, address: str) -> None:
        """Loopback addresses need no warning."""
        assert exposure_warning(address) == ""

    @pytest.mark.parametrize("address", ["0.0.0.0:8080", "10.0.0.5:8080", "[::]:8080"])
    def test_other_addresses_warn(self, address: str) -> None:
        """All interfaces or a routable address: a warning that names it and says no login."""
        assert address in exposure_warning(address) and "no login" in exposure_warning(address)
