"""Tests of the work queue and the reconcile loop's retry rules."""

from __future__ import annotations

import threading

import pytest

from reconciler.control.loop import Loop, Result, Terminal, WorkKey
from reconciler.control.queue import ShutDown, WorkQueue
from tests.support.clock import ManualClock


class TestWorkQueue:
    def test_deduplicates_waiting_keys(self) -> None:
        """A key added twice before it is taken is processed once."""
        q: WorkQueue[str] = WorkQueue()
        q.add("a")
        q.add("a")
        assert q.get(timeout=0) == "a"
        q.done("a")
        assert q.get(timeout=0) is None

    def test_key_added_while_processing_comes_back_after_done(self) -> None:
        """A change during a reconcile is not lost, and never runs concurrently."""
        q: WorkQueue[str] = WorkQueue()
        q.add("a")
        assert q.get(timeout=0) == "a"
        q.add("a")
        assert q.get(timeout=0) is None  # not handed to a second worker
        q.done("a")
        assert q.get(timeout=0) == "a"

    def test_add_after_waits_for_its_time(self) -> None:
        """Delayed keys appear only once their delay has passed."""
        clock = ManualClock(0.0)
        q: WorkQueue[str] = WorkQueue(clock=clock)
        q.add_after("a", 5)
        assert q.get(timeout=0) is None
        clock.now = 5
        assert q.get(timeout=0) == "a"

    def test_a_waiting_key_keeps_its_earlier_time(self) -> None:
        """A key delayed twice waits once, until the earlier of its two times."""
        clock = ManualClock(0.0)
        q: WorkQueue[str] = WorkQueue(clock=clock)
        q.add_after("a", 5)
        q.add_after("a", 9)
        q.add_after("b", 9)
        q.add_after("b", 2)
        assert q.depth() == 2
        clock.now = 2
        assert q.get(timeout=0) == "b"
        q.done("b")
        assert q.get(timeout=0) is None  # b's stale time 9 is not a second wait
        clock.now = 5
        assert q.get(timeout=0) == "a"
        q.done("a")
        clock.now = 10
        assert q.get(timeout=0) is None
        assert q.depth() == 0

    def test_self_requeue_plus_periodic_adds_stays_one_chain(self) -> None:
        """A key that requeues itself after each pass, also added by every resync, is
        processed once per period, not once more per resync that went by."""
        clock = ManualClock(0.0)
        q: WorkQueue[str] = WorkQueue(clock=clock)
        processed = 0
        q.add("node")

        def run_due() -> None:
            nonlocal processed
            while (key := q.get(timeout=0)) is not None:
                processed += 1
                q.done(key)
                q.add_after(key, 1.0)

        run_due()  # at 0: the chain's phase is whole seconds
        for tick in range(1, 121):  # 120 s of a 1 s heartbeat, with a resync every 5 s
            clock.now = tick - 0.5  # the resync, out of the chain's phase
            if tick % 5 == 0:
                q.add("node")
            run_due()
            clock.now = float(tick)
            run_due()
        assert processed <= 120 + 120 // 5 + 1

    def test_backoff_doubles_until_forget(self) -> None:
        """Each failure doubles the delay; forget resets it."""
        clock = ManualClock(0.0)
        q: WorkQueue[str] = WorkQueue(clock=clock)
        q.add_rate_limited("a")
        q.add_rate_limited("a")
        assert q.failures("a") == 2
        q.forget("a")
        assert q.failures("a") == 0

    def test_shutdown_wakes_getters(self) -> None:
        """A blocked worker leaves on shutdown."""
        q: WorkQueue[str] = WorkQueue()
        raised = threading.Event()

        def worker() -> None:
            try:
                q.get()
            except ShutDown:
                raised.set()

        t = threading.Thread(target=worker)
        t.start()
        q.shutdown()
        t.join(2)
        assert raised.is_set()


class Flaky:
    def __init__(self, outcomes: list[object]) -> None:
        self.outcomes = outcomes
        self.calls = 0

    def reconcile(self, key: WorkKey) -> Result:
        outcome = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, Result)
        return outcome


class TestLoop:
    def _loop(self, outcomes: list[object]) -> tuple[Loop, Flaky, WorkQueue[WorkKey], ManualClock]:
        clock = ManualClock(0.0)
        q: WorkQueue[WorkKey] = WorkQueue(clock=clock)
        flaky = Flaky(outcomes)
        return Loop(q, {"x": flaky}), flaky, q, clock

    def test_error_requeues_with_backoff(self) -> None:
        """An exception puts the key back after its backoff."""
        loop, _flaky, q, clock = self._loop([RuntimeError("boom"), Result.done()])
        key = WorkKey("x", 1)
        loop.process(key)
        assert q.failures(key) == 1
        clock.now = 100
        assert q.get(timeout=0) == key

    def test_requeue_after(self) -> None:
        """requeue_after brings the key back after that delay and resets failures."""
        loop, _flaky, q, clock = self._loop([Result.after(3)])
        key = WorkKey("x", 1)
        loop.process(key)
        assert q.get(timeout=0) is None
        clock.now = 3
        assert q.get(timeout=0) == key

    @pytest.mark.parametrize("outcome", [Terminal("bad"), Result.done()])
    def test_terminal_and_success_forget(self, outcome: object) -> None:
        """A terminal error and a success both leave nothing queued."""
        loop, _flaky, q, clock = self._loop([outcome])
        key = WorkKey("x", 1)
        loop.process(key)
        clock.now = 1000
        assert q.get(timeout=0) is None
