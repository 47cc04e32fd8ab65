"""Requests to the active instance: `reconciler sync` and `delete` from any host.

Revision ID: 0011
Revises: 0010

`requests`: one row per request (`reconciler.store.requests`), added by the CLI
wherever it runs and taken by the instance that holds the lease, which writes its
holder name and the database's time into `handled_by`/`handled_at`. Replaces the
pid file and SIGUSR1 as the way to reach the active instance, which may run on
another machine than the CLI (the signal remains for a local service).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=253), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("handled_by", sa.String(length=253), nullable=False),
        sa.Column("handled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("requests")
