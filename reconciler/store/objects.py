"""Desired objects in the store: the recorded view for the planner, applying a plan, status.

Mixin of `Store`. The control loop calls `recorded()` -> `planning.diff.diff` ->
`apply_plan(plan, revision)` and then `set_revision(...)`; controllers write
`set_status(key, status)` (for example replicas/readyReplicas of an RC); the CLI
reads `objects(kind, namespace)` and `get_object(key)`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from reconciler.api.types import JSON, Key
from reconciler.planning.diff import Plan, RecordedView
from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import ObjectRow, RevisionRow
from reconciler.store.records import ObjectRecord, RevisionRecord

_OBJECT_COLUMNS = ObjectRow.__table__.c


def _to_record(row: Any) -> ObjectRecord:
    return ObjectRecord(
        key=Key(row.kind, row.namespace, row.name),
        uid=row.uid,
        api_version=row.api_version,
        body=row.body,
        source_file=row.source_file,
        line=row.line,
        document=row.document,
        content_hash=row.content_hash,
        revision=row.revision,
        generation=row.generation,
        stale=bool(row.stale),
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _key_filter(key: Key) -> list[Any]:
    return [
        _OBJECT_COLUMNS.kind == key.kind,
        _OBJECT_COLUMNS.namespace == key.namespace,
        _OBJECT_COLUMNS.name == key.name,
    ]


class ObjectsMixin(StoreBase):
    """Desired objects, their status, and the applied revision."""

    def recorded(self) -> dict[Key, RecordedView]:
        """Every recorded object as the planner sees it."""
        c = _OBJECT_COLUMNS
        query = select(
            c.kind,
            c.namespace,
            c.name,
            c.content_hash,
            c.body,
            c.source_file,
            c.line,
            c.document,
            c.stale,
        )
        with self._read() as s:
            return {
                (key := Key(r.kind, r.namespace, r.name)): RecordedView(
                    key, r.content_hash, r.body, r.source_file, r.line, r.document, bool(r.stale)
                )
                for r in s.execute(query)
            }

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[ObjectRecord]:
        """Recorded objects, optionally of one kind and one namespace, sorted by key."""
        query = select(ObjectRow.__table__)
        if kind is not None:
            query = query.where(_OBJECT_COLUMNS.kind == kind)
        if namespace is not None:
            query = query.where(_OBJECT_COLUMNS.namespace == namespace)
        query = query.order_by(
            _OBJECT_COLUMNS.kind, _OBJECT_COLUMNS.namespace, _OBJECT_COLUMNS.name
        )
        with self._read() as s:
            return [_to_record(r) for r in s.execute(query)]

    def get_object(self, key: Key) -> ObjectRecord | None:
        """One recorded object, or None."""
        with self._read() as s:
            row = s.execute(select(ObjectRow.__table__).where(*_key_filter(key))).first()
            return None if row is None else _to_record(row)

    def apply_plan(self, plan: Plan, revision: str = "", now: datetime | None = None) -> None:
        """Record a plan in one transaction: create, update, delete, refresh, mark stale.

        Stale objects keep their body; only their `stale` flag is set. Unchanged
        objects are not written unless their bookkeeping moved (`Change.refresh`).
        """
        now = now or utcnow()
        with self._write() as s:
            for change in plan.changes:
                obj, key = change.desired, change.key
                if change.action == "delete":
                    s.execute(delete(ObjectRow).where(*_key_filter(key)))
                    continue
                assert obj is not None
                where = {
                    "source_file": obj.position.file,
                    "line": obj.position.line,
                    "document": obj.position.document,
                    "stale": False,
                    "updated_at": now,
                }
                if change.action == "create":
                    s.execute(
                        insert(ObjectRow).values(
                            uid=str(uuid.uuid4()),
                            kind=key.kind,
                            namespace=key.namespace,
                            name=key.name,
                            api_version=str(obj.body.get("apiVersion", "v1")),
                            body=obj.body,
                            content_hash=obj.content_hash,
                            revision=revision,
                            generation=1,
                            status=None,
                            created_at=now,
                            **where,
                        )
                    )
                elif change.action == "update":
                    s.execute(
                        update(ObjectRow)
                        .where(*_key_filter(key))
                        .values(
                            body=obj.body,
                            content_hash=obj.content_hash,
                            revision=revision,
                            api_version=str(obj.body.get("apiVersion", "v1")),
                            generation=ObjectRow.generation + 1,
                            **where,
                        )
                    )
                elif change.refresh:
                    s.execute(update(ObjectRow).where(*_key_filter(key)).values(**where))
            for rec in plan.stale:
                if not rec.stale:
                    s.execute(update(ObjectRow).where(*_key_filter(rec.key)).values(stale=True))
            written = [c.key for c in plan.changes if c.action != "unchanged" or c.refresh]
            written += [r.key for r in plan.stale if not r.stale]
            if written:
                self._written("objects", written)

    def set_status(self, key: Key, status: JSON) -> bool:
        """Replace an object's status JSON; False when the object is not recorded."""
        with self._write() as s:
            result = s.execute(update(ObjectRow).where(*_key_filter(key)).values(status=status))
            found = bool(getattr(result, "rowcount", 0))
            if found:
                self._written("status", key, status)
            return found

    def get_status(self, key: Key) -> JSON | None:
        """An object's status JSON (None when unset or unknown)."""
        with self._read() as s:
            value = s.execute(select(ObjectRow.status).where(*_key_filter(key))).scalar()
            return value

    def set_revision(self, revision: str, source: str, now: datetime | None = None) -> None:
        """Record that `revision` (a git SHA or "folder") of `source` was applied."""
        with self._write() as s:
            s.add(RevisionRow(revision=revision, source=source, applied_at=now or utcnow()))

    def revisions(self, limit: int = 10) -> list[RevisionRecord]:
        """The latest applied revisions, newest first."""
        query = select(RevisionRow.__table__).order_by(RevisionRow.id.desc()).limit(limit)
        with self._read() as s:
            return [RevisionRecord(r.revision, r.source, r.applied_at) for r in s.execute(query)]

    def revision(self) -> RevisionRecord | None:
        """The revision applied last, or None before the first apply."""
        latest = self.revisions(1)
        return latest[0] if latest else None
