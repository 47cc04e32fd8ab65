"""kubeapi.objects: store records as Kubernetes objects, on a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.types import Key
from reconciler.kubeapi.context import ApiContext
from reconciler.kubeapi.objects import (
    derived_uid,
    entries,
    get_object,
    list_objects,
    normalize,
    read,
    scale_of,
)
from reconciler.kubeapi.versions import versions_for
from reconciler.store import Store
from tests.unit.kubeapi.store_kit import fill, res


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> ApiContext:
    return ApiContext(state=fill(tmp_path_factory.mktemp("objects") / "state.db"))


class TestObjects:
    def test_pods_by_namespace(self, ctx: ApiContext) -> None:
        """Pods of one namespace or all, as full v1 objects with owner references."""
        items, _ = list_objects(ctx, res("Pod"), "default")
        assert [p["metadata"]["name"] for p in items] == ["web-a", "web-b"]
        assert items[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        every, _ = list_objects(ctx, res("Pod"), None)
        assert len(every) == 3

    def test_group_version_and_kind(self, ctx: ApiContext) -> None:
        """Objects carry the apiVersion and kind of the group/version serving them."""
        deploy = get_object(ctx, res("Deployment"), "default", "web")
        assert deploy is not None
        assert (deploy["apiVersion"], deploy["kind"]) == ("apps/v1", "Deployment")
        assert deploy["status"]["readyReplicas"] == 1 and deploy["metadata"]["uid"]

    def test_resource_version_is_the_store_revision(self, tmp_path: Path) -> None:
        """Every item and the list carry the store revision; a write makes it larger."""
        ctx = ApiContext(state=fill(tmp_path / "state.db"))
        items, rv = list_objects(ctx, res("Pod"), None)
        assert int(rv) > 0 and {p["metadata"]["resourceVersion"] for p in items} == {rv}
        store = Store.open(ctx.state)
        try:
            store.set_status(Key("Deployment", "default", "web"), {"replicas": 2,
                                                                   "readyReplicas": 2})
        finally:
            store.close()
        _, later = list_objects(ctx, res("Pod"), None)
        assert int(later) > int(rv)

    def test_label_predicate(self, ctx: ApiContext) -> None:
        """A label predicate is applied by the loader."""
        items, _ = list_objects(ctx, res("Pod"), None, lambda labels: labels.get("app") ==
                                "talker")
        assert [p["metadata"]["name"] for p in items] == ["talker"]

    def test_events_home_and_uids(self, ctx: ApiContext) -> None:
        """A node's event lives in "default" and names the node's derived uid; names unique."""
        events, _ = list_objects(ctx, res("Event"), "default")
        node_event = next(e for e in events if e["involvedObject"]["kind"] == "Node")
        node = get_object(ctx, res("Node"), None, "local")
        assert node is not None
        assert node_event["involvedObject"]["uid"] == node["metadata"]["uid"] == \
            derived_uid("Node", "", "local")
        assert len({e["metadata"]["name"] for e in events}) == len(events) == 2
        assert list_objects(ctx, res("Event"), "team")[0] == []

    def test_namespaces(self, ctx: ApiContext) -> None:
        """Declared namespaces with their labels, plus "default" (always there), all Active."""
        items, _ = list_objects(ctx, res("Namespace"), None)
        by_name = {n["metadata"]["name"]: n for n in items}
        assert set(by_name) == {"default", "team"}
        assert by_name["team"]["metadata"]["labels"] == {"team": "yes"}
        assert all(n["status"]["phase"] == "Active" for n in items)
        assert "namespace" not in by_name["team"]["metadata"]

    def test_node_leases(self, ctx: ApiContext) -> None:
        """Each node's heartbeat is a Lease in kube-node-lease (describe node reads it)."""
        lease = get_object(ctx, res("Lease"), "kube-node-lease", "local")
        assert lease is not None and lease["spec"]["holderIdentity"] == "local"
        assert list_objects(ctx, res("Lease"), "default")[0] == []

    def test_entries_carry_rows(self, ctx: ApiContext) -> None:
        """Each entry has its `get` row (the Table cells) beside the object."""
        found, _ = entries(ctx, res("Pod"), "team")
        assert found[0].row.cells[1] == "Running"

    def test_secret_data_hidden_when_the_context_says(self, ctx: ApiContext) -> None:
        """show_secret_data False drops data from Secrets (none here: the list still works)."""
        hidden = ApiContext(state=ctx.state, show_secret_data=False)
        assert list_objects(hidden, res("Secret"), None)[0] == []

    @pytest.mark.parametrize(("kind", "namespace", "name"), [
        ("Pod", "default", "web-b"), ("Deployment", "default", "web"),
        ("Service", "default", "web"), ("Node", None, "local"), ("Namespace", None, "team"),
        ("Lease", "kube-node-lease", "local"), ("Endpoints", "default", "web")])
    def test_get_is_the_listed_object(self, ctx: ApiContext, kind: str, namespace: str | None,
                                      name: str) -> None:
        """A get (which loads only the named object) returns what the list holds for it."""
        listed, _ = list_objects(ctx, res(kind), namespace)
        want = [o for o in listed if o["metadata"]["name"] == name]
        got = get_object(ctx, res(kind), namespace, name)
        assert got is not None and [got] == want

    def test_namespace_from_the_store(self, ctx: ApiContext) -> None:
        """An object whose manifest names no namespace is served in its recorded one."""
        found = get_object(ctx, res("ConfigMap"), "team", "settings")
        assert found is not None and found["metadata"]["namespace"] == "team"
        assert found["data"] == {"mode": "fast"}

    def test_missing(self, ctx: ApiContext) -> None:
        """An unknown name is None."""
        assert get_object(ctx, res("Pod"), "default", "nope") is None


class TestPostgres:
    def test_same_objects_on_postgresql(self, postgres_url: str, ctx: ApiContext) -> None:
        """On PostgreSQL (the full Store, not the stdlib reader) the same objects are served,
        with the store revision as their resourceVersion."""
        pg = ApiContext(state=fill(postgres_url))
        items, rv = list_objects(pg, res("Pod"), None)
        assert int(rv) > 0 and {p["metadata"]["resourceVersion"] for p in items} == {rv}
        assert [p["metadata"]["name"] for p in items] == \
            [p["metadata"]["name"] for p in list_objects(ctx, res("Pod"), None)[0]]
        assert get_object(pg, res("Deployment"), "default", "web") is not None


class TestNormalize:
    def test_required_status_counters(self) -> None:
        """A status without the counters the API requires gets them at 0; none stays none."""
        ds = normalize(res("DaemonSet"), {"metadata": {"name": "x"}, "status": {}}, "5", "ns")
        assert ds["status"] == {"currentNumberScheduled": 0, "desiredNumberScheduled": 0,
                                "numberMisscheduled": 0, "numberReady": 0}
        assert ds["metadata"]["namespace"] == "ns" and ds["metadata"]["resourceVersion"] == "5"
        rs = normalize(res("ReplicaSet"), {"metadata": {"name": "x"}}, "5")
        assert "status" not in rs and rs["apiVersion"] == "apps/v1"


class TestScale:
    def test_scale_of_deployment(self, ctx: ApiContext) -> None:
        """The autoscaling/v1 Scale: spec.replicas, status.replicas and the selector text."""
        deploy = get_object(ctx, res("Deployment"), "default", "web")
        assert deploy is not None
        scale = scale_of(deploy)
        assert scale["spec"] == {"replicas": 2}
        assert scale["status"]["selector"] == "app=web"
        assert scale["metadata"]["name"] == "web" and scale["apiVersion"] == "autoscaling/v1"


class _Moving:
    """A store whose first read of objects lets another connection commit first: a write
    landing between the read of the revision and the rows."""

    def __init__(self, store: Any, commit: Callable[[], None]) -> None:
        self._store, self._commit = store, commit

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._store, attr)

    def _first(self) -> None:
        commit, self._commit = self._commit, lambda: None
        commit()

    def objects(self, kind: str | None = None, namespace: str | None = None) -> Any:
        self._first()
        return self._store.objects(kind, namespace)

    def get_object(self, key: Key) -> Any:
        self._first()
        return self._store.get_object(key)


class TestReadWhileTheStoreMoves:
    def test_a_commit_during_the_read_is_served_at_its_revision(self, tmp_path: Path) -> None:
        """A status written between the revision and the rows: served (and recorded for the
        writes' precondition) at the revision after it, so the version read before it
        conflicts."""
        ctx = ApiContext(state=fill(tmp_path / "state.db"))
        before = get_object(ctx, res("Deployment"), "default", "web")
        assert before is not None
        old = int(before["metadata"]["resourceVersion"])
        writer = Store.open(ctx.state)

        def commit() -> None:
            writer.set_status(Key("Deployment", "default", "web"),
                              {"replicas": 2, "readyReplicas": 2})

        reader = ctx.open_store()
        try:
            found = read(ctx, res("Deployment"), "default", store=_Moving(reader, commit),
                         name="web")
        finally:
            reader.close()
            writer.close()
        assert found.settled and found.entries[0].obj["status"]["readyReplicas"] == 2
        now = int(found.rv)
        assert now > old
        known = versions_for(ctx.state, ctx.show_secret_data, str(ctx.key_file))
        assert known.changed_after(("Deployment", "default", "web"), old, now)
        assert not known.changed_after(("Deployment", "default", "web"), now, now)
