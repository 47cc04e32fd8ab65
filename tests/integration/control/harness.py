"""The control plane on a real store (SQLite or PostgreSQL) with fake hosts, converged
by draining the queue.

Shared by the controller integration tests: every controller of the registry
(reconciler/control/registry.py), as the service builds them, a `FakeHosts` agent factory, and
`converge` standing in for the service's loop and its periodic resync.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.control.context import DESIRED, NODE, STATEFULSET, Context, Settings
from reconciler.control.loop import Loop, Reconciler, WorkKey
from reconciler.control.queue import WorkQueue
from reconciler.control.registry import REGISTRY
from reconciler.runtime.fake import FakeHosts
from reconciler.runtime.types import RuntimeConfig
from reconciler.store import Store

# Hosts of the fake agents, as most controller tests declare them: `a`, and `a` with `b`.
NODE_A = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: a}
spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1}
"""
TWO_NODES = NODE_A + """\
---
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: b}
spec: {engine: "unix:///fake/b.sock", address: 10.250.0.2}
"""


def rc(replicas: int, name: str = "web") -> str:
    """An RC of `replicas` busybox pods labelled app=`name` (its selector by default)."""
    return f"""\
apiVersion: v1
kind: ReplicationController
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: web
        image: reconciler/busybox:1
        ports: [{{containerPort: 8080, name: http}}]
"""


class Cluster:
    """Controllers, a store and fake hosts; `converge` drains the queue."""

    def __init__(self, tmp: Path, state: str | None = None) -> None:
        self.desired = tmp / "desired"
        self.desired.mkdir(exist_ok=True)  # exists when a test "restarts" on the same store
        # `state`: a store URL (the `store_url` fixture); by default a SQLite file in `tmp`.
        self.state = state or str(tmp / "state.db")
        self.store = Store.open(self.state)
        self.hosts = FakeHosts()
        self.queue: WorkQueue[WorkKey] = WorkQueue()
        self.ctx = Context(
            store=self.store,
            queue=self.queue,
            runtime=RuntimeConfig(),
            settings=Settings(desired=str(self.desired), eviction_timeout=0,
                              not_ready_timeout=0),
            agent_factory=self.hosts,
        )
        # The service's cache: filled, written through and following other writers.
        self.ctx.start_cache()
        close_store = self.store.close

        def close() -> None:
            self.ctx.stop_cache()
            close_store()

        self.store.close = close  # type: ignore[method-assign]
        # Every controller of the registry, as the service builds them.
        self.controllers: dict[str, Reconciler] = REGISTRY.build(self.ctx)
        self.loop = Loop(self.queue, self.controllers)

    def write(self, name: str, text: str) -> Path:
        path = self.desired / name
        path.write_text(text)
        return path

    def converge(self, passes: int = 1) -> None:
        """`passes` times: the resync's keys, then reconcile until nothing is due now.

        Delayed requeues are not waited for; the StatefulSet keys of each pass stand
        in for them (a set waits for its members' readiness by requeueing).
        """
        for _ in range(passes):
            self.queue.add(WorkKey(DESIRED, "all"))
            for node in self.store.list_nodes():
                self.queue.add(WorkKey(NODE, node.name))
            for obj in self.store.objects(kind="StatefulSet"):
                self.queue.add(WorkKey(STATEFULSET, obj.key))
            for _ in range(1000):
                key = self.queue.get(timeout=0)
                if key is None:
                    break
                try:
                    self.loop.process(key)
                finally:
                    self.queue.done(key)
            else:
                raise AssertionError("did not settle")
        # Events are written apart, in batches (store/recorder.py): what a pass recorded is
        # in the store once it has converged, as the tests read it.
        self.store.flush_events()

    def running(self) -> list[str]:
        return sorted(p.name for p in self.store.list_pods()
                      if p.phase == "Running" and p.deletion_timestamp is None)
