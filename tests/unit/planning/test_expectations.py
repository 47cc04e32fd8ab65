"""Controller expectations: pending creates and deletes, fulfilment, expiry, thread safety."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from reconciler.planning.expectations import EXPECTATIONS_TIMEOUT, Expectations

T0 = datetime(2024, 1, 1, tzinfo=UTC)
KEY = "ReplicationController/default/web"


class TestExpectations:
    def test_unknown_key_is_satisfied(self) -> None:
        """A controller never seen syncs right away."""
        assert Expectations().satisfied(KEY, T0)

    def test_creations_until_observed(self) -> None:
        """Pending creations block until every one is observed."""
        e = Expectations()
        e.expect_creations(KEY, ["web-a", "web-b"], T0)
        assert not e.satisfied(KEY, T0)
        e.creation_observed(KEY, "web-a")
        assert not e.satisfied(KEY, T0)
        e.creation_observed(KEY, "web-b")
        assert e.satisfied(KEY, T0)

    def test_deletions_until_observed(self) -> None:
        """Pending deletions block until observed; unrelated names change nothing."""
        e = Expectations()
        e.expect_deletions(KEY, ["web-a"], T0)
        e.deletion_observed(KEY, "web-z")
        e.creation_observed(KEY, "web-a")
        assert not e.satisfied(KEY, T0)
        e.deletion_observed(KEY, "web-a")
        assert e.satisfied(KEY, T0)

    def test_expiry(self) -> None:
        """Expectations older than five minutes no longer block (ExpectationsTimeout)."""
        e = Expectations()
        e.expect_creations(KEY, ["web-a"], T0)
        assert not e.satisfied(KEY, T0 + EXPECTATIONS_TIMEOUT)
        assert e.satisfied(KEY, T0 + EXPECTATIONS_TIMEOUT + timedelta(seconds=1))

    def test_clock_default_and_forget(self) -> None:
        """Without `now` the injected clock stamps them; forget drops them."""
        e = Expectations(clock=lambda: T0)
        e.expect_creations(KEY, ["web-a"])
        assert e.pending(KEY) == (frozenset({"web-a"}), frozenset())
        assert e.satisfied(KEY, T0 + timedelta(minutes=6))
        e.forget(KEY)
        assert e.pending(KEY) == (frozenset(), frozenset())

    def test_keys_are_independent(self) -> None:
        """One controller's expectations never block another's."""
        e = Expectations()
        e.expect_creations(KEY, ["web-a"], T0)
        assert e.satisfied("ReplicaSet/default/web", T0)

    def test_concurrent_observations(self) -> None:
        """Observations from many threads all count."""
        e = Expectations()
        names = [f"web-{i}" for i in range(400)]
        e.expect_creations(KEY, names, T0)
        threads = [threading.Thread(target=lambda n=n: e.creation_observed(KEY, n)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert e.satisfied(KEY, T0)

    @given(st.sets(st.text(min_size=1, max_size=5), max_size=10),
           st.sets(st.text(min_size=1, max_size=5), max_size=10))
    def test_satisfied_iff_all_observed(self, expected: set[str], observed: set[str]) -> None:
        """Before the timeout, satisfied exactly when every expected name was observed."""
        e = Expectations()
        e.expect_creations(KEY, expected, T0)
        for name in observed:
            e.creation_observed(KEY, name)
        assert e.satisfied(KEY, T0) == expected.issubset(observed)
