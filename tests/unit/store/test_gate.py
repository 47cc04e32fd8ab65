"""The in-process writer queue (`reconciler.store.gate`): order, timeouts, sharing, and
one busy timeout for queue and lock together (on a real SQLite file)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.api.records import NodeRecord
from reconciler.store import Store
from reconciler.store.engine import BUSY_TIMEOUT_MS
from reconciler.store.gate import FifoGate, GateTimeout, gate_for


def queue_up(gate: FifoGate, names: list[str], order: list[str]) -> list[threading.Thread]:
    """One thread per name, started one after another so each is queued before the next."""
    threads = []
    for name in names:
        def take(name: str = name) -> None:
            with gate.held(5.0):
                order.append(name)
        t = threading.Thread(target=take)
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 2
        while gate._next_ticket < len(threads) + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    return threads


class TestFifoGate:
    def test_turns_come_in_arrival_order(self) -> None:
        """Threads that queued while the gate was held get it in the order they asked."""
        gate = FifoGate()
        order: list[str] = []
        gate.acquire(1.0)
        threads = queue_up(gate, ["a", "b", "c", "d"], order)
        gate.release()
        for t in threads:
            t.join(5)
        assert order == ["a", "b", "c", "d"]

    def test_timeout_raises_and_leaves_the_queue_moving(self) -> None:
        """A waiter that gives up raises GateTimeout; the one behind it still gets its turn."""
        gate = FifoGate()
        gate.acquire(1.0)
        with pytest.raises(GateTimeout, match="database is locked"):
            gate.acquire(0.05)
        order: list[str] = []
        threads = queue_up(gate, ["late"], order)
        gate.release()
        threads[0].join(5)
        assert order == ["late"]

    def test_free_gate_is_taken_at_once(self) -> None:
        """With nobody queued, the gate is granted without waiting and can be taken again."""
        gate = FifoGate()
        with gate.held(0.0):
            pass
        with gate.held(0.0):
            pass


class TestGateFor:
    def test_one_gate_per_file(self, tmp_path: Path) -> None:
        """Stores on the same file share a gate; another file has its own."""
        a, b = tmp_path / "a.db", tmp_path / "b.db"
        assert gate_for(a) is gate_for(a)
        assert gate_for(a) is not gate_for(b)


class TestOneBusyTimeout:
    def test_the_queue_wait_counts_against_the_busy_timeout(self, tmp_path: Path) -> None:
        """A writer that waited its turn in the queue gets only what is left of the busy
        timeout at SQLite's lock: queue and lock together never wait longer than one."""
        store = Store.open(str(tmp_path / "state.db"))
        applied: list[int] = []

        def spy(conn: object, cursor: object, statement: str, *args: object) -> None:
            if statement.startswith("PRAGMA busy_timeout="):
                applied.append(int(statement.split("=")[1]))

        sa.event.listen(store.engine, "before_cursor_execute", spy)
        gate = gate_for(Path(str(store.engine.url.database)))
        gate.acquire(1.0)  # another writer of this process holds its turn
        writer = threading.Thread(target=store.upsert_node, args=(
            NodeRecord("n1", "unix://", datetime.now(UTC)),))
        writer.start()
        time.sleep(0.5)
        gate.release()
        writer.join(10)
        assert store.get_node("n1") is not None
        assert applied and applied[-1] <= BUSY_TIMEOUT_MS - 400
