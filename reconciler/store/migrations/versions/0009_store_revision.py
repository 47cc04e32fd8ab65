"""The store revision: one row bumped by every data write transaction, to tell writers apart.

Revision ID: 0009
Revises: 0008

A process that caches the store (the service's control cache) must know when
another process wrote, without taking its own writes for someone else's. Every
write transaction that wrote pods or objects ends with `UPDATE store_revision SET
revision = revision + 1 ... RETURNING revision`, so revisions are committed one
at a time, in commit order, and a store knows which ones it committed: another
writer committed exactly when more revisions went by than its own
(`StoreBase.foreign_writes`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    table = sa.table("store_revision", sa.column("id", sa.Integer()),
                     sa.column("revision", sa.BigInteger()))
    op.bulk_insert(table, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("store_revision")
