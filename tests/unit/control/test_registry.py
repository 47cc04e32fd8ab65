"""The controller registry: one entry per controller, routing by kind, one instance per class."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from pathlib import Path

import pytest

from reconciler.api.types import Key
from reconciler.control.context import (
    DESIRED,
    NODE,
    NODE_GC,
    REPLICATION,
    SERVICE,
    STATEFULSET,
    Context,
    Settings,
)
from reconciler.control.loop import WorkKey
from reconciler.control.nodes import NodeController
from reconciler.control.queue import WorkQueue
from reconciler.control.registry import ENTRIES, REGISTRY, Entry, Registry
from reconciler.runtime.types import RuntimeConfig
from reconciler.store import Store


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    store = Store.open(str(tmp_path / "state.db"))
    try:
        yield Context(store=store, queue=WorkQueue(), runtime=RuntimeConfig(),
                      settings=Settings(desired=str(tmp_path)))
    finally:
        store.close()


def drained(ctx: Context) -> set[tuple[str, Hashable]]:
    keys: set[tuple[str, Hashable]] = set()
    while (key := ctx.queue.get(timeout=0)) is not None:
        keys.add((key.controller, key.id))
        ctx.queue.done(key)
    return keys


class TestRegistry:
    def test_every_name_once(self) -> None:
        """Each controller name is registered once."""
        names = [e.name for e in ENTRIES]
        assert len(names) == len(set(names))

    def test_kind_twice_refused(self) -> None:
        """Two controllers cannot both own one kind."""
        with pytest.raises(AssertionError):
            Registry([Entry("a", NodeController, kinds=frozenset({"X"})),
                      Entry("b", NodeController, kinds=frozenset({"X"}))])

    def test_build_shares_one_instance_per_class(self, ctx: Context) -> None:
        """node and node-gc are one NodeController; every entry gets a controller."""
        built = REGISTRY.build(ctx)
        assert set(built) == {e.name for e in ENTRIES}
        assert built[NODE] is built[NODE_GC]
        assert isinstance(built[NODE], NodeController)

    def test_build_overrides(self, ctx: Context) -> None:
        """An override replaces the entry's own instance (the service's git-wrapped desired)."""
        sentinel = REGISTRY.build(ctx)[NODE]
        assert REGISTRY.build(ctx, {DESIRED: sentinel})[DESIRED] is sentinel

    @pytest.mark.parametrize(("key", "expected"), [
        (Key("ReplicationController", "ns", "a"),
         (REPLICATION, Key("ReplicationController", "ns", "a"))),
        (Key("ReplicaSet", "ns", "a"), (REPLICATION, Key("ReplicaSet", "ns", "a"))),
        (Key("StatefulSet", "ns", "a"), (STATEFULSET, Key("StatefulSet", "ns", "a"))),
        (Key("Service", "ns", "a"), (SERVICE, Key("Service", "ns", "a"))),
        (Key("Endpoints", "ns", "a"), (SERVICE, Key("Service", "ns", "a"))),
        (Key("Node", "", "n1"), (NODE, "n1")),
    ])
    def test_route_changed_object(self, ctx: Context, key: Key,
                                  expected: tuple[str, Hashable]) -> None:
        """A changed object is enqueued under its controller's key."""
        REGISTRY.route(ctx, key)
        assert drained(ctx) == {expected}

    def test_route_unregistered_kind(self, ctx: Context) -> None:
        """A kind no controller owns (a PersistentVolume) enqueues nothing."""
        REGISTRY.route(ctx, Key("PersistentVolume", "", "a"))
        assert drained(ctx) == set()

    def test_route_owner_only_pod_owners(self, ctx: Context) -> None:
        """Only controllers that own pods are woken as a pod's owner."""
        REGISTRY.route_owner(ctx, Key("Service", "ns", "s"))
        REGISTRY.route_owner(ctx, Key("StatefulSet", "ns", "w"))
        assert drained(ctx) == {(STATEFULSET, Key("StatefulSet", "ns", "w"))}

    def test_resync_empty_store(self, ctx: Context) -> None:
        """With nothing recorded the resync still asks for a desired pass."""
        REGISTRY.resync(ctx)
        assert WorkKey(DESIRED, "all") in {WorkKey(c, i) for c, i in drained(ctx)}
