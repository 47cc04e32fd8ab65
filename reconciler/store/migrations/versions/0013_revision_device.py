"""The filesystem a folder revision was read from: `revisions.device`.

Revision ID: 0013
Revises: 0012

`revisions.device` is the `st_dev` of the desired folder when that revision of it
was applied (NULL for git revisions and for rows written before this revision).
The desired controller compares it with the folder's device now: a folder with no
manifest on another filesystem than at the last apply is a mount that went, not a
"delete everything" (`reconciler.control.sourceguard`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("revisions") as batch:
        batch.add_column(sa.Column("device", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("revisions") as batch:
        batch.drop_column("device")
