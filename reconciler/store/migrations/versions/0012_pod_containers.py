"""Container statuses in the pod's row: one JSON column instead of the `containers` table.

Revision ID: 0012
Revises: 0011

A pod's container statuses are always read and written with the pod, whole:
every status write deleted and re-inserted the pod's container rows (three
statements where one UPDATE does), and every read joined them back. `pods.containers`
holds them as a JSON list in status order (init containers first, then the app
containers, each in spec order; `reconciler.store.convert.containers_values`),
times as ISO 8601 strings. The upgrade copies every row of `containers` into its
pod's list and drops the table; the downgrade recreates the table from the lists.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None

# A frozen copy of the fields, as this revision stores them (convert.py may move on).
_TIMES = ("started_at", "finished_at", "last_started_at", "last_finished_at")
_FIELDS = (
    "name", "image", "state", "reason", "message", "container_id", "image_id", "exit_code",
    "started_at", "finished_at", "ready", "started", "restart_count", "init",
    "last_exit_code", "last_reason", "last_started_at", "last_finished_at",
)  # fmt: skip

_pods = sa.table("pods", sa.column("uid", sa.String()), sa.column("containers", sa.JSON()))


def _containers_columns() -> list[SchemaItem]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pod_uid", sa.String(length=36), nullable=False),
        sa.Column("init", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("image", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=253), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("container_id", sa.String(length=128), nullable=False),
        sa.Column("image_id", sa.Text(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("started", sa.Boolean(), nullable=False),
        sa.Column("restart_count", sa.BigInteger(), nullable=False),
        sa.Column("last_exit_code", sa.Integer(), nullable=True),
        sa.Column("last_reason", sa.String(length=253), nullable=False),
        sa.Column("last_started_at", sa.DateTime(), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["pod_uid"], ["pods.uid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    ]  # fmt: skip


def _containers_table() -> sa.Table:
    # For reading only: without the foreign key, whose table this metadata lacks.
    return sa.Table("containers", sa.MetaData(), *(
        c for c in _containers_columns() if isinstance(c, sa.Column)))


def _iso(value: datetime | None) -> str | None:
    # Stored naive UTC in the table; aware UTC in the JSON, as conditions are.
    return None if value is None else value.replace(tzinfo=UTC).isoformat()


def _naive(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value).astimezone(UTC).replace(
        tzinfo=None)


def upgrade() -> None:
    with op.batch_alter_table("pods") as batch:
        batch.add_column(sa.Column("containers", sa.JSON(), nullable=False,
                                   server_default="[]"))
    bind = op.get_bind()
    containers = _containers_table()
    statuses: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows = bind.execute(sa.select(containers).order_by(
        containers.c.pod_uid, containers.c.init.desc(), containers.c.position)).mappings()
    for row in rows:
        status = {k: row[k] for k in _FIELDS}
        status.update({k: _iso(row[k]) for k in _TIMES})
        status["init"], status["ready"], status["started"] = (
            bool(row["init"]), bool(row["ready"]), bool(row["started"]))
        statuses[row["pod_uid"]].append(status)
    for uid, values in statuses.items():
        bind.execute(_pods.update().where(_pods.c.uid == uid).values(containers=values))
    op.drop_index("ix_containers_pod", table_name="containers")
    op.drop_table("containers")


def downgrade() -> None:
    bind = op.get_bind()
    rows: list[dict[str, Any]] = []
    for uid, values in bind.execute(sa.select(_pods.c.uid, _pods.c.containers)):
        positions = {True: 0, False: 0}
        for status in values or []:
            init = bool(status.get("init"))
            row = {k: status.get(k) for k in _FIELDS}
            row.update({k: _naive(status.get(k)) for k in _TIMES})
            row.update(pod_uid=uid, init=init, position=positions[init])
            positions[init] += 1
            rows.append(row)
    # The column first: SQLite's batch mode copies the pods table, and dropping the old
    # copy would cascade to container rows already inserted.
    with op.batch_alter_table("pods") as batch:
        batch.drop_column("containers")
    containers = op.create_table("containers", *_containers_columns())
    op.create_index("ix_containers_pod", "containers", ["pod_uid"], unique=False)
    if rows:
        bind.execute(containers.insert(), rows)
