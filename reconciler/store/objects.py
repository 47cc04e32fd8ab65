"""Desired objects in the store: applying a plan, status, the applied revisions.

Mixin of `Store`. The control loop calls `recorded()` -> `planning.diff.diff` ->
`apply_plan(plan, revision)` and then `set_revision(...)`; controllers write
`set_status(key, status)` (for example replicas/readyReplicas of an RC); the CLI
reads `objects(kind, namespace)` and `get_object(key)`. Those reads are written once,
for the CLI's stdlib reader too, in `reconciler.store.reads`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from reconciler.api.defaults import content_hash
from reconciler.api.types import JSON, Key
from reconciler.planning.diff import Plan
from reconciler.store import secrets
from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import ObjectRow, RevisionRow, table
from reconciler.store.records import RevisionRecord

_OBJECT_COLUMNS = ObjectRow.__table__.c


# Written at every status change of a controller (per pod an RC runs): built once, on the
# table, run with parameters (store/pods.py's `_PATCH` says why).
_SET_STATUS = update(table(ObjectRow)).where(
    _OBJECT_COLUMNS.kind == bindparam("k_kind"),
    _OBJECT_COLUMNS.namespace == bindparam("k_namespace"),
    _OBJECT_COLUMNS.name == bindparam("k_name"))


def _key_filter(key: Key) -> list[Any]:
    return [
        _OBJECT_COLUMNS.kind == key.kind,
        _OBJECT_COLUMNS.namespace == key.namespace,
        _OBJECT_COLUMNS.name == key.name,
    ]


class ObjectsMixin(StoreBase):
    """Desired objects, their status, and the applied revision.

    Reads (`recorded`, `objects`, `get_object`, `revisions`) are `reads.ReadStore`'s. Secret
    bodies are sealed with `self.sealer` when written: without one, writing one is refused.
    """

    def _stored(self, kind: str, body: JSON, hash_: str) -> tuple[JSON, str]:
        if kind != "Secret":
            return body, hash_
        sealed = secrets.seal_body(body, self.sealer)
        assert self.sealer is not None
        return sealed, self.sealer.tag(hash_)

    def reseal_secrets(self) -> int:
        """Seal every stored Secret again with the current key (key rotation); how many."""
        assert self.sealer is not None
        c = _OBJECT_COLUMNS
        with self._write() as s:
            rows = s.execute(select(c.id, c.body).where(c.kind == "Secret")).all()
            for row in rows:
                body = secrets.open_body(row.body, self.sealer)
                sealed, tag = self._stored("Secret", body, content_hash(body))
                s.execute(update(ObjectRow).where(c.id == row.id).values(
                    body=sealed, content_hash=tag))
        return len(rows)

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
                body, hash_ = self._stored(key.kind, obj.body, obj.content_hash)
                if change.action == "create":
                    s.execute(
                        insert(ObjectRow).values(
                            uid=str(uuid.uuid4()),
                            kind=key.kind,
                            namespace=key.namespace,
                            name=key.name,
                            api_version=str(obj.body.get("apiVersion", "v1")),
                            body=body,
                            content_hash=hash_,
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
                            body=body,
                            content_hash=hash_,
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
            result = s.execute(_SET_STATUS, {"k_kind": key.kind, "k_namespace": key.namespace,
                                             "k_name": key.name, "status": status})
            found = bool(getattr(result, "rowcount", 0))
            if found:
                self._written("status", key, status)
            return found

    def get_status(self, key: Key) -> JSON | None:
        """An object's status JSON (None when unset or unknown)."""
        with self._read() as s:
            value = s.execute(select(ObjectRow.status).where(*_key_filter(key))).scalar()
            return value

    def set_revision(self, revision: str, source: str, now: datetime | None = None,
                     device: int | None = None) -> None:
        """Record that `revision` (a git SHA or a folder's hash) of `source` was applied;
        `device` is a folder's st_dev."""
        with self._write() as s:
            s.add(RevisionRow(revision=revision, source=source, applied_at=now or utcnow(),
                              device=device))

    def set_revision_device(self, device: int) -> None:
        """A folder revision applied last was read from `device` now (the same content
        moved, or a row from before the column): its row says so, its time unchanged."""
        with self._write() as s:
            newest = select(func.max(RevisionRow.id)).scalar_subquery()
            s.execute(update(RevisionRow).where(RevisionRow.id == newest).values(device=device))

    def revision(self) -> RevisionRecord | None:
        """The revision applied last, or None before the first apply."""
        latest = self.revisions(1)
        return latest[0] if latest else None
