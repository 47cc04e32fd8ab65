"""Persistent volume claims of StatefulSets: one Docker named volume per claim, bound to a node.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=253), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("owner_kind", sa.String(length=63), nullable=True),
        sa.Column("owner_name", sa.String(length=253), nullable=True),
        sa.Column("owner_uid", sa.String(length=36), nullable=True),
        sa.Column("owner_api_version", sa.String(length=63), nullable=True),
        sa.Column("owner_controller", sa.Boolean(), nullable=True),
        sa.Column("storage", sa.String(length=63), nullable=False),
        sa.Column("access_modes", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("node_name", sa.String(length=253), nullable=False),
        sa.Column("volume", sa.String(length=512), nullable=False),
        sa.Column("deletion_timestamp", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("uid"),
        sa.UniqueConstraint("namespace", "name", name="uq_claims_name"),
    )
    op.create_index("ix_claims_owner", "claims", ["owner_uid"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_claims_owner", table_name="claims")
    op.drop_table("claims")
