"""Objects a controller writes (a Deployment's ReplicaSets), beside those the manifests declare.

Mixin of `Store`, next to `objects.ObjectsMixin`: same table, same write-through
(`_written("objects", keys)`), so the cache and the replication controller see
these ReplicaSets as any other. Such an object's `source_file` names its writer
(`controller:Deployment/<namespace>/<name>`, see
`reconciler.planning.deployment.owned_source`); the desired diff never prunes
it, and this mixin never overwrites an object a manifest declared.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from reconciler.api.defaults import content_hash
from reconciler.api.types import JSON, Key
from reconciler.planning.diff import OWNED_SOURCE_PREFIX
from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import ObjectRow

_C = ObjectRow.__table__.c


def _where(key: Key) -> list[Any]:
    return [_C.kind == key.kind, _C.namespace == key.namespace, _C.name == key.name]


class OwnedObjectsMixin(StoreBase):
    """Create, update and delete controller-written objects."""

    def write_owned(self, source: str, upserts: Sequence[tuple[Key, JSON]],
                    deletes: Sequence[Key] = (), now: datetime | None = None) -> list[Key]:
        """Write `upserts` and remove `deletes` in one transaction, as written by `source`.

        An upsert of a key held by a manifest object is refused (returned), never written:
        the manifest is the truth for what it declares. An object another controller wrote
        is taken over (an adopted orphan). A changed body bumps the generation.
        """
        now = now or utcnow()
        refused: list[Key] = []
        written: list[Key] = []
        with self._write() as s:
            for key, body in upserts:
                row = s.execute(select(_C.source_file, _C.content_hash)
                                .where(*_where(key))).first()
                hash_ = content_hash(body)
                if row is None:
                    s.execute(insert(ObjectRow).values(
                        uid=str(uuid.uuid4()), kind=key.kind, namespace=key.namespace,
                        name=key.name, api_version=str(body.get("apiVersion", "v1")),
                        body=body, source_file=source, line=0, document=0,
                        content_hash=hash_, revision="", generation=1, stale=False,
                        status=None, created_at=now, updated_at=now))
                elif not str(row.source_file).startswith(OWNED_SOURCE_PREFIX):
                    refused.append(key)
                    continue
                elif row.content_hash != hash_ or row.source_file != source:
                    s.execute(update(ObjectRow).where(*_where(key)).values(
                        body=body, content_hash=hash_, source_file=source, updated_at=now,
                        generation=ObjectRow.generation + int(row.content_hash != hash_)))
                else:
                    continue
                written.append(key)
            for key in deletes:
                result = s.execute(delete(ObjectRow).where(
                    *_where(key), _C.source_file.startswith(OWNED_SOURCE_PREFIX)))
                if getattr(result, "rowcount", 0):
                    written.append(key)
            if written:
                self._written("objects", written)
        return refused

    def owned_objects(self, source: str) -> list[Key]:
        """The keys of the objects `source` wrote."""
        with self._read() as s:
            rows = s.execute(select(_C.kind, _C.namespace, _C.name)
                             .where(_C.source_file == source)).all()
        return sorted(Key(r.kind, r.namespace, r.name) for r in rows)
