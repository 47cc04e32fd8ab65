"""Opening the state store's database: URL or path, SQLite pragmas, file mode, migrations.

Called by `Store.open` only. SQLite gets WAL (readers never block the writer),
foreign keys, a busy timeout, and write transactions that start with
`BEGIN IMMEDIATE` so two processes on one file serialise their writes instead
of failing a lock upgrade half-way. PostgreSQL gets pool pre-ping (a restarted
server costs one retry, not an error) and runs migrations under an advisory
lock, so hosts starting together on an empty database are safe. Migrations run through alembic
programmatically; the fast path compares the recorded revision with `HEAD`
without importing alembic, so `reconciler get` stays quick.
"""

from __future__ import annotations

import os
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url

from reconciler.store.schema_head import HEAD, StoreMissing

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 10_000
# The monotonic time by which the current thread's write transaction must have the
# SQLite write lock (set by `StoreBase` around its transactions; None: a full timeout).
WRITE_DEADLINE: ContextVar[float | None] = ContextVar("write_deadline", default=None)
# The PostgreSQL advisory lock key that serialises schema creation and upgrades
# ("reconcil" in ASCII, as a signed 64-bit number): one per database.
MIGRATION_LOCK = int.from_bytes(b"reconcil", "big", signed=True)


__all__ = ["HEAD", "StoreMissing", "create", "current_revision", "migrate", "to_url"]


def to_url(url_or_path: str) -> URL:
    """A SQLAlchemy URL from either a URL or a plain file path (absolute, for SQLite)."""
    if "://" in url_or_path:
        return make_url(url_or_path)
    return make_url("sqlite:///" + str(Path(url_or_path).expanduser().resolve()))


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL; None for other databases and for in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database))


def create(url_or_path: str, *, create_missing: bool = True) -> Engine:
    """An engine for the store, with SQLite set up as the module docstring says."""
    url = to_url(url_or_path)
    path = sqlite_file(url)
    if path is not None:
        if not path.exists():
            if not create_missing:
                raise StoreMissing(f"no state store at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created 0600 before SQLite opens it: the store holds TLS paths and specs.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite, which would otherwise BEGIN lazily
        # and make "BEGIN IMMEDIATE" impossible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("immediate"):
            # What is left of the writer's one busy timeout after its turn in this
            # process's queue (`store.gate`): queue and lock together wait at most
            # BUSY_TIMEOUT_MS, as a writer did before there was a queue.
            deadline = WRITE_DEADLINE.get()
            left = BUSY_TIMEOUT_MS if deadline is None else \
                int((deadline - time.monotonic()) * 1000)
            conn.exec_driver_sql(f"PRAGMA busy_timeout={max(1, left)}")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database; None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def migrate(engine: Engine, target: str = "head", script_location: Path | None = None) -> None:
    """Upgrade the schema to `target` in place (alembic imported only when needed)."""
    if target == "head" and script_location is None and current_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location or MIGRATIONS))
    # IMMEDIATE: a second process opening the same new file waits, then finds the head.
    with engine.execution_options(immediate=True).begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several hosts starting at once on one database: the first creates or
            # upgrades the schema, the others wait here until it commits, then alembic
            # (reading alembic_version after the lock) finds the head and does nothing.
            # A transaction lock: released at commit or rollback, even if we crash.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, target)
