"""The store's cluster identity, and the lease's fencing epoch.

Revision ID: 0005
Revises: 0004

`cluster` holds one row: the id given to this store when it was created. Every
container the service makes carries it, so a service only ever collects its own
cluster's containers. `leases.epoch` rises on each takeover; the active
instance checks it before acting, so a paused leader that wakes up is refused.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    cluster = op.create_table(
        "cluster",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        cluster,
        [{"id": str(uuid.uuid4()), "created_at": datetime.now(UTC).replace(tzinfo=None)}],
    )
    with op.batch_alter_table("leases") as batch:
        batch.add_column(
            sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("epoch")
    op.drop_table("cluster")
