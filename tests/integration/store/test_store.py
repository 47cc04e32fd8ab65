"""Integration tests of the state store on a real SQLite file and a real PostgreSQL database.

The `store` fixture runs each test on both (`store_url` in tests/conftest.py);
tests about SQLite itself (file mode, the sqlite3 reader) use `sqlite_store`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.api.records import (
    Condition,
    ContainerStatus,
    EventRecord,
    NodeRecord,
    OwnerRef,
    PodRecord,
    Resources,
)
from reconciler.api.types import DesiredObject, Key, LoadResult, Position
from reconciler.planning.diff import diff
from reconciler.store import AllocationError, Store, StoreMissing, convert
from reconciler.store import engine as engines

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(str(tmp_path / "state.db"))
    yield s
    s.close()


def desired(name: str, replicas: int, file: str = "web.yaml") -> DesiredObject:
    body = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {"replicas": replicas},
    }
    return DesiredObject(
        Key("ReplicationController", "default", name),
        body,
        Position(file, 1),
        f"hash-{name}-{replicas}",
    )


class TestOpen:
    def test_file_mode_wal_foreign_keys(self, tmp_path: Path) -> None:
        """A new store file is 0600, in WAL mode, with foreign keys on."""
        path = tmp_path / "state.db"
        store = Store.open(str(path))
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == engines.BUSY_TIMEOUT_MS
        store.close()
        assert path.stat().st_mode & 0o777 == 0o600

    def test_missing_file_not_created_on_request(self, tmp_path: Path) -> None:
        """create=False refuses a missing file instead of creating it."""
        with pytest.raises(StoreMissing):
            Store.open(str(tmp_path / "nope.db"), create=False)
        assert not (tmp_path / "nope.db").exists()

    def test_head_constant_matches_migrations(self) -> None:
        """engine.HEAD names the head of the shipped migrations."""
        from alembic.script import ScriptDirectory

        assert ScriptDirectory(str(engines.MIGRATIONS)).get_current_head() == engines.HEAD

    def test_migrations_match_models(self, store: Store) -> None:
        """The migrated schema is what the models describe (no pending autogenerate diff)."""
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from reconciler.store.models import Base

        with store.engine.connect() as conn:
            changes = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert changes == []


class TestUpgrade:
    def test_older_store_upgraded_in_place(self, tmp_path: Path) -> None:
        """A store at revision 0001 keeps its data and gains the 0002 tables on open."""
        path = tmp_path / "state.db"
        engine = engines.create(str(path))
        engines.migrate(engine, target="0001")
        engine.dispose()
        with sqlite3.connect(path) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            assert "objects" in tables and "leases" not in tables
            db.execute(
                "INSERT INTO objects (uid, kind, namespace, name, api_version, body, source_file,"
                " line, document, content_hash, revision, generation, stale, created_at,"
                " updated_at) VALUES ('u1', 'Pod', 'default', 'old', 'v1', '{}', 'a.yaml', 1, 0,"
                " 'h', 'folder', 1, 0, '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
            )
        store = Store.open(str(path))
        assert engines.current_revision(store.engine) == engines.HEAD
        assert store.get_object(Key("Pod", "default", "old")) is not None
        assert store.try_acquire("leader", "a", 10)
        store.close()

    def test_added_revision_applies(self, tmp_path: Path) -> None:
        """A new revision added to the scripts upgrades an existing store, keeping rows."""
        import shutil

        scripts = tmp_path / "migrations"
        shutil.copytree(engines.MIGRATIONS, scripts)
        nxt = f"{int(engines.HEAD) + 1:04d}"
        (scripts / "versions" / f"{nxt}_test.py").write_text(
            '"""Test revision."""\nimport sqlalchemy as sa\nfrom alembic import op\n'
            f'revision = "{nxt}"\ndown_revision = "{engines.HEAD}"\nbranch_labels = None\n'
            "depends_on = None\n\n\ndef upgrade() -> None:\n"
            '    with op.batch_alter_table("nodes") as b:\n'
            '        b.add_column(sa.Column("zone", sa.String(63), nullable=False,'
            ' server_default=""))\n'
        )
        store = Store.open(str(tmp_path / "state.db"))
        store.upsert_node(NodeRecord("n1", "unix://", T0))
        engines.migrate(store.engine, script_location=scripts)
        assert engines.current_revision(store.engine) == nxt
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT name, zone FROM nodes").all() == [("n1", "")]
        store.close()


def _downgrade(engine: sa.Engine, target: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(engines.MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, target)


def _naive(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=None)


class TestContainersMigration:
    def test_container_rows_move_into_their_pods_and_back(self, store_url: str) -> None:
        """0012 moves a 0011 store's container rows into their pod; the downgrade restores them."""

        pod = make_pod("web-1", "u1", {"app": "web"})
        bare = make_pod("web-2", "u2", {"app": "web"})
        bare.containers, bare.init_containers = [], []
        engine = engines.create(store_url)
        engines.migrate(engine, target="0011")
        with engine.begin() as conn:
            meta = sa.MetaData()
            pods = sa.Table("pods", meta, autoload_with=conn)
            containers = sa.Table("containers", meta, autoload_with=conn)
            for p in (pod, bare):
                values = {k: v for k, v in convert.pod_values(p).items() if k != "containers"}
                conn.execute(pods.insert().values({
                    k: _naive(v) if isinstance(v, datetime) else v for k, v in values.items()}))
            rows = []
            for group in (pod.init_containers, pod.containers):
                for i, c in enumerate(group):
                    row = {k: getattr(c, k) for k in (
                        "name", "image", "state", "reason", "message", "container_id",
                        "image_id", "exit_code", "ready", "started", "restart_count", "init",
                        "last_exit_code", "last_reason")}
                    row.update({k: _naive(getattr(c, k)) for k in (
                        "started_at", "finished_at", "last_started_at", "last_finished_at")})
                    rows.append({**row, "pod_uid": pod.uid, "position": i})
            conn.execute(containers.insert(), rows)
        engines.migrate(engine)
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("containers")
        engine.dispose()
        store = Store.open(store_url)
        try:
            assert store.get_pod_by_uid("u1") == pod
            assert store.get_pod_by_uid("u2") == bare
            _downgrade(store.engine, "0011")
            with store.engine.connect() as conn:
                restored = conn.execute(sa.text(
                    "SELECT pod_uid, name, init, position, restart_count FROM containers"
                    " ORDER BY init DESC, position")).all()
                assert [tuple(r) for r in restored] == [
                    ("u1", "init", True, 0, 0), ("u1", "c", False, 0, 3)]
            engines.migrate(store.engine)
            assert store.get_pod_by_uid("u1") == pod
        finally:
            store.close()


class TestObjects:
    def test_apply_plan_create_update_delete(self, store: Store) -> None:
        """Applying plans creates, updates (bumping generation) and deletes objects."""
        store.apply_plan(diff([desired("web", 2), desired("db", 1)], store.recorded()), "sha1")
        first = store.get_object(Key("ReplicationController", "default", "web"))
        store.apply_plan(diff([desired("web", 3)], store.recorded()), "sha2")
        web = store.get_object(Key("ReplicationController", "default", "web"))
        assert first is not None and web is not None
        assert (web.generation, web.revision, web.body["spec"]["replicas"]) == (2, "sha2", 3)
        assert web.uid == first.uid
        assert [o.key.name for o in store.objects()] == ["web"]

    def test_failed_file_marks_stale_keeps_body(self, store: Store) -> None:
        """A failed file marks its objects stale; their body stays; a fix clears it."""
        store.apply_plan(diff([desired("web", 2)], store.recorded()))
        store.apply_plan(diff(LoadResult([], [], frozenset({"web.yaml"})), store.recorded()))
        web = store.get_object(Key("ReplicationController", "default", "web"))
        assert web is not None and web.stale and web.body["spec"]["replicas"] == 2
        store.apply_plan(diff([desired("web", 2)], store.recorded()))
        web = store.get_object(Key("ReplicationController", "default", "web"))
        assert web is not None and not web.stale

    def test_status_and_revision(self, store: Store) -> None:
        """Status JSON and the applied revision round-trip."""
        store.apply_plan(diff([desired("web", 2)], {}))
        key = Key("ReplicationController", "default", "web")
        assert store.set_status(key, {"replicas": 2, "readyReplicas": 1})
        assert store.get_status(key) == {"replicas": 2, "readyReplicas": 1}
        assert not store.set_status(Key("Pod", "default", "nope"), {})
        store.set_revision("abc123", "/srv/desired", now=T0)
        rev = store.revision()
        assert rev is not None and (rev.revision, rev.applied_at) == ("abc123", T0)


def make_pod(name: str, uid: str, labels: dict[str, str], node: str = "n1") -> PodRecord:
    return PodRecord(
        uid=uid,
        namespace="default",
        name=name,
        spec={"containers": [{"name": "c"}]},
        spec_hash="h",
        created_at=T0,
        labels=labels,
        node_name=node,
        phase="Running",
        owner=OwnerRef("ReplicationController", "web", "rc-1"),
        start_time=T0,
        conditions=[Condition("Ready", True, last_transition=T0)],
        containers=[
            ContainerStatus(
                "c", "img", state="running", reason="", restart_count=3, ready=True, started_at=T0
            )
        ],
        init_containers=[
            ContainerStatus(
                "init", "img", state="terminated", reason="Completed", exit_code=0, init=True
            )
        ],
    )


class TestPods:
    def test_round_trip(self, store: Store) -> None:
        """A pod with containers, init containers, owner and conditions reads back equal."""
        pod = make_pod("web-1", "u1", {"app": "web"})
        store.upsert_pod(pod)
        assert store.get_pod("default", "web-1") == pod
        assert store.get_pod_by_uid("u1") == pod

    def test_filters(self, store: Store) -> None:
        """Pods filter by label predicate, node and owner."""
        store.upsert_pods(
            [make_pod("a", "u1", {"app": "web"}, "n1"), make_pod("b", "u2", {"app": "db"}, "n2")]
        )
        assert [p.name for p in store.list_pods(selector=lambda lb: lb.get("app") == "db")] == ["b"]
        assert [p.name for p in store.list_pods(node="n1")] == ["a"]
        assert len(store.list_pods("default", owner_uid="rc-1")) == 2
        assert store.list_pods("other") == []

    def test_recreated_pod_replaces_older_uid(self, store: Store) -> None:
        """Writing a pod under a new uid with the same name replaces the old one."""
        store.upsert_pod(make_pod("a", "u1", {}))
        store.upsert_pod(make_pod("a", "u2", {}))
        assert [p.uid for p in store.list_pods()] == ["u2"]
        assert store.delete_pod("u2") and not store.delete_pod("u2")
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM pods").scalar() == 0

    def test_nodes(self, store: Store) -> None:
        """Nodes round-trip, with the capacity override."""
        node = NodeRecord(
            "n1",
            "tcp://10.250.0.2:2376",
            T0,
            labels={"zone": "a"},
            capacity_override=Resources(500, 2**30),
            ready=True,
            last_heartbeat=T0,
        )
        store.upsert_node(node)
        assert store.list_nodes() == [node]
        assert store.delete_node("n1") and store.get_node("n1") is None

    def test_report_node_if_silent(self, store: Store) -> None:
        """`if_silent` writes only while the row's heartbeat is the one the writer read."""
        store.upsert_node(NodeRecord("n1", "agent+unix:///d.sock", T0, ready=True,
                                     last_heartbeat=T0 + timedelta(microseconds=123457)))
        read = store.get_node("n1")
        assert read is not None
        read.ready = False
        assert store.report_node(read, ("ready",), if_silent=True)
        beat = store.get_node("n1")
        assert beat is not None and not beat.ready
        beat.ready, beat.last_heartbeat = True, T0 + timedelta(seconds=5)
        store.report_node(beat, ("ready", "last_heartbeat"))  # the agent's heartbeat
        read.ready = False  # a verdict on the stamp read before it
        assert not store.report_node(read, ("ready",), if_silent=True)
        after = store.get_node("n1")
        assert after is not None and after.ready


class TestEvents:
    def test_repeats_aggregate(self, store: Store) -> None:
        """The same event again bumps count and last_seen; first_seen stays."""
        ev = EventRecord("default", "Pod", "web", "Warning", "BackOff", "Back-off", "kubelet")
        store.record_event(ev, now=T0)
        store.record_event(ev, now=T0 + timedelta(minutes=5))
        store.record_event(
            EventRecord("default", "Pod", "web", "Normal", "Pulled", "ok", "kubelet"),
            now=T0 + timedelta(minutes=1),
        )
        events = store.list_events("default", "Pod", "web")
        assert [(e.reason, e.count) for e in events] == [("Pulled", 1), ("BackOff", 2)]
        assert (events[1].first_seen, events[1].last_seen) == (T0, T0 + timedelta(minutes=5))
        assert store.prune_events(T0 + timedelta(minutes=2)) == 1


class TestAllocations:
    def test_cluster_ip_stable_and_requested(self, store_url: str) -> None:
        """A service keeps its IP across reopen; a requested IP is honoured once."""
        path = store_url
        store = Store.open(path)
        ip = store.allocate_cluster_ip("default/web", "10.96.0.0/24")
        assert (
            store.allocate_cluster_ip("default/dns", "10.96.0.0/24", "10.96.0.10") == "10.96.0.10"
        )
        with pytest.raises(AllocationError):
            store.allocate_cluster_ip("default/x", "10.96.0.0/24", "10.96.0.10")
        with pytest.raises(AllocationError):
            store.allocate_cluster_ip("default/x", "10.96.0.0/24", "10.97.0.1")
        store.close()
        store = Store.open(path)
        assert store.allocate_cluster_ip("default/web", "10.96.0.0/24") == ip
        assert store.release_allocations("default/web") == 1
        store.close()

    def test_node_ports(self, store: Store) -> None:
        """Node ports come from 30000-32767, requested ones honoured, distinct per slot."""
        a = store.allocate_node_port("default/web", "http")
        b = store.allocate_node_port("default/web", "https")
        assert a != b and 30000 <= a <= 32767
        assert store.allocate_node_port("default/api", "http", 30080) == 30080
        with pytest.raises(AllocationError):
            store.allocate_node_port("default/other", "http", 30080)
        with pytest.raises(AllocationError):
            store.allocate_node_port("default/other", "http", 80)
        assert store.allocations("default/web") == {
            "node-port/http": str(a),
            "node-port/https": str(b),
        }


class TestReader:
    def test_reader_equals_store(self, sqlite_store: Store, tmp_path: Path) -> None:
        """The CLI's sqlite3 reader returns the same records as the SQLAlchemy store."""
        from reconciler.store.opener import open_reader
        from reconciler.store.reader import Reader

        store = sqlite_store
        store.apply_plan(diff([desired("web", 2)], {}), "sha1")
        store.set_status(Key("ReplicationController", "default", "web"), {"replicas": 1})
        store.upsert_pods([make_pod("a", "u1", {"app": "web"}), make_pod("b", "u2", {})])
        store.upsert_node(NodeRecord("n1", "unix://", T0, capacity_override=Resources(1, 2)))
        store.set_endpoints("default", "web", [{"addresses": [{"ip": "10.0.0.1"}]}], now=T0)
        store.allocate_node_port("default/web", "0", 30001)
        store.record_event(EventRecord("default", "Pod", "a", "Normal", "Started", "x", "kubelet"))
        store.set_revision("sha1", "/srv", now=T0)
        reader = open_reader(str(tmp_path / "state.db"))
        assert isinstance(reader, Reader)
        assert reader.objects() == store.objects()
        assert reader.recorded() == store.recorded()
        assert reader.list_pods(selector=lambda lb: "app" in lb) == store.list_pods(
            selector=lambda lb: "app" in lb
        )
        assert reader.get_pod("default", "b") == store.get_pod("default", "b")
        assert reader.list_pods(node="n1", owner_uid="rc-1") == store.list_pods(
            node="n1", owner_uid="rc-1"
        )
        assert reader.list_nodes() == store.list_nodes()
        assert reader.list_endpoints() == store.list_endpoints()
        assert reader.allocations("default/web") == store.allocations("default/web")
        assert reader.list_events(limit=5) == store.list_events(limit=5)
        assert reader.revisions() == store.revisions()
        reader.close()

    def test_reader_falls_back_for_old_schema(self, tmp_path: Path) -> None:
        """A store below HEAD is opened (and upgraded) through Store instead."""
        from reconciler.store.opener import open_reader

        path = tmp_path / "state.db"
        engine = engines.create(str(path))
        engines.migrate(engine, target="0001")
        engine.dispose()
        reader = open_reader(str(path))
        assert isinstance(reader, Store)
        reader.close()
