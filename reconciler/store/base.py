"""The store's session handling: read and write transactions, batches, the clock.

Every query module of `reconciler.store` is a mixin over `StoreBase`; `Store`
in `reconciler.store.store` combines them. Writes run in `BEGIN IMMEDIATE`
transactions on SQLite; `batch()` groups many writes of one thread into a
single transaction, as the control loop does when it records a reconcile pass.

A fenced store (`fence(name, holder, epoch)`, set by the service once it holds
the lease) opens every write transaction with one conditional read of the lease
row, judged by the database's clock; when the lease has passed to another epoch
or expired, the transaction raises `LeaseLost` before anything is written, so a
paused leader that wakes up cannot overwrite its successor's state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Engine, Select, bindparam, func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from reconciler.store.engine import BUSY_TIMEOUT_MS, WRITE_DEADLINE, sqlite_file
from reconciler.store.gate import gate_for
from reconciler.store.models import LeaseRow, StoreRevisionRow, table
from reconciler.store.reads import Fetch, ReadStore, Row, decode_row

log = logging.getLogger(__name__)

# A write listener is told of each write inside the transaction (`kind`: "pods", "patch",
# "delete-pod", "objects", "status"; `args`: what was written) and returns what to do once
# the transaction has committed, or None. The write-through of the control plane's cache.
AfterCommit = Callable[[], None]
WriteListener = Callable[[str, tuple[Any, ...]], AfterCommit | None]

_L = LeaseRow.__table__.c
_R = StoreRevisionRow.__table__.c
# SQLite's own clock, in the text form SQLAlchemy stores DATETIME in ("%f" is SS.mmm), so
# comparisons with stored timestamps are plain string comparisons in SQL.
_SQLITE_NOW = "%Y-%m-%d %H:%M:%f"


def utcnow() -> datetime:
    """Aware UTC now: every timestamp the store hands out is aware UTC."""
    return datetime.now(UTC)


class LeaseLost(RuntimeError):
    """A write of a fenced store refused: the lease is no longer ours at our epoch."""


# Both run in every write transaction: built once, on the tables rather than the ORM classes
# (an ORM-enabled statement takes SQLAlchemy's bulk ORM path), and run with parameters, so
# SQLAlchemy finds their compiled forms without working out a new statement's cache key.
# Together they were half of a one-row write's CPU.
_BUMP = update(table(StoreRevisionRow)).values(revision=_R.revision + 1) \
    .where(_R.id == 1).returning(_R.revision)


@cache
def _fence_check(dialect: str) -> Select[tuple[int]]:
    """The lease row, when it is still the fence's: held by its holder at its epoch."""
    return select(_L.epoch).where(
        _L.name == bindparam("f_name"),
        _L.holder == bindparam("f_holder"),
        _L.epoch == bindparam("f_epoch"),
        _L.expires_at > db_now_sql(dialect),
    ).with_for_update(read=True)


_CACHED_PARAMS = 8  # a read text with more parameters is compiled each time, not cached


@dataclass(frozen=True)
class Fence:
    """The lease a fenced store's writes are conditional on."""

    name: str
    holder: str
    epoch: int


def db_now_sql(dialect: str) -> ColumnElement[Any]:
    """The database's clock as a SQL expression comparable with stored (naive UTC) timestamps.

    PostgreSQL's `clock_timestamp()`, not `now()`: `now()` is frozen at the start of a
    transaction, and a batch can be long.
    """
    if dialect == "sqlite":
        return func.strftime(_SQLITE_NOW, "now")
    return func.timezone("UTC", func.clock_timestamp())


def db_now(session: Session) -> datetime:
    """The database's clock (aware UTC), read inside the caller's transaction."""
    value = session.execute(select(db_now_sql(session.get_bind().dialect.name))).scalar_one()
    if isinstance(value, str):
        value = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StoreBase(ReadStore):
    """Holds the engine and opens sessions; see the module docstring.

    The queries the CLI also reads (`reads.ReadStore`) run as text through `_reading`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(immediate=True)
        # SQLite: this process's writers queue for the file's lock in order (`gate`).
        path = sqlite_file(engine.url)
        self._gate = gate_for(path) if path is not None else None
        self._local = threading.local()
        self._fence: Fence | None = None
        self._write_listeners: list[WriteListener] = []
        # Held across commit and the listeners' after-commit calls: two writers of one row
        # reach the listeners in commit order (the second commits only after the first's
        # database lock is gone, and then waits here for the first's listeners).
        self._commit_lock = threading.Lock()
        # Write transactions this store committed.
        self.own_commits = 0
        # The store revisions (see `foreign_writes`) this store committed and not yet
        # reported, and the revision `foreign_writes` last read.
        self._own_revisions: set[int] = set()
        self._seen_revision: int | None = None

    def add_write_listener(self, listener: WriteListener) -> None:
        """Call `listener` for every later write; its returned callable runs after the commit.

        Listeners run after the commit, in commit order, and must not write the store.
        """
        self._write_listeners.append(listener)

    def _written(self, kind: str, *args: Any, revision: bool = True) -> None:
        """A write mixin wrote `kind` (inside its write transaction): tell the listeners.

        `revision=False`: a write the store revision does not count (nodes: see
        `foreign_writes`)."""
        after: list[AfterCommit] | None = getattr(self._local, "after", None)
        if after is None:
            return
        if revision:
            self._local.dirty = True  # bumps the store revision at commit (`foreign_writes`)
        for listener in self._write_listeners:
            action = listener(kind, args)
            if action is not None:
                after.append(action)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def fence(self, name: str, holder: str, epoch: int) -> None:
        """Make every later write conditional on holding lease `name` at `epoch`."""
        self._fence = Fence(name, holder, epoch)

    def unfence(self) -> None:
        """Writes are unconditional again (the CLI's and a standby's store)."""
        self._fence = None

    @contextmanager
    def batch(self) -> Iterator[Session]:
        """Run every write of this thread inside the block in one transaction.

        Nested batches join the outer one. An exception rolls the whole batch back.
        A fenced store raises `LeaseLost` here when the lease is no longer ours.
        """
        with self._transaction(fenced=True) as session:
            yield session

    @contextmanager
    def _transaction(self, *, fenced: bool) -> Iterator[Session]:
        current: Session | None = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        after: list[AfterCommit] = []
        with ExitStack() as gated, Session(self._writer, expire_on_commit=False) as session:
            if self._gate is not None:
                deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
                gated.enter_context(self._gate.held(BUSY_TIMEOUT_MS / 1000))
                # The queue's wait counts against the busy timeout (`engine.on_begin`).
                token = WRITE_DEADLINE.set(deadline)
                gated.callback(WRITE_DEADLINE.reset, token)
            session.begin()
            try:
                fence = self._fence if fenced else None
                if fence is not None:
                    self._check_fence(session, fence)
                self._local.session = session
                self._local.after = after
                self._local.dirty = False
                try:
                    yield session
                    dirty = bool(self._local.dirty)
                finally:
                    self._local.session = None
                    self._local.after = None
                revision = self._bump(session) if dirty else None
            except BaseException:
                session.rollback()
                raise
            with self._commit_lock:
                session.commit()
                gated.close()  # the database lock is gone: let the next writer begin
                # Under the commit lock, as `foreign_writes` reads: it never sees this
                # revision committed without knowing it is ours.
                self.own_commits += 1
                if revision is not None:
                    self._own_revisions.add(revision)
                for action in after:
                    try:
                        action()
                    except Exception:
                        # The store holds the write; a listener's copy catches up on relist.
                        log.exception("write listener failed after commit")

    @staticmethod
    def _bump(session: Session) -> int:
        # The transaction's last statement: on PostgreSQL the row lock it takes is held
        # only until the commit that follows, and never while waiting for another lock.
        return int(session.execute(_BUMP).scalar_one())

    def foreign_writes(self) -> bool:
        """Whether another process (or another Store) committed a data write since the last call.

        Every write transaction that wrote pods or objects (what a write listener is
        told of: what the control cache holds) bumps the one `store_revision` row as
        its last statement, so revisions are committed one by one in order; this store
        knows the revisions it committed. Another writer committed iff more revisions
        went by than this store committed. (`reseal_secrets` rewrites sealed bodies
        without telling: their plaintext is unchanged.) The first
        call only sets the baseline (False). Exact: the cache follower relists on this
        instead of on every signal of the database (`control.follow`).
        """
        with self._commit_lock:
            with Session(self.engine) as session, session.begin():
                current = int(session.execute(
                    select(_R.revision).where(_R.id == 1)).scalar_one())
            last, self._seen_revision = self._seen_revision, current
            own = sum(1 for r in self._own_revisions if r <= current)
            self._own_revisions = {r for r in self._own_revisions if r > current}
        return last is not None and current - last != own

    @staticmethod
    def _check_fence(session: Session, fence: Fence) -> None:
        # On SQLite the transaction already holds the write lock (BEGIN IMMEDIATE), so no
        # takeover can commit before ours does; on PostgreSQL FOR SHARE makes a takeover's
        # UPDATE of the row wait for our commit. Either way the write happens under the lease.
        held = session.execute(_fence_check(session.get_bind().dialect.name), {
            "f_name": fence.name, "f_holder": fence.holder, "f_epoch": fence.epoch}).first()
        if held is None:
            raise LeaseLost(
                f"lease {fence.name} is no longer held by {fence.holder} at epoch {fence.epoch}"
            )

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self.batch() as session:
            yield session

    @contextmanager
    def _reading(self) -> Iterator[Fetch]:
        with self._read() as session:

            def fetch(sql: str, params: Mapping[str, Any]) -> list[Row]:
                # A text with a long parameter list (a selector's `uid IN (...)`) differs
                # with each count: cached, every count would keep its own compiled copy.
                options = {"compiled_cache": None} if len(params) > _CACHED_PARAMS else {}
                return [decode_row(r) for r in session.execute(
                    text(sql), params, execution_options=options).mappings()]

            yield fetch

    @contextmanager
    def _read(self) -> Iterator[Session]:
        current: Session | None = getattr(self._local, "session", None)
        if current is not None:
            # Inside a batch, reads must see the batch's own uncommitted writes.
            yield current
            return
        with Session(self.engine) as session, session.begin():
            yield session
