"""Several writers on one store, on SQLite and PostgreSQL: threads, processes, schema creation.

What hosts sharing one PostgreSQL database do at once: heartbeats of the same
nodes, the same events, allocations, and starting together on an empty
database. Every test runs on both databases (`store_url`, tests/conftest.py)
and asserts no writer saw an error and the rows add up. Also: values past
2^31 (a host's memory in bytes) and the upgrade of a 0006 store to 0007.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from reconciler.api.records import ContainerStatus, EventRecord, NodeRecord, PodRecord, Resources
from reconciler.store import Store
from reconciler.store import engine as engines

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GIB = 2**30
EVENT = EventRecord("default", "Node", "n1", "Normal", "Heartbeat", "alive", "node-controller")

# One writer process: waits for the go file, then upserts its share of the nodes
# (shared names, so the processes collide on rows) and records the same event each time.
WRITER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from reconciler.api.records import EventRecord, NodeRecord, Resources
from reconciler.store import Store
url, me, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
event = EventRecord("default", "Node", "n1", "Normal", "Heartbeat", "alive", "node-controller")
while not go.exists():
    time.sleep(0.01)
errors = 0
with Store.open(url) as store:
    for i in range(count):
        node = NodeRecord(f"n{i % 20}", "unix://", datetime.now(UTC),
                          capacity=Resources(1000, (8 << 30) + me * 1000 + i), ready=True,
                          last_heartbeat=datetime.now(UTC))
        try:
            store.upsert_node(node)
            store.record_event(event)
        except Exception as e:
            errors += 1
            print(repr(e), file=sys.stderr)
print(errors)
"""

# A process that opens a store (creating the schema when the database is empty).
OPENER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from reconciler.api.records import NodeRecord
from reconciler.store import Store
url, me, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
with Store.open(url) as store:
    store.upsert_node(NodeRecord("host-" + me, "unix://", datetime.now(UTC)))
    print(store.cluster_id())
"""


def run_together(script: str, argvs: list[list[str]], go: Path) -> list[str]:
    """Start one process per argv, release them at once, return their stdout (all exit 0)."""
    procs = [
        subprocess.Popen([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    time.sleep(1.0)  # let every interpreter import the store before the start signal
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    return outputs


class TestLargeValues:
    def test_heartbeat_with_8_gib(self, store_url: str) -> None:
        """A node heartbeat with 8 GiB of memory (and a 16 GiB override) reads back equal."""
        with Store.open(store_url) as store:
            node = NodeRecord("big", "unix://", T0, capacity=Resources(4000, 8 * GIB),
                              capacity_override=Resources(2000, 16 * GIB), ready=True,
                              last_heartbeat=T0)
            store.upsert_node(node)
            assert store.get_node("big") == node
            node.capacity = Resources(4000, 64 * GIB)
            store.upsert_node(node)
            assert store.list_nodes() == [node]

    def test_counters_past_2_31(self, store_url: str) -> None:
        """A restart count and an event count past 2^31 are stored and counted on."""
        with Store.open(store_url) as store:
            pod = PodRecord(uid="u1", namespace="default", name="p", spec={"containers": []},
                            spec_hash="h", created_at=T0,
                            containers=[ContainerStatus("c", "img", restart_count=2**31 + 7)])
            store.upsert_pod(pod)
            got = store.get_pod_by_uid("u1")
            assert got is not None and got.containers[0].restart_count == 2**31 + 7
            store.record_event(replace(EVENT, count=2**31), now=T0)
            again = store.record_event(EVENT, now=T0 + timedelta(seconds=1))
            assert again.count == 2**31 + 1 and again.first_seen == T0


class TestThreads:
    def test_800_node_upserts_from_8_threads(self, store_url: str) -> None:
        """8 threads x 100 heartbeats of 20 shared nodes: 0 errors, every event counted."""
        errors: list[BaseException] = []
        with Store.open(store_url) as store:

            def work(me: int) -> None:
                for i in range(100):
                    node = NodeRecord(f"n{i % 20}", "unix://", T0, ready=True,
                                      capacity=Resources(1000, 8 * GIB + me * 1000 + i))
                    try:
                        store.upsert_node(node)
                        store.record_event(EVENT)
                    except Exception as e:
                        errors.append(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            assert errors == []
            nodes = store.list_nodes()
            assert len(nodes) == 20 and all(n.capacity.memory > 8 * GIB - 1 for n in nodes)
            assert [e.count for e in store.list_events("default", "Node", "n1")] == [800]

    def test_event_batches_in_any_order(self, store_url: str) -> None:
        """4 threads recording the same 5 events in shuffled batches: 0 errors, all counted."""
        errors: list[BaseException] = []
        batch = [replace(EVENT, name=f"n{i}") for i in range(5)]
        with Store.open(store_url) as store:

            def work(me: int) -> None:
                for i in range(20):
                    shift = (me + i) % 5
                    try:
                        store.record_events((batch[shift:] + batch[:shift])[::-1 if me % 2 else 1])
                    except Exception as e:
                        errors.append(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            assert errors == []
            assert [e.count for e in store.list_events("default", "Node")] == [80] * 5

    def test_allocations_from_threads_are_distinct(self, store_url: str) -> None:
        """4 threads allocating cluster IPs and node ports at once: all distinct, 0 errors."""
        errors: list[BaseException] = []
        with Store.open(store_url) as store:

            def work(me: int) -> None:
                for i in range(15):
                    try:
                        store.allocate_cluster_ip(f"ns{me}/svc{i}", "10.96.0.0/24")
                        store.allocate_node_port(f"ns{me}/svc{i}", "http")
                        store.set_endpoints("default", f"svc{i}", [{"t": me}])
                        store.set_components({"scheduler": (True, f"t{me}"), "dns": (True, "")})
                    except Exception as e:
                        errors.append(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            assert errors == []
            ips = store.cluster_ips()
            assert len(ips) == 60 and len(set(ips.values())) == 60
            ports = [store.allocations(f"ns{m}/svc{i}")["node-port/http"]
                     for m in range(4) for i in range(15)]
            assert len(set(ports)) == 60
            assert len(store.list_endpoints("default")) == 15
            assert [c.name for c in store.list_components()] == ["dns", "scheduler"]


class TestProcesses:
    def test_800_node_upserts_from_3_processes(self, store_url: str, tmp_path: Path) -> None:
        """3 processes x 267 heartbeats of 20 shared nodes: 0 errors, every event counted."""
        Store.open(store_url).close()
        go = tmp_path / "go"
        counts = [267, 267, 266]
        out = run_together(WRITER, [[store_url, str(n), str(c), str(go)]
                                    for n, c in enumerate(counts)], go)
        assert out == ["0", "0", "0"]
        with Store.open(store_url) as store:
            assert len(store.list_nodes()) == 20
            assert [e.count for e in store.list_events("default", "Node", "n1")] == [800]

    def test_three_processes_create_the_schema(self, store_url: str, tmp_path: Path) -> None:
        """3 processes opening an empty database at once all succeed, with one schema and id."""
        go = tmp_path / "go"
        ids = run_together(OPENER, [[store_url, str(n), str(go)] for n in range(3)], go)
        assert len(set(ids)) == 1
        with Store.open(store_url) as store:
            assert engines.current_revision(store.engine) == engines.HEAD
            assert sorted(n.name for n in store.list_nodes()) == ["host-0", "host-1", "host-2"]
            with store.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM cluster")).scalar() == 1


class TestUpgrade:
    def test_0006_store_gets_64_bit_columns_and_fingerprints(self, store_url: str) -> None:
        """A 0006 store with duplicate events upgrades: one row per event, 8 GiB nodes fit."""
        engine = engines.create(store_url)
        engines.migrate(engine, target="0006")
        events = sa.table("events", *(sa.column(c) for c in (
            "namespace", "kind", "name", "uid", "type", "reason", "message", "source", "host",
            "count", "first_seen", "last_seen")))
        row = {"namespace": "default", "kind": "Pod", "name": "web", "uid": "", "type": "Normal",
               "reason": "Pulled", "message": "ok", "source": "kubelet", "host": "",
               "count": 2, "first_seen": datetime(2024, 5, 1, 12), "last_seen":
               datetime(2024, 5, 1, 12, 5)}
        with engine.begin() as conn:
            conn.execute(sa.insert(events), [row, {**row, "count": 3, "first_seen":
                                                   datetime(2024, 5, 1, 11)}])
        engine.dispose()
        with Store.open(store_url) as store:
            assert engines.current_revision(store.engine) == engines.HEAD
            (ev,) = store.list_events("default", "Pod", "web")
            assert (ev.count, ev.first_seen) == (5, datetime(2024, 5, 1, 11, tzinfo=UTC))
            again = store.record_event(EventRecord("default", "Pod", "web", "Normal", "Pulled",
                                                   "ok", "kubelet"), now=T0 + timedelta(days=1))
            assert again.count == 6
            node = NodeRecord("n1", "unix://", T0, capacity=Resources(1, 8 * GIB))
            store.upsert_node(node)
            assert store.get_node("n1") == node


def pod(name: str, uid: str, restarts: int = 0) -> PodRecord:
    return PodRecord(uid=uid, namespace="default", name=name, spec={"containers": []},
                     spec_hash="h", created_at=T0,
                     containers=[ContainerStatus("c", "img", restart_count=restarts)])


class TestPodWriters:
    def test_create_pods_race_for_names(self, store_url: str) -> None:
        """4 threads creating the same 10 names: 0 errors, each name held by one pod."""
        errors: list[BaseException] = []
        refused: list[int] = []
        with Store.open(store_url) as store:

            def work(me: int) -> None:
                try:
                    for i in range(10):
                        held = store.create_pods([pod(f"p{i}", f"t{me}-{i}")])
                        refused.append(len(held))
                except Exception as e:
                    errors.append(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            assert errors == []
            assert sorted(p.name for p in store.list_pods()) == sorted(f"p{i}" for i in range(10))
            assert sum(refused) == 30

    def test_upsert_same_pod_from_threads(self, store_url: str) -> None:
        """4 threads upserting one pod 50 times each: 0 errors, one pod with one container."""
        errors: list[BaseException] = []
        with Store.open(store_url) as store:

            def work(me: int) -> None:
                for i in range(50):
                    try:
                        store.upsert_pod(pod("web", "u1", me * 100 + i))
                    except Exception as e:
                        errors.append(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            assert errors == []
            (got,) = store.list_pods()
            assert got.uid == "u1" and len(got.containers) == 1
