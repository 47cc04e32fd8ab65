"""The node view: filled from the store once, kept by write-through, read again when old."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.api.records import NodeRecord
from reconciler.control.nodeview import NodeView
from reconciler.runtime.agent_node import SCHEME

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def node(name: str, ready: bool = True) -> NodeRecord:
    return NodeRecord(name, f"unix:///{name}.sock", T0, ready=ready)


class Store:
    """The one read the view makes, counted."""

    def __init__(self, *nodes: NodeRecord) -> None:
        self.rows = {n.name: n for n in nodes}
        self.reads = 0

    def list_nodes(self) -> list[NodeRecord]:
        self.reads += 1
        return [self.rows[k] for k in sorted(self.rows)]


class TestNodeView:
    def test_reads_the_store_once_then_serves_copies(self) -> None:
        """Two reads, one list; a caller changing its copy changes nothing in the view."""
        store = Store(node("b"), node("a"))
        view = NodeView(store.list_nodes)
        assert [n.name for n in view.nodes()] == ["a", "b"]
        got = view.node("a")
        assert got is not None
        got.ready = False
        assert view.node("a") == node("a")
        assert view.node("c") is None
        assert store.reads == 1

    def test_written_through_nodes_are_seen_without_a_read(self) -> None:
        """A put replaces or adds a node, a remove drops it, in name order."""
        store = Store(node("b"))
        view = NodeView(store.list_nodes)
        view.nodes()
        view.put(node("b", ready=False))
        view.put(node("a"))
        assert [(n.name, n.ready) for n in view.nodes()] == [("a", True), ("b", False)]
        view.remove("a")
        assert [n.name for n in view.nodes()] == ["b"]
        assert store.reads == 1

    def test_an_old_or_invalidated_view_reads_the_store_again(self) -> None:
        """Past max_age, or after invalidate, what another writer wrote is seen."""
        store = Store(node("a"))
        view = NodeView(store.list_nodes, max_age=0.0)
        view.nodes()
        store.rows["b"] = node("b")
        assert [n.name for n in view.nodes()] == ["a", "b"]
        fresh = NodeView(store.list_nodes)
        fresh.nodes()
        del store.rows["a"]
        fresh.invalidate()
        assert [n.name for n in fresh.nodes()] == ["b"]

    def test_a_node_run_by_its_agent_is_read_again_after_agent_age(self) -> None:
        """An agent writes its node's heartbeat from its own machine: no longer trusted alone."""
        agent = NodeRecord("b", f"{SCHEME}b", T0, ready=True)
        store = Store(node("a"), agent)
        view = NodeView(store.list_nodes, max_age=3600.0, agent_age=0.0)
        view.nodes()
        store.rows["b"] = NodeRecord("b", f"{SCHEME}b", T0, ready=False)
        assert view.node("b") == store.rows["b"]
        plain = NodeView(Store(node("a")).list_nodes, max_age=3600.0, agent_age=0.0)
        plain.nodes()
        plain.nodes()
        assert plain.reads == 1

    def test_an_invalidate_during_a_read_discards_that_read(self) -> None:
        """A read begun before an invalidate may be older than it: the next read lists again."""
        store = Store(node("a"))
        invalidating = [True]

        def list_nodes() -> list[NodeRecord]:
            got = store.list_nodes()
            if invalidating.pop() if invalidating else False:
                view.invalidate()  # `reconciler sync`, or another process's writes found
            return got
        view = NodeView(list_nodes)
        view.nodes()
        store.rows["b"] = node("b")
        assert [n.name for n in view.nodes()] == ["a", "b"]
