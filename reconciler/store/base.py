"""The store's session handling: read and write transactions, batches, the clock.

Every query module of `reconciler.store` is a mixin over `StoreBase`; `Store`
in `reconciler.store.store` combines them. Writes run in `BEGIN IMMEDIATE`
transactions on SQLite; `batch()` groups many writes of one thread into a
single transaction, as the control loop does when it records a reconcile pass.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session


def utcnow() -> datetime:
    """Aware UTC now: every timestamp the store hands out is aware UTC."""
    return datetime.now(UTC)


class StoreBase:
    """Holds the engine and opens sessions; see the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(immediate=True)
        self._local = threading.local()

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def batch(self) -> Iterator[Session]:
        """Run every write of this thread inside the block in one transaction.

        Nested batches join the outer one. An exception rolls the whole batch back.
        """
        current: Session | None = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            self._local.session = session
            try:
                yield session
            finally:
                self._local.session = None

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self.batch() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        current: Session | None = getattr(self._local, "session", None)
        if current is not None:
            # Inside a batch, reads must see the batch's own uncommitted writes.
            yield current
            return
        with Session(self.engine) as session, session.begin():
            yield session
