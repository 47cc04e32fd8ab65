"""kubeapi.listings: the kinds only a cluster has (namespaces, node Leases, EndpointSlices)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.listings import SERVICE_NAME, listing_for
from reconciler.kubeapi.objects import NODE_INFO, entries, get_object, list_objects
from reconciler.store.reader import ReadStore
from reconciler.views.listings import Query
from tests.unit.kubeapi.store_kit import fill, res


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> ApiContext:
    return ApiContext(state=fill(tmp_path_factory.mktemp("listings") / "state.db"))


class TestEndpointSlices:
    def test_from_endpoints(self, ctx: ApiContext) -> None:
        """A service's endpoints as one slice: ready and not-ready endpoints, its ports."""
        slices, _ = list_objects(ctx, res("EndpointSlice"), "default")
        assert len(slices) == 1
        s = slices[0]
        assert s["metadata"]["labels"][SERVICE_NAME] == "web"
        assert s["metadata"]["name"].startswith("web-") and s["addressType"] == "IPv4"
        assert [(e["addresses"], e["conditions"]["ready"]) for e in s["endpoints"]] == \
            [(["172.17.0.9"], True), (["172.17.0.10"], False)]
        assert s["endpoints"][0]["targetRef"]["name"] == "web-a"
        assert s["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}]

    def test_service_name_selector(self, ctx: ApiContext) -> None:
        """kubectl describe service finds them by the kubernetes.io/service-name label."""
        assert list_objects(ctx, res("EndpointSlice"), "default",
                            lambda labels: labels.get(SERVICE_NAME) == "other")[0] == []

    def test_cells_and_get(self, ctx: ApiContext) -> None:
        """get's columns (ADDRESSTYPE, PORTS, ENDPOINTS, AGE); a get by its name."""
        found, _ = entries(ctx, res("EndpointSlice"), "default")
        assert found[0].row.cells[:3] == ["IPv4", "80", "172.17.0.9,172.17.0.10"]
        name = found[0].obj["metadata"]["name"]
        assert get_object(ctx, res("EndpointSlice"), "default", name) == found[0].obj


class TestServiceDefaults:
    def test_ip_families(self, ctx: ApiContext) -> None:
        """A Service shows the API server's defaults: single-stack IPv4, its cluster IPs."""
        svc = get_object(ctx, res("Service"), "default", "web")
        assert svc is not None
        spec = svc["spec"]
        assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
        assert spec["sessionAffinity"] == "None"


class TestNodeDefaults:
    def test_node_info_complete(self, ctx: ApiContext) -> None:
        """Every NodeSystemInfo field is a string (client libraries require them all)."""
        node = get_object(ctx, res("Node"), None, "local")
        assert node is not None
        info = node["status"]["nodeInfo"]
        assert all(isinstance(info[f], str) for f in NODE_INFO)
        labels = node["metadata"].get("labels") or {}
        assert info["architecture"] == labels.get("kubernetes.io/arch", "")
        assert all(c.get("lastTransitionTime") for c in node["status"]["conditions"])


class _Spy:
    """A real store that records which of its methods were called, and with what."""

    def __init__(self, store: Any) -> None:
        self.store, self.calls = store, []

    def __getattr__(self, attr: str) -> Any:
        found = getattr(self.store, attr)
        if not inspect.ismethod(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((attr, args, kwargs))
            return found(*args, **kwargs)
        return call


class TestNamespaces:
    def test_in_use_without_reading_the_store_whole(self, ctx: ApiContext) -> None:
        """Namespaces in use come from one narrow query: no list of every object or pod."""
        store = _Spy(ctx.open_store())
        try:
            rows = listing_for("Namespace").load(
                cast(ReadStore, store), Query(None, None, datetime.now(UTC)))
        finally:
            store.store.close()
        assert [r.name for r in rows] == ["default", "team"]
        assert ("list_pods", (), {}) not in store.calls
        assert ("objects", (), {}) not in store.calls
