"""The data plane's feed in the store: what changed for the proxies, and what each proxy applied.

Mixin of `Store`. Triggers (migration 0008) bump a counter per topic
(`feed_revisions`: services, endpoints, pods, nodes) in every writer's own
transaction, whoever writes, and on PostgreSQL `NOTIFY reconciler_feed`. The
proxies (`reconciler.network.embedded`) wait on `feed()` instead of polling, and
re-read only the topics it names. Each proxy then records the endpoints revision
it applied (`ack_proxy`); a deleted pod's drain (`reconciler.control.pods`) waits
until every live host's proxy is at least at the revision that no longer lists
the pod (`proxies_behind`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from reconciler.store.base import StoreBase, db_now
from reconciler.store.changes import (
    ALL,
    ChangeDetector,
    DataVersionDetector,
    ListenDetector,
    PeriodicDetector,
)
from reconciler.store.engine import sqlite_file
from reconciler.store.models import FeedRevisionRow, NodeRow, ProxyAckRow
from reconciler.store.upsert import upsert

TOPICS = frozenset({"services", "endpoints", "pods", "nodes"})


@dataclass(frozen=True)
class ProxyAck:
    """The endpoints revision the proxy of `node` last applied, by the database's clock."""

    node: str
    revision: int
    mode: str
    applied_at: datetime


class StoreFeed:
    """Waits for a change a proxy depends on; says which topics changed.

    SQLite: `PRAGMA data_version` says some connection committed, then one read of
    the four counters says whether it was anything a proxy reads. PostgreSQL: the
    triggers' NOTIFY payloads name the topics. A topic is reported at most once per
    change; the first `wait` reports every topic (nothing was read yet).
    """

    def __init__(self, store: FeedsMixin, detector: ChangeDetector) -> None:
        self._store = store
        self._detector = detector
        self._lock = threading.Lock()
        self._seen: dict[str, int] | None = None

    @property
    def detector(self) -> ChangeDetector:
        """The signal the feed waits on (on SQLite, a subscriber of the process's poller)."""
        return self._detector

    def wait(self, timeout: float) -> frozenset[str]:
        """Block up to `timeout` s for a change; the topics changed (empty: none)."""
        with self._lock:
            if self._seen is None:
                self._seen = self._store.feed_revisions()
                return TOPICS
        if not self._detector.wait(timeout):
            return frozenset()
        with self._lock:
            revisions = self._store.feed_revisions()
            assert self._seen is not None
            changed = {t for t in TOPICS if revisions.get(t) != self._seen.get(t)}
            self._seen = revisions
        if isinstance(self._detector, ListenDetector):
            notified = self._detector.topics()
            changed |= TOPICS if ALL in notified else notified & TOPICS
        return frozenset(changed)

    def close(self) -> None:
        self._detector.close()


class FeedsMixin(StoreBase):
    """Feed revisions and proxy acknowledgements."""

    def feed(self) -> StoreFeed:
        """A change feed for one proxy: its own connection (SQLite data_version, PG LISTEN)."""
        path = sqlite_file(self.engine.url)
        detector: ChangeDetector
        if path is not None:
            detector = DataVersionDetector(str(path))
        elif self.engine.url.get_backend_name() == "postgresql":
            detector = ListenDetector(self.engine.url)
        else:  # in-memory SQLite (unit tests): no other connection can write
            detector = PeriodicDetector()
        return StoreFeed(self, detector)

    def feed_revisions(self) -> dict[str, int]:
        """Every topic's counter (on PostgreSQL only endpoints counts; see migration 0008)."""
        with self._read() as s:
            return {str(t): int(r) for t, r in s.execute(
                select(FeedRevisionRow.topic, FeedRevisionRow.revision))}

    def endpoints_revision(self) -> int:
        """The endpoints counter: read it before the endpoints, and they are at least this new."""
        with self._read() as s:
            value = s.execute(select(FeedRevisionRow.revision).where(
                FeedRevisionRow.topic == "endpoints")).scalar()
        return int(value or 0)

    def ack_proxy(self, node: str, revision: int, mode: str) -> None:
        """Record that the proxy of `node` serves endpoints `revision` (and is alive)."""
        # Not fenced: a proxy's report is the data plane's, not a leader's decision; a
        # `reconciler proxy` on another host holds no lease at all.
        with self._transaction(fenced=False) as s:
            now = db_now(s)
            s.execute(upsert(s, ProxyAckRow,
                             {"node": node, "revision": revision, "mode": mode,
                              "applied_at": now},
                             ["node"], {"revision": revision, "mode": mode, "applied_at": now}))

    def forget_proxy(self, node: str) -> None:
        """The proxy of `node` stopped on purpose: no drain waits for it any more."""
        with self._transaction(fenced=False) as s:
            s.execute(delete(ProxyAckRow).where(ProxyAckRow.node == node))

    def proxy_acks(self) -> list[ProxyAck]:
        """Every proxy's last acknowledgement, by node name."""
        with self._read() as s:
            return [ProxyAck(r.node, int(r.revision), r.mode, r.applied_at)
                    for r in s.execute(select(ProxyAckRow.__table__).order_by(ProxyAckRow.node))]

    def proxies_behind(self, revision: int, fresh: float) -> list[str]:
        """Nodes whose proxy has not applied endpoints `revision` yet, among the live ones.

        Live: the node is registered and Ready (its heartbeat), and its proxy reported
        within `fresh` seconds (proxies report at least that often while running). A
        host whose proxy never ran, or stopped, or a NotReady host is not waited for.
        """
        with self._read() as s:
            since = db_now(s) - timedelta(seconds=fresh)
            rows = s.execute(
                select(ProxyAckRow.node)
                .join(NodeRow, NodeRow.name == ProxyAckRow.node)
                .where(NodeRow.ready.is_(True), ProxyAckRow.applied_at > since,
                       ProxyAckRow.revision < revision)
                .order_by(ProxyAckRow.node))
            return [str(n) for n in rows.scalars()]
