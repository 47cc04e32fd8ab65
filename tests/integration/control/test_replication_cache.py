"""The replication controller reads the cache's own pod records (no copy per pod) and never
changes them: what it writes goes through the store, so a write that fails leaves the cache
as the store is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.types import Key
from reconciler.control.context import DESIRED, REPLICATION
from reconciler.control.loop import WorkKey
from tests.integration.control.harness import NODE_A as NODE
from tests.integration.control.harness import Cluster, rc

ORPHAN = """\
apiVersion: v1
kind: Pod
metadata: {name: stray, labels: {app: web}}
spec:
  containers:
  - {name: main, image: reconciler/busybox:1, command: ["sleep", "3600"]}
"""
WEB = Key("ReplicationController", "default", "web")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.write("node.yaml", NODE)
    c.write("web.yaml", rc(2))
    c.converge(3)
    yield c
    c.store.close()


def failing_patch(c: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pod patch of the store fails, as on a full disk."""
    def refuse(*args: Any, **kwargs: Any) -> int:
        raise OSError("disk full")
    monkeypatch.setattr(c.store, "patch_pods", refuse)
    monkeypatch.setattr(c.store, "patch_pod", refuse)


def reconcile_rc(c: Cluster) -> None:
    """One desired pass (records the edited manifests), then the RC's reconcile alone."""
    c.loop.process(WorkKey(DESIRED, "all"))
    c.loop.process(WorkKey(REPLICATION, WEB))


class TestCacheRecordsUntouched:
    def test_a_scale_down_whose_write_fails_marks_no_cached_pod(
            self, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
        """The deletion marks go on copies: the store refused them, so the cache has none."""
        cache = cluster.ctx.cache
        assert cache is not None
        cluster.write("web.yaml", rc(0))
        failing_patch(cluster, monkeypatch)
        reconcile_rc(cluster)
        assert len(cache.pods("default", copy=False)) == 2
        assert all(p.deletion_timestamp is None for p in cache.pods("default", copy=False))
        assert all(p.deletion_timestamp is None for p in cluster.store.list_pods())

    def test_an_adoption_whose_write_fails_leaves_the_cached_orphan_unowned(
            self, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
        """The owner reference goes on a copy: the cache's orphan stays an orphan."""
        cache = cluster.ctx.cache
        assert cache is not None
        cluster.write("web.yaml", rc(0))
        cluster.converge(2)  # the RC's pods gone, so the orphan is the one it would adopt
        cluster.write("stray.yaml", ORPHAN)
        cluster.loop.process(WorkKey(DESIRED, "all"))
        failing_patch(cluster, monkeypatch)
        cluster.loop.process(WorkKey(REPLICATION, WEB))
        stray = [p for p in cache.pods("default", copy=False) if p.name == "stray"]
        assert len(stray) == 1 and stray[0].owner is None
        assert cluster.store.get_pod("default", "stray").owner is None  # type: ignore[union-attr]

    def test_a_scale_down_that_succeeds_reaches_the_cache(self, cluster: Cluster) -> None:
        """Through the store's write-through, the cache then holds the marks."""
        cache = cluster.ctx.cache
        assert cache is not None
        cluster.write("web.yaml", rc(1))
        reconcile_rc(cluster)
        marked = [p for p in cache.pods("default", copy=False) if p.deletion_timestamp]
        assert len(marked) == 1
        assert [p.name for p in cluster.store.list_pods() if p.deletion_timestamp] \
            == [marked[0].name]
