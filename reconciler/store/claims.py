"""Persistent volume claims in the store: the stable storage of StatefulSet pods.

Mixin of `Store`. The StatefulSet controller writes `ensure_claims(...)` for each
pod it makes and `mark_claims_deleted(...)` when its retention policy says so;
the pod controller reads a pod's claims before scheduling and `bind_claim(...)`s
the unbound ones to the node it chose; `control.claims.ClaimController` removes
a marked claim's Docker volume and then `delete_claim(...)`s it; the CLI's
`get pvc` reads `list_claims(...)`. A claim outlives its pods and its set: it is
keyed by namespace/name, so a re-created set finds its old claims again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from reconciler.api.records import ClaimRecord, claim_volume_name
from reconciler.store import convert
from reconciler.store.base import StoreBase, utcnow
from reconciler.store.models import ClaimRow
from reconciler.store.upsert import insert_for

_CL = ClaimRow.__table__.c


def _named(namespace: str, name: str) -> list[Any]:
    return [_CL.namespace == namespace, _CL.name == name]


class ClaimsMixin(StoreBase):
    """Persistent volume claims; `list_claims`, `claims` and `get_claim` are `reads.ReadStore`'s."""

    def ensure_claims(self, claims: Iterable[ClaimRecord]) -> list[ClaimRecord]:
        """Insert the claims not stored yet (by namespace/name); return the stored records.

        A stored claim keeps its uid, node and volume; only its owner moves to the
        given one (none included), so that a re-created StatefulSet adopts the claims
        of the old one and a changed retention policy moves the owner reference.
        Missing uid, volume name and creation time are filled in.
        """
        wanted = list(claims)
        if not wanted:
            return []
        now = utcnow()
        keys = [(c.namespace, c.name) for c in wanted]
        with self._write() as s:
            for claim in wanted:
                values = convert.claim_values(claim)
                values["uid"] = claim.uid or str(uuid.uuid4())
                values["volume"] = claim.volume or claim_volume_name(claim.namespace, claim.name)
                values["created_at"] = claim.created_at or now
                # Insert unless the name is taken, in one statement: a select-then-insert
                # by two hosts at once would end in a duplicate key on PostgreSQL.
                insert = insert_for(s, ClaimRow).values(**values)
                s.execute(insert.on_conflict_do_nothing(index_elements=["namespace", "name"]))
                owner = convert.owner_values(claim.owner)
                s.execute(
                    update(ClaimRow)
                    .where(*_named(claim.namespace, claim.name),
                           _CL.owner_uid.is_distinct_from(owner["owner_uid"]))
                    .values(**owner)
                )
            rows = s.execute(select(ClaimRow.__table__).where(_any_of(keys))).mappings()
            stored = {(r["namespace"], r["name"]): convert.to_claim(r) for r in rows}
        return [stored[k] for k in dict.fromkeys(keys)]

    def bind_claim(self, namespace: str, name: str, node_name: str) -> bool:
        """Bind an unbound claim to a node; False when it is missing or already bound."""
        with self._write() as s:
            result = s.execute(
                update(ClaimRow)
                .where(*_named(namespace, name), _CL.node_name == "")
                .values(node_name=node_name)
            )
            return bool(getattr(result, "rowcount", 0))

    def mark_claims_deleted(self, claims: Iterable[ClaimRecord], now: datetime) -> None:
        """Mark claims for removal; a claim already marked keeps its first timestamp."""
        keys = [(c.namespace, c.name) for c in claims]
        if not keys:
            return
        with self._write() as s:
            s.execute(
                update(ClaimRow)
                .where(_any_of(keys), _CL.deletion_timestamp.is_(None))
                .values(deletion_timestamp=now)
            )

    def delete_claim(self, namespace: str, name: str) -> bool:
        """Delete a claim's record (its volume is the claim controller's); False if missing."""
        with self._write() as s:
            result = s.execute(delete(ClaimRow).where(*_named(namespace, name)))
            return bool(getattr(result, "rowcount", 0))


def _any_of(keys: list[tuple[str, str]]) -> Any:
    return or_(*(and_(_CL.namespace == ns, _CL.name == name) for ns, name in keys))
