"""Endpoint choice for the userspace proxy: round robin with optional ClientIP affinity.

Pure (the clock is injected): one `Balancer` per service port lives in
`reconciler.network.userspace`; the TCP and UDP proxies ask it for a backend per
new connection or session, and tell it which backends refused so a retry goes
elsewhere. The iptables mode does the same in the kernel (`rules.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from reconciler.network.model import Backend


@dataclass
class _Sticky:
    backend: Backend
    last_used: float


@dataclass
class Balancer:
    """Picks backends for one service port; safe to `update` while connections are open."""

    backends: tuple[Backend, ...] = ()
    affinity: bool = False
    affinity_timeout: float = 10800.0
    clock: Callable[[], float] = time.monotonic
    _next: int = 0
    _sticky: dict[str, _Sticky] = field(default_factory=dict)

    def update(
        self, backends: Iterable[Backend], affinity: bool, affinity_timeout: float
    ) -> None:
        """New endpoints: clients stuck to a backend that is gone choose again."""
        self.backends = tuple(backends)
        self.affinity = affinity
        self.affinity_timeout = affinity_timeout
        alive = set(self.backends)
        if not affinity:
            self._sticky.clear()
        else:
            self._sticky = {c: s for c, s in self._sticky.items() if s.backend in alive}
        if self.backends:
            self._next %= len(self.backends)

    def pick(self, client_ip: str, exclude: frozenset[Backend] = frozenset()) -> Backend | None:
        """The backend for a new connection from `client_ip`; None when none is left to try."""
        now = self.clock()
        if self.affinity:
            sticky = self._sticky.get(client_ip)
            if (
                sticky is not None
                and now - sticky.last_used <= self.affinity_timeout
                and sticky.backend not in exclude
                and sticky.backend in self.backends
            ):
                sticky.last_used = now
                return sticky.backend
        candidates = [b for b in self.backends if b not in exclude]
        if not candidates:
            return None
        n = len(self.backends)
        chosen: Backend | None = None
        for i in range(n):
            b = self.backends[(self._next + i) % n]
            if b not in exclude:
                chosen = b
                self._next = (self._next + i + 1) % n
                break
        assert chosen is not None
        if self.affinity:
            self._sticky[client_ip] = _Sticky(chosen, now)
        return chosen

    def forget(self, client_ip: str) -> None:
        """Drop a client's affinity (its backend refused): the next pick may go elsewhere."""
        self._sticky.pop(client_ip, None)
