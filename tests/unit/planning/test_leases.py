"""Who may take or renew a lease, and the holder's local clock (planning.leases), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.planning.leases import Grant, Hold, LeaseClock, acquire, expiry, is_live

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=5)
EARLIER = NOW - timedelta(seconds=5)


class TestAcquire:
    def test_never_taken_starts_at_epoch_one(self) -> None:
        """A lease without a row is taken at epoch 1, expiring a ttl from now."""
        assert acquire(None, "a", NOW, 10) == Grant(NOW + timedelta(seconds=10), 1, taken=True)

    def test_live_hold_of_another_is_refused(self) -> None:
        """Another holder's live hold cannot be taken."""
        assert acquire(Hold("b", LATER, 3), "a", NOW, 10) is None

    def test_renewing_our_live_hold_keeps_the_epoch(self) -> None:
        """Our own live hold is renewed: same epoch, not taken anew, a new expiry."""
        assert acquire(Hold("a", LATER, 3), "a", NOW, 10) == Grant(
            NOW + timedelta(seconds=10), 3, taken=False)

    def test_expired_hold_of_another_is_taken_with_the_next_epoch(self) -> None:
        """Another holder's expired hold is taken and the epoch rises by one."""
        assert acquire(Hold("b", EARLIER, 3), "a", NOW, 10) == Grant(
            NOW + timedelta(seconds=10), 4, taken=True)

    def test_our_own_expired_hold_is_taken_anew(self) -> None:
        """Retaking our own expired hold raises the epoch: writes of the old hold are fenced."""
        grant = acquire(Hold("a", EARLIER, 3), "a", NOW, 10)
        assert grant is not None and grant.taken and grant.epoch == 4

    def test_released_lease_is_taken_with_the_next_epoch(self) -> None:
        """A released lease (no holder, expired at release) is free and the epoch keeps rising."""
        grant = acquire(Hold("", NOW, 7), "b", NOW, 10)
        assert grant is not None and grant.taken and grant.epoch == 8

    def test_hold_expiring_exactly_now_is_free(self) -> None:
        """A hold whose expiry is now has expired: another holder may take it."""
        grant = acquire(Hold("b", NOW, 1), "a", NOW, 10)
        assert grant is not None and grant.epoch == 2


class TestExpiry:
    def test_expiry_is_ttl_after_now(self) -> None:
        """A hold lasts ttl seconds, fractions included."""
        assert expiry(NOW, 0.25) == NOW + timedelta(milliseconds=250)

    def test_is_live_strictly_before_expiry(self) -> None:
        """Live before the expiry, not at it nor after."""
        assert is_live(LATER, NOW) and not is_live(NOW, NOW) and not is_live(EARLIER, NOW)


class TestLeaseClock:
    def test_valid_until_ttl_after_renew_started(self) -> None:
        """The local hold lasts from when the renew started, less the margin."""
        clock = LeaseClock(ttl=60, margin=1)
        assert not clock.valid()
        clock.renewed(clock.now())
        assert clock.valid() and clock.remaining() <= 59

    def test_renew_started_a_ttl_ago_is_not_valid(self) -> None:
        """A renew that started a ttl ago (the process was stopped since) gives no hold."""
        clock = LeaseClock(ttl=5, margin=1)
        clock.renewed(clock.now() - 5)
        assert not clock.valid()

    def test_an_older_renew_does_not_shorten_the_hold(self) -> None:
        """A renew reported late, that started before the last one, keeps the later deadline."""
        clock = LeaseClock(ttl=60, margin=1)
        now = clock.now()
        clock.renewed(now)
        clock.renewed(now - 50)
        assert clock.remaining() > 50 and clock.confirmed == now

    def test_revoke(self) -> None:
        """Revoking ends the hold at once."""
        clock = LeaseClock(ttl=60, margin=1)
        clock.renewed(clock.now())
        clock.revoke()
        assert not clock.valid()
