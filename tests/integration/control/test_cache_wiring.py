"""The cache wired into the control plane: written through on commit, following other writers.

On a real store (SQLite and PostgreSQL), through `Context.start_cache` as the
service starts it: the controllers' writes reach the cache only once
committed, a rolled-back batch never does, another process's write reaches it
by the follower, and this process's own writes do not relist on every commit.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.store import Store
from tests.integration.control.harness import Cluster, rc
from tests.integration.control.test_controllers import NODES


@pytest.fixture
def cluster(tmp_path: Path, store_url: str) -> Iterator[Cluster]:
    c = Cluster(tmp_path, store_url)
    yield c
    c.store.close()


def wait_for(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def equal_to_store(c: Cluster) -> bool:
    cache = c.ctx.cache
    assert cache is not None
    return cache.pods() == c.store.list_pods() and cache.objects() == c.store.objects()


class TestCacheWiring:
    def test_controllers_writes_reach_the_cache(self, cluster: Cluster) -> None:
        """After converging an RC, the cache holds exactly what the store holds."""
        cluster.write("nodes.yaml", NODES)
        cluster.write("web.yaml", rc(3))
        cluster.converge(2)
        assert len(cluster.running()) == 3
        assert equal_to_store(cluster)
        cache = cluster.ctx.cache
        assert cache is not None
        owner = cache.object(Key("ReplicationController", "default", "web"))
        assert owner is not None and owner.status is not None
        assert len(cache.pod_uids("default", owner_uid=owner.uid)) == 3

    def test_node_writes_reach_the_node_view_without_a_read(self, cluster: Cluster) -> None:
        """Heartbeats and a node's removal are written through: the view equals the store."""
        cluster.write("nodes.yaml", NODES)
        cluster.write("web.yaml", rc(2))
        cluster.converge(3)
        view = cluster.ctx.nodes
        assert view is not None
        assert view.nodes() == cluster.store.list_nodes() != []
        reads = view.reads
        node = cluster.store.list_nodes()[0]
        node.ready, node.message = False, "written through"
        cluster.store.upsert_node(node)
        assert view.node(node.name) == node
        cluster.store.delete_node(node.name)
        assert view.node(node.name) is None
        assert view.nodes() == cluster.store.list_nodes()
        assert view.reads == reads

    def test_rolled_back_batch_never_reaches_the_cache(self, cluster: Cluster) -> None:
        """A write inside a batch that raises is in neither the store nor the cache."""
        cluster.write("nodes.yaml", NODES)
        cluster.write("web.yaml", rc(1))
        cluster.converge(2)
        cache = cluster.ctx.cache
        assert cache is not None
        pod = cluster.store.list_pods()[0]
        with pytest.raises(RuntimeError), cluster.store.batch():
            cluster.store.delete_pod(pod.uid)
            assert cache.pod(pod.uid) is not None  # not before the commit
            raise RuntimeError("roll back")
        assert cache.pod(pod.uid) is not None
        assert cluster.store.get_pod_by_uid(pod.uid) is not None
        with cluster.store.batch():
            cluster.store.delete_pod(pod.uid)
        assert cache.pod(pod.uid) is None

    def test_another_process_write_reaches_the_cache(
        self, cluster: Cluster, store_url: str
    ) -> None:
        """A pod deleted by another process (as `reconciler delete` would) leaves the cache."""
        cluster.write("nodes.yaml", NODES)
        cluster.write("web.yaml", rc(2))
        cluster.converge(2)
        cache = cluster.ctx.cache
        assert cache is not None
        victim = cluster.store.list_pods()[0]
        relisted = threading.Event()
        assert cluster.ctx.follower is not None
        cluster.ctx.follower.on_relisted = relisted.set
        code = ("import sys; from reconciler.store import Store; "
                "s = Store.open(sys.argv[1]); assert s.delete_pod(sys.argv[2]); s.close()")
        subprocess.run([sys.executable, "-c", code, store_url, victim.uid], check=True,
                       timeout=60)
        # SQLite: the data_version signal; PostgreSQL: the periodic detector (5 s).
        assert wait_for(lambda: cache.pod(victim.uid) is None)
        assert equal_to_store(cluster)
        # The service enqueues everything then: a reconcile may have read the old cache.
        assert relisted.wait(30)

    def test_own_writes_never_relist(self, tmp_path: Path) -> None:
        """Commits of this process fire SQLite's signal but never relist (the store revision)."""
        c = Cluster(tmp_path)
        try:
            follower = c.ctx.follower
            assert follower is not None
            c.write("nodes.yaml", NODES)
            c.write("web.yaml", rc(3))
            before, signals = follower.relists, follower.signals
            commits = c.store.own_commits
            c.converge(3)
            commits = c.store.own_commits - commits
            assert commits > 10
            assert wait_for(lambda: follower.signals > signals)
            time.sleep(0.5)
            assert follower.relists == before
            assert equal_to_store(c)
        finally:
            c.store.close()


def touch(store: Store, name: str) -> None:
    """A pod write (what the store revision counts), the pod named `name`."""
    store.upsert_pod(PodRecord(uid=name, namespace="default", name=name, spec={},
                               spec_hash="", created_at=datetime.now(UTC)))


class TestForeignWrites:
    def test_tells_own_from_others(self, store_url: str) -> None:
        """`foreign_writes` is False after own commits, True once another store committed."""
        mine, other = Store.open(store_url), Store.open(store_url)
        try:
            assert mine.foreign_writes() is False  # the baseline
            for i in range(5):
                touch(mine, f"r{i}")
            other.set_revision("not-counted", "folder")  # no pod or object written
            assert mine.foreign_writes() is False
            touch(other, "theirs")
            touch(mine, "mine-again")
            assert mine.foreign_writes() is True
            assert mine.foreign_writes() is False
        finally:
            mine.close()
            other.close()

    def test_concurrent_own_and_foreign(self, store_url: str) -> None:
        """Own commits from threads mixed with one foreign commit: the foreign one is seen."""
        mine, other = Store.open(store_url), Store.open(store_url)
        try:
            mine.foreign_writes()

            def write(n: int) -> None:
                for i in range(10):
                    touch(mine, f"t{n}-{i}")

            threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
            for t in threads:
                t.start()
            touch(other, "theirs")
            for t in threads:
                t.join()
            assert mine.foreign_writes() is True
            write(9)
            assert mine.foreign_writes() is False
        finally:
            mine.close()
            other.close()
