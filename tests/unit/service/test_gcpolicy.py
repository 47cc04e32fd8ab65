"""The service's garbage-collection policy (service/gcpolicy.py): freeze, and refold when idle."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from reconciler.service import gcpolicy


class Cycle:
    """An object in a reference cycle with itself: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


class TestFreeze:
    def test_freezes_what_is_left(self) -> None:
        """Everything alive after the collection is frozen, out of the collector's walks."""
        kept = [{"n": i} for i in range(1000)]
        gcpolicy.freeze()
        assert gc.get_freeze_count() >= len(kept)
        assert all(len(gc.get_objects(g)) < len(kept) for g in range(3))

    def test_garbage_is_collected_before(self) -> None:
        """A dropped cycle is collected, not frozen for good."""
        gcpolicy.freeze()
        frozen = gc.get_freeze_count()
        Cycle()  # unreachable at once, but only the collector frees it
        gcpolicy.freeze()
        assert not any(isinstance(o, Cycle) for o in gc.get_objects())
        assert gc.get_freeze_count() <= frozen + 10


class TestRefold:
    def test_not_while_busy(self) -> None:
        """A busy loop is left alone: nothing collected, nothing frozen."""
        gcpolicy.freeze()
        frozen = gc.get_freeze_count()
        kept = [{"n": i} for i in range(1000)]
        assert not gcpolicy.refold(lambda: False)
        assert gc.get_freeze_count() == frozen and kept

    def test_idle_folds_anew(self) -> None:
        """An idle loop: what was made since is frozen, a frozen cycle dropped since is freed."""
        cycle = Cycle()
        gcpolicy.freeze()
        del cycle  # frozen, so no collection would free it
        kept = [{"n": i} for i in range(1000)]
        assert gcpolicy.refold(lambda: True)
        assert gc.get_freeze_count() >= len(kept)
        gc.unfreeze()
        assert not any(isinstance(o, Cycle) for o in gc.get_objects())
