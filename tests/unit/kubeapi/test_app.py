"""kubeapi.app: routing, discovery and errors, over HTTP to a real server on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.server import ApiServer, start_api_server
from tests.unit.kubeapi.store_kit import fill

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A read-only API server on a filled store, on a free loopback port."""
    state = fill(Path(tmp_path_factory.mktemp("app")) / "state.db")
    # Callers may write as far as the roles go (auth.py): the server's own refusal is tested.
    running = start_api_server(ApiContext(state=state, read_only=True,
                                          extra={"anonymous_write": True}), "127.0.0.1:0")
    assert running is not None
    yield running
    running.close()


def call(server: ApiServer, path: str, method: str = "GET",
         accept: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(f"http://{server.address}{path}", method=method,
                                     headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class TestDiscovery:
    def test_core_and_groups(self, server: ApiServer) -> None:
        """/api names v1; /apis lists apps and batch; /apis/apps is one APIGroup."""
        assert call(server, "/api")[1]["versions"] == ["v1"]
        groups = {g["name"] for g in call(server, "/apis")[1]["groups"]}
        assert {"apps", "batch"} <= groups
        code, group = call(server, "/apis/apps")
        assert code == 200 and group["preferredVersion"]["groupVersion"] == "apps/v1"
        assert call(server, "/apis/nope")[0] == 404

    def test_resource_lists(self, server: ApiServer) -> None:
        """/api/v1 lists pods and their subresources; an unknown version is 404."""
        code, found = call(server, "/api/v1")
        names = {r["name"] for r in found["resources"]}
        assert code == 200 and {"pods", "pods/status", "pods/log", "nodes"} <= names
        assert call(server, "/apis/apps/v2")[0] == 404


    def test_aggregated(self, server: ApiServer) -> None:
        """kubectl's Accept for apidiscovery.k8s.io/v2 gets every resource of /apis at once,
        typed by the media type; plain JSON still gets the APIGroupList."""
        accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json")
        request = urllib.request.Request(f"http://{server.address}/apis",
                                         headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["content-type"].startswith(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
            found = json.loads(response.read())
        apps = next(g for g in found["items"] if g["metadata"]["name"] == "apps")
        deploy = next(r for r in apps["versions"][0]["resources"]
                      if r["resource"] == "deployments")
        assert deploy["scope"] == "Namespaced" and deploy["shortNames"] == ["deploy"]
        scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
        assert scale["responseKind"] == {"group": "autoscaling", "version": "v1",
                                         "kind": "Scale"}
        core = call(server, "/api", accept=accept)[1]
        assert [g["metadata"]["name"] for g in core["items"]] == [""]
        assert call(server, "/apis")[1]["kind"] == "APIGroupList"

    def test_health(self, server: ApiServer, tmp_path: Path) -> None:
        """/healthz, /livez and /readyz answer ok; /readyz is 500 without a store."""
        for path in ("/healthz", "/livez", "/readyz"):
            with urllib.request.urlopen(f"http://{server.address}{path}", timeout=30) as r:
                assert r.read() == b"ok"
        missing = start_api_server(ApiContext(state=str(tmp_path / "none.db")), "127.0.0.1:0")
        assert missing is not None
        try:
            with pytest.raises(urllib.error.HTTPError) as failed:
                urllib.request.urlopen(f"http://{missing.address}/readyz", timeout=30)
            assert failed.value.code == 500
        finally:
            missing.close()


class TestReads:
    def test_list_and_get(self, server: ApiServer) -> None:
        """A typed list with its resourceVersion; a get of one object; all namespaces."""
        code, pods = call(server, "/api/v1/namespaces/default/pods")
        assert code == 200 and pods["kind"] == "PodList" and pods["metadata"]["resourceVersion"]
        assert len(pods["items"]) == 2 and len(call(server, "/api/v1/pods")[1]["items"]) == 3
        code, pod = call(server, "/api/v1/namespaces/team/pods/talker")
        assert code == 200 and pod["metadata"]["name"] == "talker"

    def test_cluster_scoped(self, server: ApiServer) -> None:
        """Nodes and namespaces by name; a namespace's status subresource."""
        assert call(server, "/api/v1/nodes/local")[1]["kind"] == "Node"
        assert call(server, "/api/v1/namespaces/team")[1]["status"]["phase"] == "Active"
        assert call(server, "/api/v1/namespaces/team/status")[1]["kind"] == "Namespace"
        assert call(server, "/api/v1/namespaces/default/nodes")[0] == 404

    def test_subresources(self, server: ApiServer) -> None:
        """scale is a Scale, status the object; a subresource the kind lacks is 404."""
        code, scale = call(server, "/apis/apps/v1/namespaces/default/deployments/web/scale")
        assert code == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
        status = call(server, "/apis/apps/v1/namespaces/default/deployments/web/status")[1]
        assert status["status"]["readyReplicas"] == 1
        assert call(server, "/api/v1/namespaces/default/services/web/scale")[0] == 404

    def test_selectors_and_pages(self, server: ApiServer) -> None:
        """labelSelector and fieldSelector filter; limit and continue page."""
        found = call(server, "/api/v1/pods?labelSelector=app%3Dweb&fieldSelector="
                             "status.phase%3DRunning")[1]["items"]
        assert [p["metadata"]["name"] for p in found] == ["web-a"]
        one = call(server, "/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dweb-b")
        assert [p["metadata"]["name"] for p in one[1]["items"]] == ["web-b"]
        first = call(server, "/api/v1/pods?limit=2")[1]
        assert len(first["items"]) == 2 and first["metadata"]["remainingItemCount"] == 1
        token = urllib.parse.quote(first["metadata"]["continue"])
        rest = call(server, f"/api/v1/pods?limit=2&continue={token}")
        assert [p["metadata"]["name"] for p in rest[1]["items"]] == ["talker"]

    def test_table(self, server: ApiServer) -> None:
        """kubectl's Accept gets a Table, for a list and for one object."""
        code, listed = call(server, "/api/v1/namespaces/default/pods", accept=TABLE)
        assert code == 200 and listed["kind"] == "Table" and len(listed["rows"]) == 2
        one = call(server, "/api/v1/namespaces/team/pods/talker", accept=TABLE)[1]
        assert one["rows"][0]["cells"][0] == "talker"


class TestErrors:
    def test_not_found(self, server: ApiServer) -> None:
        """A missing object is a NotFound Status; an unknown path too."""
        code, body = call(server, "/apis/apps/v1/namespaces/default/deployments/nope")
        assert code == 404 and body["message"] == 'deployments.apps "nope" not found'
        code, body = call(server, "/api/v1/widgets")
        assert code == 404 and body["kind"] == "Status"
        assert call(server, "/healthz/whatever")[0] == 404

    def test_bad_requests(self, server: ApiServer) -> None:
        """An unsupported field selector and a malformed limit are 400 BadRequest."""
        code, body = call(server, "/api/v1/pods?fieldSelector=spec.image%3Dx")
        assert code == 400 and body["reason"] == "BadRequest"
        assert call(server, "/api/v1/pods?limit=ten")[0] == 400

    def test_read_only_refuses_writes(self, server: ApiServer) -> None:
        """A read-only server answers writes with a 405 Status naming why."""
        code, body = call(server, "/api/v1/namespaces/default/pods/web-a", method="DELETE")
        assert code == 405 and "read-only" in body["message"]
