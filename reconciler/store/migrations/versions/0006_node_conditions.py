"""Node conditions besides Ready: what the node controller reports about a host.

Revision ID: 0006
Revises: 0005

The first is `ForeignContainers`: containers under this service's name prefix
that carry another cluster's id (or none) are left alone, and the node says so.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("conditions", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("conditions")
