"""Pods (with their container statuses, a JSON column of the pod's row) and nodes in the store.

Mixin of `Store`. The runtime and controllers write `upsert_pod(s)` and
`upsert_node`; the scheduler, controllers and CLI read `list_pods(...)`,
`get_pod(...)`, `list_nodes()`. A pod is keyed by uid; `upsert_pod(s)` of a pod
whose namespace/name is held by another uid replaces that older pod (a
re-created pod), while controllers create with `create_pods`, which refuses a
name another pod holds (as the API server answers AlreadyExists: who held the
name first keeps it). Label filtering takes a plain predicate, so callers pass
`reconciler.api.selectors.parse(text).matches` without the store knowing selectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import and_, bindparam, delete, or_, select, text, update
from sqlalchemy.orm import Session

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.store import convert
from reconciler.store.base import StoreBase
from reconciler.store.models import NodeRow, PodRow, table
from reconciler.store.upsert import insert_for, write_upsert

_P = PodRow.__table__.c
_PATCH = update(table(PodRow)).where(_P.uid == bindparam("p_uid"))


# Field groups `patch_pods` writes, each owned by one controller.
PATCH_GROUPS: dict[str, tuple[str, ...]] = {
    "owner": ("owner_kind", "owner_name", "owner_uid", "owner_api_version", "owner_controller"),
    "metadata": ("labels", "annotations", "revision"),
    "spec": ("spec", "spec_hash"),
    "deletion": ("deletion_timestamp", "reason", "message"),
    "schedule": ("node_name", "host_ip", "conditions", "phase"),
    "status": ("phase", "reason", "message", "pod_ip", "host_ip", "ports", "start_time",
               "conditions", "containers"),
}

# The columns of a node that its own agent reports (reconciler/service/agent_node.py):
# what its engine says and whether it answers. Never the declared ones (engine URL,
# labels, cordon, taints): those are the Node manifest's, written by the control plane.
NODE_REPORT = frozenset({"cpu_milli", "memory", "pod_addresses", "engine_version", "os_image",
                         "kernel_version", "ready", "reason", "message", "last_heartbeat",
                         "conditions"})


class PodsMixin(StoreBase):
    """Pods, containers and nodes; `list_pods`, `get_pod`, `list_nodes` and `get_node` are
    `reads.ReadStore`'s."""

    def get_pod_by_uid(self, uid: str) -> PodRecord | None:
        """One pod by uid, or None."""
        pods = self._pods(None, True, uid=uid)
        return pods[0] if pods else None

    def upsert_pod(self, pod: PodRecord) -> None:
        """Insert or replace one pod and its container statuses."""
        self.upsert_pods([pod])

    def upsert_pods(self, pods: Iterable[PodRecord]) -> None:
        """Insert or replace pods in one transaction."""
        # In uid order: two batches lock their pod rows in one order and never deadlock.
        pods = sorted(pods, key=lambda p: p.uid)
        if not pods:
            return
        with self._write() as s:
            if s.get_bind().dialect.name == "postgresql":
                # ON CONFLICT arbitrates the uid only: two first inserts of one pod at once
                # meet on the name's unique index too, and that one raises. One lock per
                # pod name, taken in one order, serialises the writers of a pod.
                for key in sorted({f"pod/{p.namespace}/{p.name}" for p in pods}):
                    s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                              {"key": key})
            for pod in pods:
                self._delete_pod_rows(s, pod)
            # By uid with ON CONFLICT, not delete-then-insert: two writers of one pod at
            # once on PostgreSQL would both insert (neither saw the other's new row).
            statement = insert_for(s, PodRow)
            columns = [c for c in convert.pod_values(pods[0]) if c != "uid"]
            s.execute(statement.on_conflict_do_update(
                index_elements=["uid"], set_={c: statement.excluded[c] for c in columns}),
                [convert.pod_values(p) for p in pods])
            self._written("pods", pods)

    def create_pods(self, pods: Iterable[PodRecord]) -> list[PodRecord]:
        """Insert the pods whose namespace/name is free; return the pods that hold the others.

        One transaction: a name is checked and taken at once, so two controllers
        (or a manifest Pod and a controller) can never replace each other's pod.
        The caller reports each refused name (`pods "x" already exists`).
        """
        wanted = list(pods)
        if not wanted:
            return []
        names = {(p.namespace, p.name) for p in wanted}
        with self._write() as s:
            taken = [r for r in s.execute(select(_P.uid, _P.namespace, _P.name).where(
                or_(*[and_(_P.namespace == ns, _P.name == n) for ns, n in names])))]
            held = {(r.namespace, r.name) for r in taken}
            fresh = [p for p in wanted if (p.namespace, p.name) not in held]
            # ON CONFLICT DO NOTHING: under PostgreSQL's READ COMMITTED another writer
            # may take a name between the read above and this insert; its pod keeps it.
            inserted: set[str] = set()
            for start in range(0, len(fresh), 200):  # SQLite's limit on bound variables
                chunk = [convert.pod_values(p) for p in fresh[start:start + 200]]
                statement = insert_for(s, PodRow).values(chunk).on_conflict_do_nothing(
                    index_elements=["namespace", "name"]).returning(_P.uid)
                inserted.update(s.execute(statement).scalars())
            lost = [(p.namespace, p.name) for p in fresh if p.uid not in inserted]
            fresh = [p for p in fresh if p.uid in inserted]
            if fresh:
                self._written("pods", fresh)
            holders = [r.uid for r in taken]
            if lost:
                holders += s.execute(select(_P.uid).where(
                    or_(*[and_(_P.namespace == ns, _P.name == n) for ns, n in lost]))).scalars()
        return [p for uid in holders if (p := self.get_pod_by_uid(uid)) is not None]

    def patch_pods(self, pods: Iterable[PodRecord], fields: Iterable[str]) -> int:
        """Write only some field groups of existing pods; returns how many pods were found.

        Controllers that own different parts of a pod write concurrently: the
        replication controller its owner reference, the desired controller its
        labels and spec, the pod controller its status. A whole-record upsert
        from a copy read earlier would undo the others' writes (or bring back a
        pod deleted meanwhile); a patch touches its own columns only and never
        inserts. Groups: see `PATCH_GROUPS`.
        """
        groups = list(fields)
        columns = [c for g in groups for c in PATCH_GROUPS[g]]
        found = 0
        patched: list[PodRecord] = []
        with self._write() as s:
            for pod in pods:
                values = convert.pod_values(pod)
                # SET takes the columns the parameters name (on the table: not the ORM's
                # bulk path), a compiled form per field groups, found without a new cache key.
                result = s.execute(_PATCH, {"p_uid": pod.uid, **{c: values[c] for c in columns}})
                if not getattr(result, "rowcount", 0):
                    continue
                found += 1
                patched.append(pod)
            if patched:
                self._written("patch", patched, groups)
        return found

    def patch_pod(self, pod: PodRecord, *fields: str) -> bool:
        """`patch_pods` for one pod; False when the pod no longer exists."""
        return self.patch_pods([pod], fields) == 1

    def delete_pod(self, uid: str) -> bool:
        """Delete a pod (and its container statuses); False when it was not there."""
        with self._write() as s:
            result = s.execute(delete(PodRow).where(_P.uid == uid))
            deleted = bool(getattr(result, "rowcount", 0))
            if deleted:
                self._written("delete-pod", uid)
            return deleted

    def upsert_node(self, node: NodeRecord) -> None:
        """Insert or replace a node."""
        with self._write() as s:
            # ON CONFLICT, not delete-then-insert: two hosts writing one node's heartbeat
            # at once would otherwise hit a duplicate key on PostgreSQL.
            write_upsert(s, NodeRow, [convert.node_values(node)], ["name"])
            # Not counted by the store revision: only the active instance writes nodes,
            # and a heartbeat would otherwise bump it every few seconds per node.
            self._written("node", node, revision=False)

    def report_node(self, node: NodeRecord, fields: Iterable[str],
                    labels: Mapping[str, str] | None = None, *,
                    if_silent: bool = False) -> bool:
        """Write some observed columns (`NODE_REPORT`) of an existing node, only while its
        row still has `node.engine_url`; False (nothing written) when it was removed or its
        engine changed meanwhile: the caller reads the record again. `if_silent`: only
        while its `last_heartbeat` is still `node.last_heartbeat` (the control plane's
        verdict on an agent's silence loses to a heartbeat written since it read the row).

        Never inserts, never writes the declared fields: a node removed from the folder
        stays removed, a cordon or taint written meanwhile stays. `labels` (the engine's
        own, kubernetes.io/os...) are merged into the labels the row holds now.
        """
        columns = list(fields)
        if not set(columns) <= NODE_REPORT:
            raise ValueError(f"not reported by a node: {sorted(set(columns) - NODE_REPORT)}")
        values = convert.node_values(node)
        wanted = {c: values[c] for c in columns}
        same = and_(NodeRow.name == node.name, NodeRow.engine_url == node.engine_url)
        if if_silent:
            beat = values["last_heartbeat"]
            same = and_(same, NodeRow.last_heartbeat.is_(None) if beat is None
                        else NodeRow.last_heartbeat == beat)
        with self._write() as s:
            if labels:
                held = s.execute(select(NodeRow.labels).where(same).with_for_update()).first()
                if held is None:
                    return False
                if {**held.labels, **labels} != held.labels:
                    wanted["labels"] = {**held.labels, **labels}
            if not getattr(s.execute(update(NodeRow).where(same).values(wanted)), "rowcount", 0):
                return False
            row = s.execute(select(NodeRow.__table__).where(same)).mappings().one()
            self._written("node", convert.to_node(row), revision=False)
            return True

    def delete_node(self, name: str) -> bool:
        """Forget a node; False when it was not registered."""
        with self._write() as s:
            result = s.execute(delete(NodeRow).where(NodeRow.name == name))
            deleted = bool(getattr(result, "rowcount", 0))
            if deleted:
                self._written("delete-node", name, revision=False)
            return deleted

    @staticmethod
    def _delete_pod_rows(s: Session, pod: PodRecord) -> None:
        # An older pod holding the name goes; the pod's own row stays (upserted next).
        older = and_(_P.namespace == pod.namespace, _P.name == pod.name, _P.uid != pod.uid)
        s.execute(delete(PodRow).where(older))
