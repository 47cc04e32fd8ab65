"""Feeds for the data plane: change revisions per topic, proxies' acknowledgements, triggers.

Revision ID: 0008
Revises: 0007

The proxies (`reconciler.network.embedded`) stop polling the store: they wait for
a change signal and then read only what changed. `feed_revisions` holds one
counter per topic a proxy depends on (services, endpoints, pods, nodes); triggers
bump it in the writer's own transaction, whoever the writer is (the service, the
CLI, another host), and only when a column a proxy reads really changed (a pod's
status or a node's heartbeat does not count). On PostgreSQL the triggers also
`pg_notify('reconciler_feed', topic)`, delivered at commit to every `LISTEN`er.

On PostgreSQL only the endpoints counter is a row bump: endpoints are written one
row per transaction, so the counter's row lock is always taken last and cannot
deadlock, while pods and objects are written many rows per transaction from
several threads (a shared row locked by each would deadlock them). Pods, services
and nodes are announced by NOTIFY alone there; their counters stay 0.

`proxy_acks`: the endpoints revision each host's proxy last applied; a deleted
pod's drain waits for every live host's proxy to reach the revision that no longer
lists it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None

TOPICS = ("services", "endpoints", "pods", "nodes")
CHANNEL = "reconciler_feed"
# (trigger suffix, table, event, condition on OLD/NEW or None): when the topic changed.
# `{d}` is the dialect's "is distinct from"; `{t}` casts JSON to text (PostgreSQL's json
# has no equality).
_POD_COLUMNS = ("namespace", "name", "node_name", "pod_ip", "host_ip", "deletion_timestamp")
RULES: dict[str, list[tuple[str, str, str, str | None]]] = {
    "endpoints": [
        ("ins", "endpoints", "INSERT", None),
        ("del", "endpoints", "DELETE", None),
        ("upd", "endpoints", "UPDATE", "OLD.subsets{t} {d} NEW.subsets{t}"),
    ],
    "services": [
        ("ins", "objects", "INSERT", "NEW.kind = 'Service'"),
        ("del", "objects", "DELETE", "OLD.kind = 'Service'"),
        ("upd", "objects", "UPDATE",
         "(NEW.kind = 'Service' OR OLD.kind = 'Service') AND (OLD.body{t} {d} NEW.body{t}"
         " OR OLD.status{t} {d} NEW.status{t} OR OLD.kind {d} NEW.kind)"),
    ],
    "pods": [
        ("ins", "pods", "INSERT", None),
        ("del", "pods", "DELETE", None),
        ("upd", "pods", "UPDATE",
         " OR ".join(f"OLD.{c} {{d}} NEW.{c}" for c in _POD_COLUMNS)
         + " OR OLD.ports{t} {d} NEW.ports{t}"),
    ],
    "nodes": [
        ("ins", "nodes", "INSERT", None),
        ("del", "nodes", "DELETE", None),
        ("upd", "nodes", "UPDATE", "OLD.address {d} NEW.address"),
    ],
}


def upgrade() -> None:
    op.create_table(
        "feed_revisions",
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic"),
    )
    op.create_table(
        "proxy_acks",
        sa.Column("node", sa.String(length=253), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("node"),
    )
    feed = sa.table("feed_revisions", sa.column("topic", sa.String()),
                    sa.column("revision", sa.BigInteger()))
    op.bulk_insert(feed, [{"topic": t, "revision": 0} for t in TOPICS])
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for topic, rules in RULES.items():
        for suffix, table, event, when in rules:
            cond = f" WHEN {when.format(d='IS NOT', t='')}" if when else ""
            op.execute(
                f"CREATE TRIGGER feed_{topic}_{suffix} AFTER {event} ON {table}"
                f" FOR EACH ROW{cond} BEGIN UPDATE feed_revisions SET revision = revision + 1"
                f" WHERE topic = '{topic}'; END")


def _postgres_triggers() -> None:
    op.execute(f"""
        CREATE FUNCTION reconciler_feed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_ARGV[0] = 'endpoints' THEN
            UPDATE feed_revisions SET revision = revision + 1 WHERE topic = 'endpoints';
          END IF;
          PERFORM pg_notify('{CHANNEL}', TG_ARGV[0]);
          RETURN NULL;
        END $$""")
    for topic, rules in RULES.items():
        for suffix, table, event, when in rules:
            cond = f" WHEN ({when.format(d='IS DISTINCT FROM', t='::text')})" if when else ""
            op.execute(
                f"CREATE TRIGGER feed_{topic}_{suffix} AFTER {event} ON {table}"
                f" FOR EACH ROW{cond} EXECUTE FUNCTION reconciler_feed('{topic}')")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for topic, rules in RULES.items():
        for suffix, table, _, _ in rules:
            op.execute(f"DROP TRIGGER IF EXISTS feed_{topic}_{suffix}"
                       + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS reconciler_feed()")
    op.drop_table("proxy_acks")
    op.drop_table("feed_revisions")
