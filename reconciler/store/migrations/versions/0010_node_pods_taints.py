"""Node pod capacity and taints: what the scheduler needs of a real cluster's hosts.

Revision ID: 0010
Revises: 0009

`max_pods` is the Node manifest's spec.maxPods (kubelet's --max-pods, 110 by
default); `pod_addresses` the addresses the engine's pod network has left for
this service's pods, read at each heartbeat (0: not known yet); `taints` the
manifest's spec.taints. See docs/scheduling.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("max_pods", sa.Integer(), nullable=False, server_default="110"))
        batch.add_column(sa.Column("pod_addresses", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("taints", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("taints")
        batch.drop_column("pod_addresses")
        batch.drop_column("max_pods")
