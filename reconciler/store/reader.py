"""A fast read-only view of a SQLite state store through the stdlib `sqlite3` module.

Used by the CLI's read side (`get`, `describe`, `plan`) so that a command does
not pay ~250 ms importing SQLAlchemy: `open_sqlite(url_or_path)` returns a
`Reader` for a SQLite file already at the head schema revision, else None, and
`reconciler.store.opener.open_reader` falls back to the full `Store` (another
database, or a file that needs migrating). Both are a `reads.ReadStore`: the
queries and their decoding are written once there; this module only runs them
through `sqlite3` (and the event reads, which `reconciler.store.events` owns).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.store.reads import Fetch, ReadStore, Row, decode_row
from reconciler.store.schema_head import HEAD, StoreMissing

__all__ = ["ReadStore", "Reader", "open_sqlite"]


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return decode_row({d[0]: v for d, v in zip(cursor.description, row, strict=True)})


class Reader(ReadStore):
    """Read-only queries on one SQLite file; see the module docstring."""

    def __init__(self, path: Path) -> None:
        # Rows are plain tuples on `db` (kubeapi.listings.select reads it directly); the
        # shared queries' cursors make decoded dicts (`_fetch`).
        self.db = sqlite3.connect(str(path))
        self.db.execute("PRAGMA query_only=1")
        self.db.execute("PRAGMA busy_timeout=10000")

    def close(self) -> None:
        self.db.close()

    def _fetch(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        cursor = self.db.cursor()
        cursor.row_factory = _dict_row
        rows: list[Row] = cursor.execute(sql, params).fetchall()
        return rows

    @contextmanager
    def _reading(self) -> Iterator[Fetch]:
        # One read transaction: a query that takes two statements (pods by labels, then
        # the chosen rows) reads one snapshot of the file, as the Store's session does.
        self.db.execute("BEGIN")
        try:
            yield self._fetch
        finally:
            self.db.rollback()


def open_sqlite(url_or_path: str) -> Reader | None:
    """A `Reader` when the store is a SQLite file at HEAD, else None (the caller opens a `Store`).

    Raises `StoreMissing` for a missing file, without importing SQLAlchemy.
    """
    path = _sqlite_path(url_or_path)
    if path is not None and not path.exists():
        raise StoreMissing(f"no state store at {path.resolve()}")
    if path is not None:
        reader = Reader(path)
        try:
            version = reader.db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            version = None
        if version is not None and version[0] == HEAD:
            return reader
        reader.close()
    return None


def _sqlite_path(url_or_path: str) -> Path | None:
    if "://" not in url_or_path:
        return Path(url_or_path).expanduser()
    prefix = "sqlite:///"
    if url_or_path.startswith(prefix) and "?" not in url_or_path and len(url_or_path) > len(prefix):
        return Path(url_or_path[len(prefix) :])
    return None
