"""The service's garbage-collection policy (service/gcpolicy.py): freeze, and refold when idle."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from reconciler.service import gcpolicy
from tests.support.clock import ManualClock


class Cycle:
    """An object in a reference cycle with itself: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def dropped_cycle() -> weakref.ref[Cycle]:
    """A cycle dropped at once: only a collection frees it."""
    return weakref.ref(Cycle())


def frozen_then_dropped() -> weakref.ref[Cycle]:
    """A cycle frozen, then dropped: only a fold (unfreeze, collect) frees it."""
    cycle = Cycle()
    gcpolicy.freeze()
    dead = weakref.ref(cycle)
    del cycle
    return dead


class TestFreeze:
    def test_freezes_what_is_left(self) -> None:
        """Every tracked object alive after the collection is frozen, out of the walks."""
        kept = [Cycle() for _ in range(1000)]
        gcpolicy.freeze()
        assert gc.get_freeze_count() >= len(kept)
        assert all(not any(isinstance(o, Cycle) for o in gc.get_objects(g)) for g in range(3))

    def test_garbage_is_collected_before(self) -> None:
        """A dropped cycle is collected by the freeze, not frozen for good."""
        gc.disable()  # no collection of the collector's own choosing in between
        try:
            dead = dropped_cycle()
            gcpolicy.freeze()
            assert dead() is None
        finally:
            gc.enable()


class TestRefolder:
    def test_not_before_the_interval(self) -> None:
        """Nothing is folded before REFOLD_INTERVAL, idle or not."""
        clock = ManualClock(0.0)
        refold = gcpolicy.Refolder(lambda: True, clock)
        clock.now = gcpolicy.REFOLD_INTERVAL - 1
        assert not refold()

    def test_not_while_busy(self) -> None:
        """Once due, a busy loop is left alone: a cycle dropped since the freeze stays."""
        clock = ManualClock(0.0)
        refold = gcpolicy.Refolder(lambda: False, clock)
        dead = frozen_then_dropped()
        clock.now = gcpolicy.REFOLD_INTERVAL + 1
        assert not refold()
        gc.collect()  # walks only what is not frozen: the frozen cycle stays
        assert dead() is not None

    def test_idle_folds_anew(self) -> None:
        """Once due and idle, a frozen cycle dropped since is freed and the rest frozen again."""
        clock = ManualClock(0.0)
        refold = gcpolicy.Refolder(lambda: True, clock)
        dead = frozen_then_dropped()
        kept = [Cycle() for _ in range(100)]
        clock.now = gcpolicy.REFOLD_INTERVAL + 1
        assert refold()
        assert dead() is None
        assert gc.get_freeze_count() >= len(kept)
        assert not refold()  # and the next one is an interval away

    def test_busy_for_too_long_is_folded_anyway(self) -> None:
        """A loop never found idle is folded after FORCE_AFTER: cycles never pile up."""
        clock = ManualClock(0.0)
        refold = gcpolicy.Refolder(lambda: False, clock)
        clock.now = gcpolicy.FORCE_AFTER
        assert refold()
