"""The nodes as the store holds them, kept in memory: the scheduler's and pod sync's reads.

Sits beside the cache (`reconciler.control.cache`), filled from the store on
first use and kept current by write-through (`control.writethrough`): node rows
are written by the active instance's node controller alone (registration,
heartbeats, conditions), through this process's store, so every change of a
node reaches the view after its commit. Without it each placement listed the
nodes and each pod sync read its node from SQL (a statement per pod sync).
The one exception is a node run by its own agent (`spec.agent`,
reconciler/service/agent_node.py): the agent process on that machine writes its
heartbeat, so while the view holds such a node it is read again from the store
after `agent_age` seconds (the heartbeat interval: its readiness is no fresher
than that anyway). Otherwise the store is read again after `max_age` seconds,
a safety net. Readers get copies.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable

from reconciler.api.records import NodeRecord
from reconciler.runtime.agent_node import by_agent

MAX_AGE = 60.0  # seconds before the store is read again whatever was written through


class NodeView:
    """Nodes by name; thread-safe. `list_nodes` is the store's read (`Store.list_nodes`)."""

    def __init__(self, list_nodes: Callable[[], list[NodeRecord]],
                 max_age: float = MAX_AGE, agent_age: float = 5.0) -> None:
        self._list = list_nodes
        self.max_age = max_age
        self.agent_age = agent_age
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeRecord] | None = None  # None: read the store first
        self._agents = False  # whether a node of the view is run by its agent
        self._read_at = 0.0
        self._seq = 0  # one more per write-through: a read older than one is not kept
        self.reads = 0  # how many times the store was read

    def nodes(self) -> list[NodeRecord]:
        """Every node, sorted by name (as `Store.list_nodes`)."""
        return [copy.deepcopy(n) for n in self._current().values()]

    def node(self, name: str) -> NodeRecord | None:
        found = self._current().get(name)
        return None if found is None else copy.deepcopy(found)

    # -- write-through (after a successful store commit only) ----------------------------
    def put(self, node: NodeRecord) -> None:
        record = copy.deepcopy(node)
        with self._lock:
            self._seq += 1
            if self._nodes is not None:
                self._nodes = dict(sorted({**self._nodes, record.name: record}.items()))
                self._agents = self._agents or by_agent(record)

    def remove(self, name: str) -> None:
        with self._lock:
            self._seq += 1
            if self._nodes is not None:  # a new dict: readers iterate the old one unlocked
                self._nodes = {k: v for k, v in self._nodes.items() if k != name}

    def invalidate(self) -> None:
        """The next read goes to the store (a read in flight is not kept: it may be older)."""
        with self._lock:
            self._seq += 1
            self._nodes = None

    def _current(self) -> dict[str, NodeRecord]:
        with self._lock:
            nodes = self._nodes
            limit = self.agent_age if self._agents else self.max_age
            if nodes is not None and time.monotonic() - self._read_at < limit:
                return nodes
            seq = self._seq
        listed = {n.name: n for n in self._list()}
        self.reads += 1
        with self._lock:
            # A node written through while the store was read may be newer than the list.
            if self._seq == seq:
                self._nodes, self._read_at = listed, time.monotonic()
                self._agents = any(by_agent(n) for n in listed.values())
            return listed
