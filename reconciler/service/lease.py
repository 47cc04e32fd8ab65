"""The active instance's hold on the store's lease: acquire, renew on its own thread, stand down.

Part of the composition root (`reconciler.service.app`). One instance per store
acts: `wait()` blocks until this instance holds the lease, then fences the
store (every write checks the lease's epoch in the database) and registers the
local clock as the Docker action guard (every mutating call checks that the
hold is still confirmed). A lease lost to another instance stands down at once;
a store that cannot be reached stops all acting when the local hold runs out
and stands down after two ttls without a confirmation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from reconciler.planning.leases import LeaseClock
from reconciler.runtime import engine
from reconciler.store import Store
from reconciler.store.requests import CONTROLLER_LEASE

log = logging.getLogger("reconciler.service")

LEASE = CONTROLLER_LEASE


def lease_margin(ttl: float) -> float:
    """How long before the ttl the holder stops acting: room for clock drift and a call in
    flight, so a successor never acts while the old holder's last call lands."""
    return min(2.0, ttl / 5)


class LeaseKeeper:
    """This instance's hold on a lease (LEASE by default) in `store`; see the module docstring."""

    def __init__(
        self,
        store: Store,
        holder: str,
        stop_event: threading.Event,
        ttl: Callable[[], float],
        renew_period: Callable[[], float],
        name: str = LEASE,
    ) -> None:
        # ttl and period are read on each use: SIGHUP may change them, the hold follows.
        # `name`: another lease than the service's (an agent's `node/<name>`).
        self.name = name
        self.store = store
        self.holder = holder
        self.stop_event = stop_event
        self._ttl = ttl
        self._period = renew_period
        self.epoch = 0
        self.lost = ""  # why this instance stood down, once it has
        self.clock = LeaseClock(0.0, 0.0)

    def wait(self, on_standby: Callable[[str], None]) -> bool:
        """Block until the lease is ours (True) or the service is stopped (False)."""
        announced = False
        while not self.stop_event.is_set():
            ttl = self._ttl()
            started = LeaseClock.now()
            try:
                lease = self.store.try_acquire(self.name, self.holder, ttl)
            except Exception as e:  # a busy or unreachable store: keep waiting, never crash
                log.warning("lease %s not readable: %s", self.name, e)
                self.stop_event.wait(min(1.0, self._period()))
                continue
            if lease is not None:
                log.info("lease %s acquired by %s at epoch %d", self.name, self.holder, lease.epoch)
                self.epoch = lease.epoch
                self.clock = LeaseClock(ttl, lease_margin(ttl))
                self.clock.renewed(started)
                self.store.fence(self.name, self.holder, lease.epoch)
                engine.ACTION_GUARDS[:] = [self.clock.valid]
                # Renewed from now on, not from when the timers start: the first pass
                # can outlast the ttl, and must not lose the lease half-way.
                threading.Thread(target=self._renew_loop, name="lease", daemon=True).start()
                return True
            if not announced:
                current = self.store.get_lease(self.name)
                on_standby(current.holder if current else "?")
                announced = True
            self.stop_event.wait(min(1.0, self._period()))
        return False

    def _renew_loop(self) -> None:
        period = self._period()
        while not self.stop_event.wait(period):
            # After an error, retry within a second: the hold is running out.
            period = self._period() if self.renew() else min(1.0, period)

    def renew(self) -> bool:
        """One renewal: False when the store failed.

        A lease lost to another holder or epoch stands the instance down at once. A store
        that fails (locked, unreachable, full) stops all acting once the local hold runs
        out, through the clock; the instance exits only when the store has confirmed
        nothing for two ttls. A renewal at our epoch after a shorter outage proves nobody
        else acted meanwhile, so the instance carries on: a restart would gain nothing.
        """
        started = LeaseClock.now()
        ttl = self._ttl()
        try:
            held = self.store.renew(self.name, self.holder, ttl, self.epoch)
        except Exception as e:  # locked, unreachable, disk full
            unconfirmed = LeaseClock.now() - self.clock.confirmed
            if unconfirmed > 2 * ttl:
                self.stand_down(f"lease {self.name} not renewed for {unconfirmed:.0f}s: {e}")
            elif self.clock.valid():
                log.warning("lease %s not renewed (%s); retrying", self.name, e)
            else:
                log.error("lease %s not renewed within its ttl (%s): not acting until it is",
                          self.name, e)
            return False
        if not held:
            self.stand_down(f"lease {self.name} lost to another instance (epoch {self.epoch})")
        elif not self.lost:
            if not self.clock.valid():
                log.warning("lease %s confirmed again at epoch %d; acting", self.name, self.epoch)
            self.clock.ttl, self.clock.margin = ttl, lease_margin(ttl)
            self.clock.renewed(started)
        return True

    def stand_down(self, reason: str) -> None:
        """Stop acting now and stop the service; the store's fence already refuses writes."""
        self.clock.revoke()
        self.lost = reason
        self.stop_event.set()

    def release(self) -> None:
        """Give the lease up on a clean stop, so a successor takes over at once."""
        if not self.epoch:
            return
        self.clock.revoke()
        try:
            self.store.release(self.name, self.holder, self.epoch)
        except Exception as e:  # the successor then waits out the ttl instead
            log.warning("lease %s not released: %s", self.name, e)
