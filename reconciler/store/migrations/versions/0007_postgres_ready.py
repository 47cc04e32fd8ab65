"""PostgreSQL-ready columns: 64-bit sizes and counters, and a unique event fingerprint.

Revision ID: 0007
Revises: 0006

PostgreSQL's `integer` is 32-bit, and a host's memory in bytes is past 2^31
(8 GiB = 2^33), so byte sizes and counters become `BigInteger` (on SQLite every
integer already is 64-bit; the tables are rebuilt with the new type). Events
get `fingerprint`, the SHA-256 of the fields a repeat must match, under a
unique index: a repeat is counted with INSERT ... ON CONFLICT, so two writers
recording the same event at once can never add two rows. Existing events get
their fingerprint here; duplicates (none are expected) are folded into one row.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None

WIDENED = {
    "nodes": ("memory", "override_memory"),
    "containers": ("restart_count",),
    "events": ("count",),
}
EVENT_KEY = ("namespace", "kind", "name", "type", "reason", "message", "source", "host")


def fingerprint(values: tuple[str, ...]) -> str:
    """Frozen copy of `reconciler.store.events.fingerprint` (migrations never import the app)."""
    return hashlib.sha256("\x00".join(values).encode()).hexdigest()


def upgrade() -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=sa.BigInteger(), existing_type=sa.Integer())
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("fingerprint", sa.String(length=64), nullable=False, server_default="")
        )
    _fill_fingerprints()
    op.create_index("ux_events_fingerprint", "events", ["fingerprint"], unique=True)


def _fill_fingerprints() -> None:
    bind = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.Integer()),
        sa.column("count", sa.BigInteger()),
        sa.column("first_seen", sa.DateTime()),
        sa.column("last_seen", sa.DateTime()),
        sa.column("fingerprint", sa.String()),
        *(sa.column(c, sa.String()) for c in EVENT_KEY),
    )
    c = events.c
    kept: dict[str, dict[str, Any]] = {}
    rows = bind.execute(
        sa.select(c.id, c.count, c.first_seen, c.last_seen, *(c[k] for k in EVENT_KEY))
        .order_by(c.id)
    ).mappings().all()
    for row in rows:
        key = fingerprint(tuple(str(row[k] or "") for k in EVENT_KEY))
        first = kept.get(key)
        if first is None:
            kept[key] = dict(row)
            bind.execute(sa.update(events).where(c.id == row["id"]).values(fingerprint=key))
            continue
        first["count"] += row["count"]
        first["first_seen"] = min(first["first_seen"], row["first_seen"])
        first["last_seen"] = max(first["last_seen"], row["last_seen"])
        bind.execute(sa.delete(events).where(c.id == row["id"]))
        bind.execute(sa.update(events).where(c.id == first["id"]).values(
            count=first["count"], first_seen=first["first_seen"], last_seen=first["last_seen"]))


def downgrade() -> None:
    op.drop_index("ux_events_fingerprint", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("fingerprint")
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=sa.Integer(), existing_type=sa.BigInteger())
