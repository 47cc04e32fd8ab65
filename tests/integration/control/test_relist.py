"""The resync's node gc lists a host again only when its events cannot be trusted since the last
list (registry._gc_nodes): its stream broke, it is not watched, or RELIST_EVERY passed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.control import registry
from reconciler.control.context import NODE_GC
from reconciler.control.loop import WorkKey
from reconciler.control.registry import REGISTRY
from tests.integration.control.harness import TWO_NODES as NODES
from tests.integration.control.harness import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.write("nodes.yaml", NODES)
    c.converge(2)
    for agent in c.hosts.agents.values():  # as NodeAgent.watch marks a followed host
        agent.watching = True  # type: ignore[attr-defined]
        agent.relists_wanted = 0  # type: ignore[attr-defined]
    for name in c.hosts.agents:  # a list of each host with its stream followed
        c.loop.process(WorkKey(NODE_GC, name))
    yield c
    c.store.close()


def gc_queued(c: Cluster, all_pods: bool = False, full: bool = False) -> set[str]:
    """The hosts one resync queues a gc for (the queue drained)."""
    REGISTRY.resync(c.ctx, all_pods, full=full)
    hosts = set()
    while (key := c.queue.get(timeout=0)) is not None:
        if key.controller == NODE_GC:
            hosts.add(str(key.id))
        c.queue.done(key)
    return hosts


class TestRelist:
    def test_followed_hosts_are_not_listed_again(self, cluster: Cluster) -> None:
        """Unbroken streams since the last lists: no gc queued."""
        assert gc_queued(cluster) == set()

    def test_a_broken_stream_lists_its_host_again(self, cluster: Cluster) -> None:
        """Events of `a` may be missed: `a` is listed; `b` is not."""
        cluster.hosts.agents["a"].relists_wanted += 1  # type: ignore[attr-defined]
        assert gc_queued(cluster) == {"a"}

    def test_a_host_not_followed_is_listed_at_every_resync(self, cluster: Cluster) -> None:
        """No watch (not started, or its agent rebuilt): the list is all there is."""
        cluster.hosts.agents["b"].watching = False  # type: ignore[attr-defined]
        assert gc_queued(cluster) == {"b"}
        cluster.loop.process(WorkKey(NODE_GC, "b"))
        assert gc_queued(cluster) == {"b"}

    def test_every_host_is_listed_once_relist_every_passed(
            self, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
        """The slow safety list: orphans and foreign containers make no event we follow."""
        monkeypatch.setattr(registry, "RELIST_EVERY", 0.0)
        assert gc_queued(cluster) == {"a", "b"}

    def test_start_and_a_full_sync_list_every_host(self, cluster: Cluster) -> None:
        """At start (all_pods) and on `reconciler sync` (full), whatever the streams say."""
        assert gc_queued(cluster, all_pods=True) == {"a", "b"}
        assert gc_queued(cluster, full=True) == {"a", "b"}

    def test_a_list_taken_after_a_break_is_trusted_again(self, cluster: Cluster) -> None:
        """Once the host is listed after its break, the next resync leaves it out."""
        cluster.hosts.agents["a"].relists_wanted += 1  # type: ignore[attr-defined]
        cluster.loop.process(WorkKey(NODE_GC, "a"))
        assert gc_queued(cluster) == set()
