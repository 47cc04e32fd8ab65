"""kubeapi.tables: server-side Tables with the columns `reconciler get` prints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.objects import Entry, entries
from reconciler.kubeapi.tables import (
    column_definitions,
    column_name,
    table,
    table_version,
    wants_table,
)
from tests.unit.kubeapi.store_kit import fill, res

KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                  "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> ApiContext:
    return ApiContext(state=fill(Path(tmp_path_factory.mktemp("tables")) / "state.db"))


class TestNegotiation:
    def test_kubectl_accept(self) -> None:
        """kubectl's Accept asks for a v1 Table; plain JSON does not."""
        assert wants_table(KUBECTL_ACCEPT) and table_version(KUBECTL_ACCEPT) == "meta.k8s.io/v1"
        assert not wants_table("application/json")
        assert table_version("application/json;as=Table;v=v1beta1;g=meta.k8s.io") == \
            "meta.k8s.io/v1beta1"


class TestTable:
    def test_pod_columns(self) -> None:
        """get's columns, then the wide ones at priority 1; NAME has format name."""
        cols = column_definitions(res("Pod"))
        assert [c["name"] for c in cols] == ["Name", "Ready", "Status", "Restarts", "Age",
                                             "IP", "Node"]
        assert [c["priority"] for c in cols] == [0, 0, 0, 0, 0, 1, 1]
        assert cols[0]["format"] == "name" and cols[3]["type"] == "integer"

    def test_column_names(self) -> None:
        """Headers spelled as the API server spells its columns."""
        assert [column_name(h) for h in ("CLUSTER-IP", "PORT(S)", "LAST SEEN", "OS-IMAGE",
                                         "STORAGECLASS")] == \
            ["Cluster-IP", "Port(s)", "Last Seen", "OS-Image", "StorageClass"]

    def test_pod_rows(self, ctx: ApiContext) -> None:
        """Cells are the name, get's cells and the wide ones; metadata by default."""
        found, rv = entries(ctx, res("Pod"), "default")
        out = table(res("Pod"), found, rv)
        assert out["kind"] == "Table" and out["metadata"]["resourceVersion"] == rv
        first = out["rows"][0]
        assert first["cells"][:4] == ["web-a", "1/1", "Running", 3]
        assert first["cells"][5:] == ["172.17.0.9", "local"]
        assert first["object"]["kind"] == "PartialObjectMetadata"
        assert first["object"]["metadata"]["namespace"] == "default"

    def test_include_object(self, ctx: ApiContext) -> None:
        """includeObject=Object carries the whole object, None none."""
        found, rv = entries(ctx, res("Pod"), "team")
        assert table(res("Pod"), found, rv, include="Object")["rows"][0]["object"]["spec"]
        assert "object" not in table(res("Pod"), found, rv, include="None")["rows"][0]

    def test_events_have_no_name_column(self, ctx: ApiContext) -> None:
        """Events show LAST SEEN, TYPE, REASON, OBJECT, MESSAGE as reconciler get does."""
        found, rv = entries(ctx, res("Event"), "default")
        out = table(res("Event"), found, rv)
        assert out["columnDefinitions"][0]["name"] == "Last Seen"
        assert {r["cells"][3] for r in out["rows"]} == {"pod/web-a", "node/local"}

    def test_stale_column(self, ctx: ApiContext) -> None:
        """A trailing Stale column when asked (an object's manifest fails to load), as
        reconciler get's STALE; none otherwise."""
        found, rv = entries(ctx, res("Deployment"), "default")
        stale = [Entry(replace(found[0].row, stale=True), found[0].obj)]
        out = table(res("Deployment"), stale, rv, stale=True)
        assert out["columnDefinitions"][-1]["name"] == "Stale"
        assert out["rows"][0]["cells"][-1] == "yes"
        assert table(res("Deployment"), found, rv)["columnDefinitions"][-1]["name"] != "Stale"

    def test_continue(self, ctx: ApiContext) -> None:
        """A paged Table carries continue and remainingItemCount."""
        found, rv = entries(ctx, res("Pod"), None)
        out = table(res("Pod"), found[:1], rv, cont="tok", remaining=2)
        assert out["metadata"] == {"resourceVersion": rv, "continue": "tok",
                                   "remainingItemCount": 2}
