"""The shared read queries (reconciler/store/reads.py) on real databases.

The CLI's sqlite3 `Reader` and the SQLAlchemy `Store` answer every shared query
alike on one SQLite file; on SQLite and PostgreSQL the rows the queries decode
equal what the SQLAlchemy models' typed columns return (JSON, booleans, aware
UTC timestamps), so the two drivers' differences are evened out.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.api.records import (
    ClaimRecord,
    Condition,
    ContainerStatus,
    EventRecord,
    NodeRecord,
    OwnerRef,
    PodRecord,
    Resources,
)
from reconciler.api.types import DesiredObject, Key, Position
from reconciler.planning.diff import RecordedView, diff
from reconciler.store import Store
from reconciler.store import secrets as sec
from reconciler.store.models import Base, PodRow
from reconciler.store.opener import open_reader
from reconciler.store.reader import Reader
from reconciler.store.reads import POD_COLUMNS, ReadStore, decode_row
from reconciler.store.records import ObjectRecord

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
RC = OwnerRef("ReplicationController", "web", "rc-1")
STS = OwnerRef("StatefulSet", "db", "sts-1", "apps/v1")


def _desired(kind: str, name: str, body: dict[str, object]) -> DesiredObject:
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **body}
    return DesiredObject(Key(kind, "default", name), body, Position(f"{name}.yaml", 3, 1),
                         f"hash-{name}")


def _pod(name: str, labels: dict[str, str], node: str, owner: OwnerRef | None) -> PodRecord:
    return PodRecord(
        uid=f"uid-{name}", namespace="default", name=name, spec={"containers": [{"name": "c"}]},
        spec_hash="h", created_at=T0, labels=labels, annotations={"a": "1"}, owner=owner,
        node_name=node, phase="Running", start_time=T0,
        conditions=[Condition("Ready", True, last_transition=T0)],
        containers=[ContainerStatus("c", "img", state="running", ready=True, started_at=T0)],
        init_containers=[ContainerStatus("i", "img", state="terminated", exit_code=0,
                                         init=True, finished_at=T0)],
        deletion_timestamp=T0 if name == "c" else None,
    )


def fill(store: Store, key_file: Path) -> None:
    """One of everything the shared queries read, with every column type in play."""
    store.sealer = sec.load_key_file(key_file, create=True)
    store.apply_plan(diff([
        _desired("ReplicationController", "web", {"spec": {"replicas": 2}}),
        _desired("ConfigMap", "conf", {"data": {"k": "v"}}),
        _desired("Secret", "pw", {"stringData": {"password": "s3cret"}}),
    ], {}), "sha1", now=T0)
    store.set_status(Key("ReplicationController", "default", "web"), {"replicas": 1})
    store.set_revision("sha0", "/srv", now=T0)
    store.set_revision("sha1", "/srv", now=T0 + timedelta(seconds=1))
    store.upsert_pods([_pod("a", {"app": "web"}, "n1", RC), _pod("b", {}, "n2", None),
                       _pod("c", {"app": "web", "tier": "x"}, "n1", RC)])
    store.upsert_node(NodeRecord("n1", "unix://", T0, labels={"zone": "a"}, last_heartbeat=T0,
                                 capacity_override=Resources(1000, 2**33), ready=True,
                                 conditions=[Condition("Ready", True, last_transition=T0)],
                                 taints=[{"key": "k", "effect": "NoSchedule"}]))
    store.upsert_node(NodeRecord("n2", "unix://b", T0, unschedulable=True, declared=False))
    store.set_endpoints("default", "web", [{"addresses": [{"ip": "10.0.0.1"}]}], now=T0)
    store.set_endpoints("other", "db", [], now=T0)
    store.allocate_cluster_ip("default/web", "10.96.0.0/16")
    store.allocate_node_port("default/web", "http", 30001)
    store.set_components({"scheduler": (True, ""), "store": (False, "slow")}, now=T0)
    store.ensure_claims([
        ClaimRecord("default", "data-db-0", "cl-1", STS, storage="1Gi",
                    access_modes=["ReadWriteOnce"], labels={"app": "db"}, created_at=T0),
        ClaimRecord("shop", "data-db-0", "cl-2", None, storage="2Gi", created_at=T0),
    ])
    store.mark_claims_deleted([ClaimRecord("shop", "data-db-0", "", None)], T0)
    for reason in ("Scheduled", "Pulled", "Started"):
        store.record_event(EventRecord("default", "Pod", "a", "Normal", reason, reason,
                                       "kubelet"), now=T0)
    store.record_event(EventRecord("shop", "Pod", "x", "Warning", "Failed", "no", "kubelet"),
                       now=T0 + timedelta(seconds=1))
    store.sealer = None


Read = Callable[[ReadStore], object]

# Every shared query, with arguments that make each answer non-empty; the name before "-"
# is the ReadStore method (a test checks that none is left out).
READS: list[tuple[str, Read]] = [
    ("pod_network", lambda s: s.pod_network()),
    ("recorded", lambda s: s.recorded()),
    ("objects", lambda s: s.objects()),
    ("objects-kind-namespace", lambda s: s.objects("ConfigMap", "default")),
    ("get_object", lambda s: s.get_object(Key("ReplicationController", "default", "web"))),
    ("revisions", lambda s: s.revisions()),
    ("revisions-limit", lambda s: s.revisions(1)),
    ("list_pods", lambda s: s.list_pods()),
    ("list_pods-selector", lambda s: s.list_pods("default", lambda lb: "app" in lb)),
    ("list_pods-node-owner", lambda s: s.list_pods(node="n1", owner_uid="rc-1")),
    ("list_pods-no-containers", lambda s: s.list_pods(containers=False)),
    ("get_pod", lambda s: s.get_pod("default", "c")),
    ("pod_network", lambda s: s.pod_network()),
    ("list_nodes", lambda s: s.list_nodes()),
    ("get_node", lambda s: s.get_node("n1")),
    ("get_endpoints", lambda s: s.get_endpoints("default", "web")),
    ("list_endpoints", lambda s: s.list_endpoints()),
    ("list_endpoints-namespace", lambda s: s.list_endpoints("other")),
    ("allocations", lambda s: s.allocations("default/web")),
    ("list_components", lambda s: s.list_components()),
    ("claims", lambda s: s.claims()),
    ("list_claims", lambda s: s.list_claims("default", "sts-1")),
    ("get_claim", lambda s: s.get_claim("shop", "data-db-0")),
    ("list_events", lambda s: s.list_events()),
    ("list_events-object", lambda s: s.list_events("default", "Pod", "a")),
    ("list_events-limit", lambda s: s.list_events(limit=2)),
]


def _key_file(store: Store) -> Path:
    return Path(str(store.engine.url.database)).with_suffix(".key")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Reader, Store]]:
    path = tmp_path_factory.mktemp("reads") / "state.db"
    store = Store.open(str(path))
    fill(store, _key_file(store))
    reader = open_reader(str(path))
    assert isinstance(reader, Reader)
    yield reader, store
    reader.close()
    store.close()


class TestReaderEqualsStore:
    @pytest.mark.parametrize("read", [r for _, r in READS], ids=[n for n, _ in READS])
    def test_same_answer(self, both: tuple[Reader, Store], read: Read) -> None:
        """The sqlite3 reader and the Store give equal, non-empty answers on one file."""
        reader, store = both
        answer = read(store)
        assert answer
        assert read(reader) == answer

    def test_every_shared_query_is_checked(self) -> None:
        """READS names every public query of ReadStore."""
        public = {n for n, f in inspect.getmembers(ReadStore, inspect.isfunction)
                  if not n.startswith("_")}
        assert {n.split("-")[0] for n, _ in READS} == public - {"close"}

    def test_sealed_secrets_opened_alike(self, both: tuple[Reader, Store]) -> None:
        """With the key both open a sealed Secret (and hash its content); without it, neither."""
        reader, store = both
        key = Key("Secret", "default", "pw")
        sealed = store.get_object(key)
        assert sealed is not None and sec.is_sealed(sealed.body)
        assert reader.get_object(key) == sealed
        try:
            reader.sealer = store.sealer = sec.load_key_file(_key_file(store))
            opened = store.get_object(key)
            assert opened is not None and not sec.is_sealed(opened.body)
            assert opened.content_hash != sealed.content_hash
            assert reader.get_object(key) == opened
            assert reader.recorded() == store.recorded()
        finally:
            reader.sealer = store.sealer = None


def _comparable(answer: object) -> object:
    """An answer less what differs between two stores filled alike: object uids (random)
    and sealed boxes (a random nonce each)."""
    if isinstance(answer, ObjectRecord | RecordedView):
        body = {"sealed": True} if sec.is_sealed(answer.body) else answer.body
        answer = dataclasses.replace(answer, body=body)
    if isinstance(answer, ObjectRecord):
        return dataclasses.replace(answer, uid="")
    if isinstance(answer, dict):
        return {k: _comparable(v) for k, v in answer.items()}
    if isinstance(answer, list):
        return [_comparable(v) for v in answer]
    return answer


class TestPostgresEqualsSqlite:
    def test_same_answers(self, both: tuple[Reader, Store], postgres_url: str) -> None:
        """Every shared query answers on PostgreSQL as on SQLite, for the same writes."""
        reader, sqlite_store = both
        store = Store.open(postgres_url)
        try:
            fill(store, _key_file(sqlite_store))  # the same key: the same sealed hashes
            for name, read in READS:
                assert _comparable(read(store)) == _comparable(read(reader)), name
        finally:
            store.close()


class TestDecoding:
    @pytest.fixture
    def store(self, store_url: str) -> Iterator[Store]:
        s = Store.open(store_url)
        yield s
        s.close()

    def test_rows_decode_as_the_models_type_them(self, store: Store, tmp_path: Path) -> None:
        """Every table read: decoded text-query rows equal the typed columns' values."""
        fill(store, tmp_path / "state.key")
        tables = ["objects", "revisions", "pods", "nodes", "endpoints", "allocations",
                  "components", "claims"]
        with store.engine.connect() as conn:
            for name in tables:
                table = Base.metadata.tables[name]
                order = list(table.primary_key.columns)
                typed = [dict(r) for r in conn.execute(sa.select(table).order_by(*order))
                         .mappings()]
                text = sa.text(f"SELECT * FROM {name} ORDER BY "
                               + ", ".join(c.name for c in order))
                decoded = [decode_row(r) for r in conn.execute(text).mappings()]
                assert typed, name
                assert decoded == typed, name

    def test_pod_columns_are_the_models(self) -> None:
        """POD_COLUMNS names every column of pods but the container statuses."""
        model = [c.name for c in PodRow.__table__.c if c.name != "containers"]
        assert sorted(POD_COLUMNS) == sorted(model)


class TestStatementCache:
    def test_selectors_of_many_sizes_do_not_fill_the_statement_cache(
            self, tmp_path: Path) -> None:
        """A selector choosing 1, 2, ... 49 pods is one `uid IN` text per count: past a few
        parameters none stays in SQLAlchemy's statement cache (each holds its compiled copy)."""
        store = Store.open(str(tmp_path / "state.db"))
        try:
            store.upsert_pods([_pod(f"p{i}", {"a": str(i)}, "n1", None) for i in range(60)])
            cache = store.engine._compiled_cache
            assert cache is not None
            for k in range(1, 50):
                if k == 10:  # a few parameters: cached as any read (one entry per count)
                    before = len(cache)

                def chosen(labels: dict[str, str], k: int = k) -> bool:
                    return int(labels["a"]) < k

                assert len(store.list_pods("default", chosen)) == k
            assert len(cache) == before
        finally:
            store.close()
