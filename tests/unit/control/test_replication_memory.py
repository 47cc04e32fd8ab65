"""The ReplicationController/ReplicaSet controller on an in-memory store, without a database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from reconciler.api.defaults import apply_defaults
from reconciler.api.records import Condition, OwnerRef, PodRecord
from reconciler.api.types import JSON, Key
from reconciler.control.context import POD, REPLICATION
from reconciler.control.loop import WorkKey
from reconciler.control.replication import ReplicationController

from .memory_store import NOW, MemoryStore, memory_context

LABELS = {"app": "web"}


def owner_body(kind: str, replicas: int) -> JSON:
    """A defaulted RC (equality selector) or RS (matchLabels) named web."""
    rs = kind == "ReplicaSet"
    return apply_defaults({
        "apiVersion": "apps/v1" if rs else "v1", "kind": kind,
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": dict(LABELS)} if rs else dict(LABELS),
                 "template": {"metadata": {"labels": dict(LABELS)},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}})


def pod(name: str, owner: OwnerRef | None, *, node: str = "n1", phase: str = "Running",
        ready: bool = True, age: int = 60) -> PodRecord:
    """A pod of the owner's template: scheduled on `node`, `ready` for `age` seconds."""
    since = NOW - timedelta(seconds=age)
    return PodRecord(
        uid=f"uid-{name}", namespace="default", name=name,
        spec={"containers": [{"name": "web", "image": "nginx:1"}]}, spec_hash="h",
        created_at=since, labels=dict(LABELS), owner=owner, source="controller",
        node_name=node, phase=phase,  # type: ignore[arg-type]
        conditions=[Condition("Ready", True, last_transition=since)] if ready else [])


class Setup:
    """An owner named web recorded in a memory store, and its controller."""

    def __init__(self, kind: str = "ReplicaSet", replicas: int = 3) -> None:
        self.store = MemoryStore()
        self.key = Key(kind, "default", "web")
        self.record = self.store.put_object(self.key, owner_body(kind, replicas), uid="uid-web")
        self.ref = OwnerRef(kind, "web", "uid-web", self.record.api_version)
        self.ctx = memory_context(self.store)
        self.ctl = ReplicationController(self.ctx)

    def reconcile(self) -> None:
        self.ctl.reconcile(WorkKey(REPLICATION, self.key))

    def scale(self, replicas: int) -> None:
        body: dict[str, Any] = owner_body(self.key.kind, replicas)
        self.store.put_object(self.key, body)

    def queued(self) -> set[WorkKey]:
        """Every key waiting in the work queue (taken out of it)."""
        keys: set[WorkKey] = set()
        while (k := self.ctx.queue.get(timeout=0)) is not None:
            keys.add(k)
            self.ctx.queue.done(k)
        return keys

    def active(self) -> list[PodRecord]:
        return [p for p in self.store.pods.values() if p.deletion_timestamp is None]

    def deleting(self) -> set[str]:
        return {p.name for p in self.store.pods.values() if p.deletion_timestamp is not None}

    def pod_gone(self, name: str) -> None:
        """What the pod controller does once a deleted pod's containers are gone."""
        uid = next(u for u, p in self.store.pods.items() if p.name == name)
        del self.store.pods[uid]
        self.ctx.expectations.deletion_observed(f"{self.key.kind}/default/web", name)


class TestReplicationControllerInMemory:
    @pytest.mark.parametrize("kind", ["ReplicationController", "ReplicaSet"])
    def test_scale_up_creates_missing_pods_with_owner_refs(self, kind: str) -> None:
        """The missing pods are created from the template, each controlled by the owner."""
        s = Setup(kind, replicas=3)
        s.store.pods["uid-web-a"] = pod("web-a", s.ref)
        s.reconcile()
        created = [p for p in s.active() if p.name != "web-a"]
        assert len(created) == 2
        for p in created:
            assert p.owner == OwnerRef(kind, "web", "uid-web", s.record.api_version,
                                       controller=True)
            assert p.labels == LABELS and p.name.startswith("web-") and p.source == "controller"
            assert p.spec["containers"][0]["image"] == "nginx:1"
        assert [e.reason for e in s.store.events] == ["SuccessfulCreate"] * 2
        # Each new pod is handed to the pod controller, which runs it.
        assert {WorkKey(POD, p.uid) for p in created} <= s.queued()

    def test_orphan_is_adopted_not_duplicated(self) -> None:
        """A matching pod without an owner is adopted and counts toward the replicas."""
        s = Setup(replicas=1)
        s.store.pods["uid-stray"] = pod("stray", None)
        s.reconcile()
        assert [(p.name, p.owner == s.ref) for p in s.active()] == [("stray", True)]

    def test_scale_down_deletes_unscheduled_and_not_ready_first(self) -> None:
        """Scaling down marks the unscheduled pod, then the not-ready one, for deletion."""
        s = Setup(replicas=4)
        for p in [pod("old-ready", s.ref, age=600), pod("unscheduled", s.ref, node="",
                                                          phase="Pending", ready=False),
                  pod("not-ready", s.ref, ready=False), pod("young-ready", s.ref, node="n2")]:
            s.store.pods[p.uid] = p
        s.scale(2)
        s.reconcile()
        assert s.deleting() == {"unscheduled", "not-ready"}
        assert [e.reason for e in s.store.events] == ["SuccessfulDelete"] * 2

    def test_scale_down_ranks_ready_pods_by_time_ready(self) -> None:
        """Among ready pods on their own nodes, the one ready for the least time goes first."""
        s = Setup(replicas=2)
        for p in [pod("veteran", s.ref, node="n1", age=600),
                  pod("newcomer", s.ref, node="n2", age=5)]:
            s.store.pods[p.uid] = p
        s.scale(1)
        s.reconcile()
        assert s.deleting() == {"newcomer"}

    def test_expectations_hold_a_second_reconcile_during_the_write(self) -> None:
        """While the first batch is being written (no pod visible yet), a second reconcile of
        the owner creates nothing: exactly the replicas are created."""
        s = Setup(replicas=3)
        inner: list[int] = []

        def reconcile_again(fresh: list[PodRecord]) -> None:
            s.store.before_create = None
            before = len(s.store.pods)
            s.reconcile()  # as a second worker would, had the queue let it
            inner.append(len(s.store.pods) - before)

        s.store.before_create = reconcile_again
        s.reconcile()
        assert inner == [0]
        assert len(s.active()) == 3

    def test_pending_deletions_hold_back_replacements(self) -> None:
        """Scaled down then up again before the deleted pod is gone: no pod is created until
        the pod controller reports it gone, then exactly one."""
        s = Setup(replicas=2)
        for p in [pod("a", s.ref, node="n1"), pod("b", s.ref, node="n2", ready=False)]:
            s.store.pods[p.uid] = p
        s.scale(1)
        s.reconcile()
        assert s.deleting() == {"b"}
        s.scale(2)
        s.reconcile()
        assert len(s.store.pods) == 2 and len(s.active()) == 1
        s.pod_gone("b")
        s.reconcile()
        assert len(s.active()) == 2

    def test_status_counts_ready_and_available(self) -> None:
        """The owner's status counts its active, ready and available pods."""
        s = Setup(replicas=2)
        for p in [pod("a", s.ref), pod("b", s.ref, ready=False)]:
            s.store.pods[p.uid] = p
        s.reconcile()
        status = s.store.objects_[s.key].status or {}
        assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (
            2, 1, 1)
