"""Opening a store for reading: the SQLAlchemy-free `Reader` when it can serve, else `Store`.

Above both `reader` (stdlib sqlite3 only) and `store` (SQLAlchemy): `reader` never
imports `Store`, and `Store` is imported here only when the fast path cannot serve,
so `reconciler get` on a SQLite file at HEAD still never imports SQLAlchemy.
"""

from __future__ import annotations

from reconciler.store.reader import ReadStore, open_sqlite


def open_reader(url_or_path: str) -> ReadStore:
    """A `Reader` when the store is a SQLite file at HEAD, else `Store.open(..., create=False)`.

    Raises `StoreMissing` for a missing file, without importing SQLAlchemy.
    """
    reader = open_sqlite(url_or_path)
    if reader is not None:
        return reader
    from reconciler.store.store import Store  # SQLAlchemy: only off the fast path

    return Store.open(url_or_path, create=False)
