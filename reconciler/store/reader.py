"""A fast read-only view of a SQLite state store through the stdlib `sqlite3` module.

Used by the CLI's read side (`get`, `describe`, `plan`) so that a command does
not pay ~250 ms importing SQLAlchemy: `open_sqlite(url_or_path)` returns a
`Reader` for a SQLite file already at the head schema revision, else None, and
`reconciler.store.opener.open_reader` falls back to the full `Store` (another
database, or a file that needs migrating). Both satisfy the `ReadStore` protocol;
an integration test checks they return equal records. The queries mirror
`reconciler.store.objects/pods/claims/network/events`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler.api.records import (
    ClaimRecord,
    EventRecord,
    NodeRecord,
    PodRecord,
)
from reconciler.api.selectors import LabelPredicate
from reconciler.api.types import Key
from reconciler.planning.diff import RecordedView
from reconciler.store import convert
from reconciler.store.records import (
    ComponentRecord,
    EndpointsRecord,
    ObjectRecord,
    RevisionRecord,
)
from reconciler.store.schema_head import HEAD, StoreMissing

_JSON = {
    "body", "status", "spec", "labels", "annotations", "ports", "conditions", "tls", "subsets",
    "access_modes", "taints", "containers",
}  # fmt: skip
_TIMES = {
    "created_at", "updated_at", "start_time", "deletion_timestamp", "last_heartbeat",
    "first_seen", "last_seen", "applied_at",
}  # fmt: skip


class ReadStore(Protocol):
    """What the CLI reads; `Store` and `Reader` both provide it."""

    def close(self) -> None: ...
    def recorded(self) -> dict[Key, RecordedView]: ...
    def objects(
        self, kind: str | None = None, namespace: str | None = None
    ) -> list[ObjectRecord]: ...
    def get_object(self, key: Key) -> ObjectRecord | None: ...
    def revisions(self, limit: int = 10) -> list[RevisionRecord]: ...
    def list_pods(
        self,
        namespace: str | None = None,
        selector: LabelPredicate | None = None,
        *,
        node: str | None = None,
        owner_uid: str | None = None,
    ) -> list[PodRecord]: ...
    def get_pod(self, namespace: str, name: str) -> PodRecord | None: ...
    def list_nodes(self) -> list[NodeRecord]: ...
    def get_node(self, name: str) -> NodeRecord | None: ...
    def get_endpoints(self, namespace: str, name: str) -> EndpointsRecord | None: ...
    def list_endpoints(self, namespace: str | None = None) -> list[EndpointsRecord]: ...
    def allocations(self, owner: str) -> dict[str, str]: ...
    def list_events(
        self,
        namespace: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[EventRecord]: ...
    def list_components(self) -> list[ComponentRecord]: ...
    def claims(self, namespace: str | None = None) -> list[ClaimRecord]: ...
    def list_claims(
        self, namespace: str | None = None, owner_uid: str | None = None
    ) -> list[ClaimRecord]: ...
    def get_claim(self, namespace: str, name: str) -> ClaimRecord | None: ...


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in row.keys():  # noqa: SIM118 - sqlite3.Row is not iterable by key
        v = row[k]
        if v is not None and k in _JSON:
            v = json.loads(v)
        elif v is not None and k in _TIMES:
            v = datetime.fromisoformat(v).replace(tzinfo=UTC)
        out[k] = v
    return out


def _where(**filters: Any) -> tuple[str, list[Any]]:
    used = {k: v for k, v in filters.items() if v is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{k} = ?" for k in used), list(used.values())


def _object(r: dict[str, Any]) -> ObjectRecord:
    return ObjectRecord(
        Key(r["kind"], r["namespace"], r["name"]), r["uid"], r["api_version"], r["body"],
        r["source_file"], r["line"], r["document"], r["content_hash"], r["revision"],
        r["generation"], bool(r["stale"]), r["status"], r["created_at"], r["updated_at"],
    )  # fmt: skip


class Reader:
    """Read-only queries on one SQLite file; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path))
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA query_only=1")
        self.db.execute("PRAGMA busy_timeout=10000")

    def close(self) -> None:
        self.db.close()

    def _rows(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [_decode(r) for r in self.db.execute(sql, args)]

    def recorded(self) -> dict[Key, RecordedView]:
        return {o.key: o.view() for o in self.objects()}

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[ObjectRecord]:
        where, args = _where(kind=kind, namespace=namespace)
        sql = f"SELECT * FROM objects{where} ORDER BY kind, namespace, name"
        return [_object(r) for r in self._rows(sql, args)]

    def get_object(self, key: Key) -> ObjectRecord | None:
        where, args = _where(kind=key.kind, namespace=key.namespace, name=key.name)
        rows = self._rows(f"SELECT * FROM objects{where}", args)
        return _object(rows[0]) if rows else None

    def revisions(self, limit: int = 10) -> list[RevisionRecord]:
        rows = self._rows("SELECT * FROM revisions ORDER BY id DESC LIMIT ?", (limit,))
        return [RevisionRecord(r["revision"], r["source"], r["applied_at"]) for r in rows]

    def list_pods(
        self,
        namespace: str | None = None,
        selector: LabelPredicate | None = None,
        *,
        node: str | None = None,
        owner_uid: str | None = None,
    ) -> list[PodRecord]:
        return self._pods(selector, namespace=namespace, node_name=node, owner_uid=owner_uid)

    def get_pod(self, namespace: str, name: str) -> PodRecord | None:
        pods = self._pods(None, namespace=namespace, name=name)
        return pods[0] if pods else None

    def _pods(self, selector: LabelPredicate | None, **filters: Any) -> list[PodRecord]:
        where, args = _where(**filters)
        rows = self._rows(f"SELECT * FROM pods{where} ORDER BY namespace, name", args)
        if selector is not None:
            rows = [r for r in rows if selector(r["labels"])]
        return [convert.to_pod(r) for r in rows]

    def list_nodes(self) -> list[NodeRecord]:
        return [convert.to_node(r) for r in self._rows("SELECT * FROM nodes ORDER BY name")]

    def get_node(self, name: str) -> NodeRecord | None:
        rows = self._rows("SELECT * FROM nodes WHERE name = ?", (name,))
        return convert.to_node(rows[0]) if rows else None

    def get_endpoints(self, namespace: str, name: str) -> EndpointsRecord | None:
        found = self._endpoints(namespace=namespace, name=name)
        return found[0] if found else None

    def list_endpoints(self, namespace: str | None = None) -> list[EndpointsRecord]:
        return self._endpoints(namespace=namespace)

    def _endpoints(self, **filters: Any) -> list[EndpointsRecord]:
        where, args = _where(**filters)
        rows = self._rows(f"SELECT * FROM endpoints{where} ORDER BY namespace, name", args)
        return [
            EndpointsRecord(
                r["namespace"], r["name"], r["subsets"], r["created_at"], r["updated_at"]
            )
            for r in rows
        ]

    def allocations(self, owner: str) -> dict[str, str]:
        rows = self._rows("SELECT kind, slot, value FROM allocations WHERE owner = ?", (owner,))
        return {
            (r["kind"] if not r["slot"] else f"{r['kind']}/{r['slot']}"): r["value"] for r in rows
        }

    def list_events(
        self,
        namespace: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[EventRecord]:
        where, args = _where(namespace=namespace, kind=kind, name=name)
        if limit is None:
            sql = f"SELECT * FROM events{where} ORDER BY last_seen, id"
            return [convert.to_event(r) for r in self._rows(sql, args)]
        sql = f"SELECT * FROM events{where} ORDER BY last_seen DESC, id DESC LIMIT ?"
        return [convert.to_event(r) for r in self._rows(sql, [*args, limit])][::-1]

    def list_components(self) -> list[ComponentRecord]:
        rows = self._rows("SELECT name, healthy, message, updated_at FROM components ORDER BY name")
        return [
            ComponentRecord(r["name"], bool(r["healthy"]), r["message"], r["updated_at"])
            for r in rows
        ]

    def claims(self, namespace: str | None = None) -> list[ClaimRecord]:
        return self.list_claims(namespace)

    def list_claims(
        self, namespace: str | None = None, owner_uid: str | None = None
    ) -> list[ClaimRecord]:
        where, args = _where(namespace=namespace, owner_uid=owner_uid)
        sql = f"SELECT * FROM claims{where} ORDER BY namespace, name"
        return [convert.to_claim(r) for r in self._rows(sql, args)]

    def get_claim(self, namespace: str, name: str) -> ClaimRecord | None:
        where, args = _where(namespace=namespace, name=name)
        rows = self._rows(f"SELECT * FROM claims{where}", args)
        return convert.to_claim(rows[0]) if rows else None


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
