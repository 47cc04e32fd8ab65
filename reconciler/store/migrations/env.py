"""Alembic environment of the state store, driven from code: no alembic.ini.

`reconciler.store.engine.migrate` passes the open connection in
`config.attributes["connection"]`; batch mode lets later revisions alter SQLite tables.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes["connection"]
assert isinstance(connection, Connection)
context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=True,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
