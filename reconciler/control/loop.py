"""The reconcile loop: worker threads that take keys off the queue and run their controller.

Sits after the work queue. Controllers are plain objects with a
`reconcile(key) -> Result`; this module owns every retry, as
controller-runtime does: an exception means backoff and retry, `requeue_after`
a delayed retry, success forgets the key. Handlers never sleep or loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from reconciler.control.queue import ShutDown, WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What a reconcile asks of the loop: nothing, or to come back after a delay."""

    requeue_after: float | None = None

    @staticmethod
    def done() -> Result:
        return Result()

    @staticmethod
    def after(seconds: float) -> Result:
        return Result(requeue_after=seconds)


class Terminal(Exception):
    """An error retrying cannot fix: reported once, not retried."""


@dataclass(frozen=True)
class WorkKey:
    """A unit of work: which controller, and the id of the object it reconciles."""

    controller: str
    id: Hashable

    def __str__(self) -> str:
        return f"{self.controller}:{self.id}"


class Reconciler(Protocol):
    def reconcile(self, key: WorkKey) -> Result: ...


Observer = Callable[[str, float, bool], None]  # controller, seconds, ok


class Loop:
    """Runs `workers` threads over one queue, dispatching each key to its controller."""

    def __init__(
        self,
        queue: WorkQueue[WorkKey],
        controllers: dict[str, Reconciler],
        workers: int = 8,
        observe: Observer | None = None,
    ) -> None:
        self.queue = queue
        self.controllers = controllers
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._observe = observe
        self._busy = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        for i in range(self._workers):
            t = threading.Thread(target=self._run, name=f"reconcile-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work; wait up to `timeout` for reconciles in flight."""
        self.queue.shutdown()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def _run(self) -> None:
        while True:
            try:
                key = self.queue.get(timeout=1.0)
            except ShutDown:
                return
            if key is None:
                continue
            with self._lock:
                self._busy += 1
            try:
                self.process(key)
            finally:
                with self._lock:
                    self._busy -= 1
                self.queue.done(key)

    def process(self, key: WorkKey) -> None:
        """Reconcile one key and decide what happens to it next."""
        controller = self.controllers.get(key.controller)
        if controller is None:
            log.error("no controller for %s", key)
            return
        started = time.monotonic()
        ok = True
        try:
            result = controller.reconcile(key)
        except Terminal as e:
            log.error("reconcile %s: %s", key, e)
            self.queue.forget(key)
            ok = False
            return
        except Exception:
            ok = False
            n = self.queue.failures(key)
            log.warning("reconcile %s failed (attempt %d), retrying", key, n + 1, exc_info=n < 3)
            self.queue.add_rate_limited(key)
            return
        finally:
            if self._observe is not None:
                self._observe(key.controller, time.monotonic() - started, ok)
        self.queue.forget(key)
        if result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)
