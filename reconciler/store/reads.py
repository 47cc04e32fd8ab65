"""The store's shared read queries, each written once: SQL text, parameters, row decoder.

`ReadStore` is what the CLI, the dashboard and the Kubernetes API read. It runs
every query through `_reading()`, which two classes provide: `reader.Reader`
(stdlib `sqlite3`, the CLI's fast path on a SQLite file) and `base.StoreBase`
(SQLAlchemy `text()`, on SQLite or PostgreSQL), so `Store` and `Reader` answer
with the same SQL and the same decoding. No SQLAlchemy here: `reconciler get`
imports this module on its cold start.

The texts take named parameters (`:name`), which both `sqlite3` and `text()`
understand, and stay in the SQL both databases speak. Rows arrive as the driver
gives them and `decode_row` evens out what differs: SQLite returns JSON as text,
timestamps as ISO text and booleans as 0/1; psycopg returns decoded JSON, naive
datetimes and bools. Stores write timestamps as naive UTC (`models.UTCDateTime`);
records carry them aware.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reconciler.api.defaults import content_hash
from reconciler.api.records import ClaimRecord, EventRecord, NodeRecord, PodNetwork, PodRecord
from reconciler.api.selectors import LabelPredicate
from reconciler.api.types import Key
from reconciler.planning.diff import RecordedView
from reconciler.store import convert, secrets
from reconciler.store.records import (
    ComponentRecord,
    EndpointsRecord,
    ObjectRecord,
    RevisionRecord,
)

if TYPE_CHECKING:
    from reconciler.store.secrets import Sealer

Row = dict[str, Any]
# Runs one query (text, parameters) and returns its rows decoded by `decode_row`.
Fetch = Callable[[str, Mapping[str, Any]], list[Row]]

# The JSON columns of the tables read here; each holds an object or an array (or JSON
# null), never a bare string, so a `str` value is always text still to decode.
JSON_COLUMNS = frozenset({
    "body", "status", "spec", "labels", "annotations", "ports", "conditions", "tls", "subsets",
    "access_modes", "taints", "containers",
})  # fmt: skip
TIME_COLUMNS = frozenset({
    "created_at", "updated_at", "start_time", "deletion_timestamp", "last_heartbeat",
    "applied_at", "first_seen", "last_seen",
})  # fmt: skip

OBJECTS = "SELECT * FROM objects{where} ORDER BY kind, namespace, name"
RECORDED = ("SELECT kind, namespace, name, content_hash, body, source_file, line, document,"
            " stale FROM objects ORDER BY kind, namespace, name")
REVISIONS = ("SELECT revision, source, applied_at, device FROM revisions ORDER BY id DESC "
             "LIMIT :limit")
# Every column of pods but the container statuses (`list_pods(containers=False)`); a unit
# test holds it to the model.
POD_COLUMNS = (
    "uid", "namespace", "name", "spec", "spec_hash", "labels", "annotations", "owner_kind",
    "owner_name", "owner_uid", "owner_api_version", "owner_controller", "source", "node_name",
    "phase", "reason", "message", "pod_ip", "host_ip", "ports", "start_time", "conditions",
    "deletion_timestamp", "revision", "created_at",
)  # fmt: skip
PODS = "SELECT {columns} FROM pods{where} ORDER BY namespace, name"
POD_LABELS = "SELECT uid, labels FROM pods{where}"
POD_NETWORK = ("SELECT namespace, name, node_name, pod_ip, host_ip, ports, deletion_timestamp"
               " FROM pods ORDER BY namespace, name")
NODES = "SELECT * FROM nodes{where} ORDER BY name"
ENDPOINTS = ("SELECT namespace, name, subsets, created_at, updated_at FROM endpoints{where}"
             " ORDER BY namespace, name")
ALLOCATIONS = "SELECT kind, slot, value FROM allocations WHERE owner = :owner"
EVENTS = "SELECT * FROM events{where} ORDER BY last_seen{order}, id{order}"
COMPONENTS = "SELECT name, healthy, message, updated_at FROM components ORDER BY name"
CLAIMS = "SELECT * FROM claims{where} ORDER BY namespace, name"

# Up to this many chosen pods are read by uid (one bound parameter each); past it, every
# pod of the filter is read and filtered again (SQLite allows 32,766 parameters at most).
_MAX_UIDS = 30000


def decode_row(row: Mapping[Any, Any]) -> Row:
    """A row as the records want it: JSON decoded, timestamps aware UTC (see the docstring)."""
    out: Row = {}
    for k, v in row.items():
        if v is not None and k in JSON_COLUMNS and isinstance(v, str):
            v = json.loads(v)
        elif v is not None and k in TIME_COLUMNS:
            v = (datetime.fromisoformat(v) if isinstance(v, str) else v).replace(tzinfo=UTC)
        out[k] = v
    return out


def where(**filters: Any) -> tuple[str, dict[str, Any]]:
    """` WHERE a = :a AND ...` over the filters that are not None, and their parameters.

    Built, not `(:a IS NULL OR a = :a)`: PostgreSQL cannot type an untyped NULL parameter,
    and an index serves only a plain equality.
    """
    used = {k: v for k, v in filters.items() if v is not None}
    if not used:
        return "", {}
    return " WHERE " + " AND ".join(f"{k} = :{k}" for k in used), used


def opened(kind: str, body: Any, stored_hash: str, sealer: Sealer | None) -> tuple[Any, str]:
    """A Secret's body with its data, and the hash the planner compares, when the key is here.

    A sealed row stores a keyed tag, not the content hash: a hash of a Secret's content
    would let anyone who reads the file test guesses of its values.
    """
    if kind != "Secret" or sealer is None or not secrets.is_sealed(body):
        return body, stored_hash
    body = secrets.open_body(body, sealer)
    return body, content_hash(body)


def to_object(r: Row, sealer: Sealer | None = None) -> ObjectRecord:
    body, hash_ = opened(r["kind"], r["body"], r["content_hash"], sealer)
    return ObjectRecord(
        Key(r["kind"], r["namespace"], r["name"]), r["uid"], r["api_version"], body,
        r["source_file"], r["line"], r["document"], hash_, r["revision"], r["generation"],
        bool(r["stale"]), r["status"], r["created_at"], r["updated_at"],
    )  # fmt: skip


def to_view(r: Row, sealer: Sealer | None = None) -> RecordedView:
    key = Key(r["kind"], r["namespace"], r["name"])
    body, hash_ = opened(r["kind"], r["body"], r["content_hash"], sealer)
    return RecordedView(key, hash_, body, r["source_file"], r["line"], r["document"],
                        bool(r["stale"]))


class ReadStore(ABC):
    """The store's read side: the shared queries, over `_reading()`; see the module docstring."""

    # Opens sealed Secret bodies read (reconciler.store.secrets); without one, Secrets are
    # read sealed (and `ObjectsMixin` refuses to write one).
    sealer: Sealer | None = None

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Fetch]:
        """A `Fetch` whose queries all read one snapshot (one read transaction)."""

    @abstractmethod
    def close(self) -> None:
        """Release the database connection(s)."""

    def list_events(
        self,
        namespace: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        *,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """Events, optionally about one object (or kind, or namespace), most recent last."""
        clause, params = where(namespace=namespace, kind=kind, name=name)
        if limit is None:
            return [convert.to_event(r)
                    for r in self._rows(EVENTS.format(where=clause, order=""), params)]
        rows = self._rows(EVENTS.format(where=clause, order=" DESC") + " LIMIT :limit",
                          {**params, "limit": limit})
        return [convert.to_event(r) for r in rows][::-1]

    def _rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        with self._reading() as fetch:
            return fetch(sql, params or {})

    def recorded(self) -> dict[Key, RecordedView]:
        """Every recorded object as the planner sees it."""
        views = (to_view(r, self.sealer) for r in self._rows(RECORDED))
        return {v.key: v for v in views}

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[ObjectRecord]:
        """Recorded objects, optionally of one kind and one namespace, sorted by key."""
        clause, params = where(kind=kind, namespace=namespace)
        return [to_object(r, self.sealer) for r in self._rows(OBJECTS.format(where=clause),
                                                               params)]

    def get_object(self, key: Key) -> ObjectRecord | None:
        """One recorded object, or None."""
        clause, params = where(kind=key.kind, namespace=key.namespace, name=key.name)
        rows = self._rows(OBJECTS.format(where=clause), params)
        return to_object(rows[0], self.sealer) if rows else None

    def revisions(self, limit: int = 10) -> list[RevisionRecord]:
        """The latest applied revisions, newest first."""
        rows = self._rows(REVISIONS, {"limit": limit})
        return [RevisionRecord(r["revision"], r["source"], r["applied_at"], r["device"])
                for r in rows]

    def list_pods(
        self,
        namespace: str | None = None,
        selector: LabelPredicate | None = None,
        *,
        node: str | None = None,
        owner_uid: str | None = None,
        containers: bool = True,
    ) -> list[PodRecord]:
        """Pods sorted by namespace and name, filtered by namespace, labels, node, owner.

        `containers=False` leaves the container statuses out (empty lists): for
        callers that read only metadata and spec of many pods.
        """
        return self._pods(selector, containers, namespace=namespace, node_name=node,
                          owner_uid=owner_uid)

    def get_pod(self, namespace: str, name: str) -> PodRecord | None:
        """One pod by namespace and name, or None."""
        pods = self._pods(None, True, namespace=namespace, name=name)
        return pods[0] if pods else None

    def _pods(self, selector: LabelPredicate | None, containers: bool,
              **filters: Any) -> list[PodRecord]:
        clause, params = where(**filters)
        columns = ", ".join((*POD_COLUMNS, "containers") if containers else POD_COLUMNS)
        with self._reading() as fetch:
            if selector is not None:
                # Labels first, whole rows of the selected pods only: a Service selecting
                # 1 of 1,000 pods should not decode 1,000 specs.
                labels = fetch(POD_LABELS.format(where=clause), params)
                chosen = [r["uid"] for r in labels if selector(r["labels"])]
                if not chosen:
                    return []
                if len(chosen) < _MAX_UIDS:
                    uids = {f"uid{i}": uid for i, uid in enumerate(chosen)}
                    names = ", ".join(f":{n}" for n in uids)
                    clause = f"{clause} AND" if clause else " WHERE"
                    clause += f" uid IN ({names})"
                    params = {**params, **uids}
            rows = fetch(PODS.format(columns=columns, where=clause), params)
        if selector is not None:
            rows = [r for r in rows if selector(r["labels"])]
        return [convert.to_pod(r) for r in rows]

    def pod_network(self) -> list[PodNetwork]:
        """Every pod's placement and addresses only (what a host's proxy and DNS need)."""
        return [PodNetwork(r["namespace"], r["name"], r["node_name"] or "", r["pod_ip"] or "",
                           r["host_ip"] or "", {str(k): int(v) for k, v in
                                                (r["ports"] or {}).items()},
                           r["deletion_timestamp"])
                for r in self._rows(POD_NETWORK)]

    def list_nodes(self) -> list[NodeRecord]:
        """Every registered node, sorted by name."""
        return [convert.to_node(r) for r in self._rows(NODES.format(where=""))]

    def get_node(self, name: str) -> NodeRecord | None:
        """One node by name, or None."""
        clause, params = where(name=name)
        rows = self._rows(NODES.format(where=clause), params)
        return convert.to_node(rows[0]) if rows else None

    def get_endpoints(self, namespace: str, name: str) -> EndpointsRecord | None:
        """One service's endpoints, or None when never computed."""
        found = self._endpoints(namespace=namespace, name=name)
        return found[0] if found else None

    def list_endpoints(self, namespace: str | None = None) -> list[EndpointsRecord]:
        """All endpoints (of one namespace), sorted by namespace and name."""
        return self._endpoints(namespace=namespace)

    def _endpoints(self, **filters: Any) -> list[EndpointsRecord]:
        clause, params = where(**filters)
        rows = self._rows(ENDPOINTS.format(where=clause), params)
        return [EndpointsRecord(r["namespace"], r["name"], r["subsets"], r["created_at"],
                                r["updated_at"]) for r in rows]

    def allocations(self, owner: str) -> dict[str, str]:
        """What `owner` holds: {"cluster-ip": "10.96.0.20", "node-port/http": "30080"}."""
        rows = self._rows(ALLOCATIONS, {"owner": owner})
        return {(r["kind"] if not r["slot"] else f"{r['kind']}/{r['slot']}"): r["value"]
                for r in rows}

    def list_components(self) -> list[ComponentRecord]:
        """Components sorted by name."""
        return [ComponentRecord(r["name"], bool(r["healthy"]), r["message"], r["updated_at"])
                for r in self._rows(COMPONENTS)]

    def list_claims(
        self, namespace: str | None = None, owner_uid: str | None = None
    ) -> list[ClaimRecord]:
        """Claims sorted by namespace and name, optionally of one namespace and one owner."""
        clause, params = where(namespace=namespace, owner_uid=owner_uid)
        return [convert.to_claim(r) for r in self._rows(CLAIMS.format(where=clause), params)]

    def claims(self, namespace: str | None = None) -> list[ClaimRecord]:
        """The claims of one namespace (or all)."""
        return self.list_claims(namespace)

    def get_claim(self, namespace: str, name: str) -> ClaimRecord | None:
        """One claim, or None."""
        clause, params = where(namespace=namespace, name=name)
        rows = self._rows(CLAIMS.format(where=clause), params)
        return convert.to_claim(rows[0]) if rows else None
