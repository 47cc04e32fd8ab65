"""Garbage collection for a long-running control loop: what start-up built, frozen.

Used by the service (service/app.py) once it is ready, then by a timer. CPython's
full collection (generation 2) walks every tracked object: with the cache filled
and 1,000 manifests parsed that is about 200,000 objects and a 100-200 ms pause
at a moment the collector picks, which was the tail of a folder edit's latency to
its first Docker call (bench steady-state; docs/performance.md). Most of what
start-up builds lives as long as the process (modules, the filled cache, the
parsed folder): `gc.freeze()` takes it out of the collector's walks, so the
collections that follow walk only what was made since.

A frozen object that is dropped later is still freed by reference counting; only
a reference cycle among frozen objects would wait. So the frozen set is folded
anew (unfreeze, one full collection, freeze) every REFOLD_INTERVAL, when the
control loop is idle: that pause falls where no work waits. A loop never found
idle is folded anyway after FORCE_AFTER, so such cycles never pile up.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# How often the frozen set is folded anew (a full collection, when idle), how often the
# timer looks for an idle moment once it is due, and when it folds even a busy loop.
REFOLD_INTERVAL = 600.0
CHECK_EVERY = 10.0
FORCE_AFTER = 1800.0


def freeze() -> None:
    """Collect fully, then freeze every object left."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    took = time.perf_counter() - started
    log.debug("gc: %d objects frozen in %.0f ms", gc.get_freeze_count(), took * 1000)


class Refolder:
    """The timer's job (every CHECK_EVERY): fold the frozen set anew once REFOLD_INTERVAL
    has passed since the last fold and the loop is `idle()`, or FORCE_AFTER has."""

    def __init__(self, idle: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle = idle
        self.clock = clock
        self.last = clock()

    def __call__(self) -> bool:
        """Whether it folded now."""
        since = self.clock() - self.last
        if since < REFOLD_INTERVAL or (since < FORCE_AFTER and not self.idle()):
            return False
        freeze()
        self.last = self.clock()
        return True
