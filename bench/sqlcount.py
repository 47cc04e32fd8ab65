"""Benchmark 8, sql-per-pod: SQL statements a new pod's first sync sends to the store.

In process, no Docker: the control plane of tests/integration/control/harness.py
(every controller the service registers, a real SQLite store, in-memory hosts)
with two nodes, 100 running pods of another RC and an RC `web` of 0 replicas.
Then `web` goes to 1 replica and the queue is drained. A SQLAlchemy
`before_cursor_execute` listener on the store's engine records every statement
with the work key being reconciled when it ran, so the figure is the statements
of the first reconcile of the new pod's key (POD, uid), as the service runs it;
the statements of the whole edit (desired pass, RC, pod) are given beside it.
BEGINs (and the `PRAGMA busy_timeout` that opens each write transaction) are shown
in the note but not counted as statements.

Events are written apart, in batches, by the store's event recorder thread
(reconciler/store/recorder.py). Its statements are counted too: a batch written
while the new pod's key was being reconciled adds the pod's share of it (its
events over the batch's events, times the batch's statements) to the figure;
the batches written after the sync are given in the note with that share, and
counted whole in the edit's row. A last row grows `web` by 20 pods at once and
gives the batches' statements per new pod: what events cost when amortised.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from bench.harness import workdir
from bench.report import Goal, Row
from reconciler.api.records import EventRecord
from reconciler.control.context import POD
from reconciler.control.loop import WorkKey
from tests.integration.control.harness import TWO_NODES as NODES
from tests.integration.control.harness import Cluster

NAME = "sql-per-pod"
OTHERS = 100

RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {{name: {name}}}
spec:
  replicas: {n}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: main, image: reconciler/busybox:1, command: ["sleep", "3600"]}}
"""


# Transaction control is counted and shown, but is not a statement of the figure (the
# issue's "11 reads and 5 writes" counts reads and writes).
# The `PRAGMA busy_timeout` each SQLite write transaction starts with (store/engine.py, set
# to what is left of the writer's wait) is part of its BEGIN: no data is read or written.
BUSY_TIMEOUT = "PRAGMA busy_timeout"
CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", BUSY_TIMEOUT}


def verb(statement: str) -> str:
    """SELECT, INSERT, UPDATE, DELETE, PRAGMA, BEGIN...: the statement's first word
    (`PRAGMA busy_timeout` whole: see BUSY_TIMEOUT)."""
    if statement.lower().startswith(BUSY_TIMEOUT.lower()):
        return BUSY_TIMEOUT
    return (statement.split(None, 1) or ["?"])[0].upper()


def statements(counts: Counter[str]) -> float:
    """Reads and writes: every statement but transaction control."""
    return float(sum(v for k, v in counts.items() if k not in CONTROL))


@dataclass
class Batch:
    """One batch of the event recorder: its events and (work key, statement) pairs."""

    events: list[EventRecord]
    statements: list[tuple[WorkKey | None, str]] = field(default_factory=list)

    def share(self, uid: str) -> float:
        """The statements of this batch that the events of pod `uid` amount to."""
        mine = sum(1 for e in self.events if e.kind == "Pod" and e.uid == uid)
        counts = Counter(verb(s) for _, s in self.statements)
        return statements(counts) * mine / max(1, len(self.events))


class Batches:
    """The event recorder's batches while in use: its writer wrapped, and the statements
    its thread sends while writing one (`statement`) kept with that batch."""

    def __init__(self, c: Cluster) -> None:
        self.recorder = c.store.event_recorder()
        self.write = self.recorder.write
        self.local = threading.local()
        self.batches: list[Batch] = []

    def statement(self, key: WorkKey | None, statement: str) -> bool:
        """Keep `statement` with the batch being written in this thread; False: none is."""
        batch: Batch | None = getattr(self.local, "batch", None)
        if batch is not None:
            batch.statements.append((key, statement))
        return batch is not None

    def _counted(self, events: Sequence[EventRecord]) -> list[EventRecord]:
        self.local.batch = Batch(list(events))
        self.batches.append(self.local.batch)
        try:
            return self.write(events)
        finally:
            self.local.batch = None

    def __enter__(self) -> Batches:
        self.recorder.write = self._counted
        return self

    def __exit__(self, *exc: object) -> None:
        self.recorder.write = self.write

    def count(self) -> float:
        """Their statements (transaction control aside)."""
        return sum(statements(Counter(verb(s) for _, s in b.statements)) for b in self.batches)


def run(args: object = None) -> list[Row]:
    with workdir("sql") as tmp:
        c = Cluster(tmp)
        try:
            return _measure(c)
        finally:
            c.store.close()


def _measure(c: Cluster) -> list[Row]:
    c.write("nodes.yaml", NODES)
    c.write("others.yaml", RC.format(name="others", n=OTHERS))
    c.write("web.yaml", RC.format(name="web", n=0))
    c.converge(3)
    # (work key being reconciled, statement), in order; None: outside any reconcile.
    # Statements of other threads (the cache follower checking the store revision when
    # SQLite signals a commit) are kept apart: they are not the reconcile's own.
    seen: list[tuple[WorkKey | None, str]] = []
    elsewhere: list[tuple[WorkKey | None, str]] = []
    recorded = Batches(c)
    batches = recorded.batches
    worker = threading.get_ident()
    current: list[WorkKey | None] = [None]
    # One entry per reconcile: (key, index of its first statement, index after its last).
    spans: list[tuple[WorkKey, int, int]] = []

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if not recorded.statement(current[0], statement):
            (seen if threading.get_ident() == worker else elsewhere).append(
                (current[0], statement))

    process = c.loop.process

    def counted(key: WorkKey) -> None:
        current[0], start = key, len(seen)
        try:
            process(key)
        finally:
            current[0] = None
            spans.append((key, start, len(seen)))

    event.listen(c.store.engine, "before_cursor_execute", record)
    c.loop.process = counted  # type: ignore[method-assign]
    try:
        with recorded:
            before = {p.uid for p in c.store.list_pods()}
            c.write("web.yaml", RC.format(name="web", n=1))
            c.converge(1)  # ends with the recorder's flush: the edit's events are written
    finally:
        event.remove(c.store.engine, "before_cursor_execute", record)
        c.loop.process = process  # type: ignore[method-assign]
    new = [p for p in c.store.list_pods() if p.uid not in before]
    if len(new) != 1:
        return [Row(NAME, "a new pod's first sync", None, note=f"{len(new)} new pods")]
    first = next(((s, e) for k, s, e in spans if k == WorkKey(POD, new[0].uid)), None)
    if first is None:
        return [Row(NAME, "a new pod's first sync", None, note="its key was never reconciled")]
    key, uid = WorkKey(POD, new[0].uid), new[0].uid
    mine = Counter(verb(s) for _, s in seen[first[0]:first[1]])
    others = Counter(verb(s) for k, s in elsewhere if k == key)
    # Batches the recorder wrote while the new pod's first sync ran: only this sync's own
    # key is known to be running then (there is one worker), so a batch is "inside" when
    # a statement of it ran during that reconcile.
    inside = [b for b in batches if any(k == key for k, _ in b.statements)]
    after = [b for b in batches if b not in inside]
    amortised = sum(b.share(uid) for b in inside)
    edit = Counter(verb(s) for _, s in seen) + Counter(
        verb(s) for b in batches for _, s in b.statements)
    syncs = sum(1 for k, _, _ in spans if k == key)
    written = recorded.count()
    return [
        Row(NAME, "SQL statements, a new pod's first sync", statements(mine) + amortised, "",
            Goal("max", 4), ", ".join(f"{k} {v}" for k, v in mine.most_common())
            + f"; event batches during the sync, this pod's share: {amortised:.2f} of "
            f"{len(inside)} batches; after it: {len(after)} batches (the recorder's thread, "
            f"{sum(len(b.events) for b in after)} events, this pod's share "
            f"{sum(b.share(uid) for b in after):.2f} statements, amortised over the pods of "
            f"a batch); {OTHERS} other pods, 2 nodes, in process (SQLite, fake hosts); "
            f"meanwhile on other threads (the cache follower): {statements(others):.0f}"),
        Row(NAME, "SQL statements, the whole edit replicas 0 -> 1", statements(edit),
            "", None, ", ".join(f"{k} {v}" for k, v in edit.most_common())
            + f"; {len(spans)} reconciles, {syncs} of the new pod; of them, the event "
            f"recorder's {len(batches)} batches: {written:.0f}"),
        _burst(c),
    ]


BURST = 20


def _burst(c: Cluster) -> Row:
    """The event batches' statements per pod when `web` grows by BURST pods at once."""
    recorded = Batches(c)

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        recorded.statement(None, statement)

    event.listen(c.store.engine, "before_cursor_execute", record)
    try:
        with recorded:
            c.write("web.yaml", RC.format(name="web", n=1 + BURST))
            c.converge(1)
    finally:
        event.remove(c.store.engine, "before_cursor_execute", record)
    events = sum(len(b.events) for b in recorded.batches)
    return Row(NAME, f"event-batch statements per new pod, replicas 1 -> {1 + BURST}",
               recorded.count() / BURST, "", None,
               f"{len(recorded.batches)} batches of the event recorder, {events} events; "
               "not part of the first-sync figure (written apart, after it)")
