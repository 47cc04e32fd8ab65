"""Component health for `reconciler get componentstatuses`, published into the store.

The running service knows whether its parts work (controllers, scheduler,
each node's engine, fluentd, proxy, DNS); the CLI reads the store only, so the
service writes a row per component every few seconds. A row older than a
few publish periods means the service itself is down, and the CLI says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from reconciler.store import Store


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

    def set(self, component: str, health: Health) -> None:
        with self._lock:
            self._items[component] = health

    def snapshot(self) -> dict[str, Health]:
        with self._lock:
            return dict(self._items)

    def publish(self, store: Store, fluent: HasHealth | None) -> None:
        """Gather what other parts report, then write every component in one transaction."""
        for node in store.list_nodes():
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
        store.set_components({k: (v.healthy, v.message) for k, v in self.snapshot().items()})
