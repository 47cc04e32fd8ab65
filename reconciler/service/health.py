"""Component health for `reconciler get componentstatuses`, published into the store.

The running service knows whether its parts work (controllers, scheduler,
each node's engine, fluentd, proxy, DNS); the CLI reads the store only, so the
service gathers them every second and writes the rows when one changed, and
at least every `REFRESH` seconds so their age says the service is alive: a row
older than `views.listings.COMPONENTS_FRESH` (30 s) means the service itself is
down, and the CLI says so. (Writing every second cost an idle service most of
its CPU.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from reconciler.api.records import NodeRecord
from reconciler.store import Store

REFRESH = 10.0  # seconds between writes of unchanged health


@dataclass(frozen=True)
class Health:
    healthy: bool
    message: str


class HasHealth(Protocol):
    def health(self) -> object: ...


class HealthBoard:
    """The latest health of each component, written to the store by `publish`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Health] = {}
        self._published: dict[str, Health] | None = None
        self._published_at = 0.0

    def set(self, component: str, health: Health) -> None:
        with self._lock:
            self._items[component] = health

    def snapshot(self) -> dict[str, Health]:
        with self._lock:
            return dict(self._items)

    def publish(self, store: Store, fluent: HasHealth | None,
                nodes: list[NodeRecord] | None = None) -> None:
        """Gather what other parts report; write every component in one transaction when
        one changed or `REFRESH` seconds went by. `nodes`: as read already (else the store's)."""
        for node in store.list_nodes() if nodes is None else nodes:
            self.set(
                f"node/{node.name}",
                Health(node.ready, node.message or ("Ready" if node.ready else node.reason)),
            )
        self.set("store", Health(True, store.engine.url.render_as_string(hide_password=True)))
        if fluent is None:
            self.set("fluentd", Health(True, "not configured: logs go to stderr (journald)"))
        else:
            h = fluent.health()
            self.set(
                "fluentd",
                Health(bool(getattr(h, "healthy", False)), str(getattr(h, "message", ""))),
            )
        items = self.snapshot()
        now = time.monotonic()
        if items == self._published and now - self._published_at < REFRESH:
            return
        store.set_components({k: (v.healthy, v.message) for k, v in items.items()})
        self._published, self._published_at = items, now
