"""The Deployment controller on an in-memory store, driving the replication controller's pods."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from reconciler.api.records import Condition, PodRecord
from reconciler.api.types import JSON, Key
from reconciler.control.context import REPLICATION
from reconciler.control.deployments import DEPLOYMENT, DeploymentController
from reconciler.control.loop import WorkKey
from reconciler.control.replication import ReplicationController
from reconciler.planning.deployment import controller_ref, owned_source

from ..planning.deployment_sim import deployment, edited
from .memory_store import NOW, MemoryStore, memory_context

KEY = Key("Deployment", "default", "web")


def image(p: PodRecord) -> str:
    return str(p.spec["containers"][0]["image"])


@dataclass
class Cluster:
    """A Deployment in a memory store, its two controllers and a stand-in kubelet.

    Each `step` runs the Deployment controller, then the replication controller on every
    ReplicaSet, records the pod counts, then lets the kubelet act: deleted pods go (as the
    pod controller reports them gone) and new pods of a `healthy` image become ready.
    """

    body: JSON
    healthy: set[str] = field(default_factory=lambda: {"nginx:1", "nginx:2"})
    now: datetime = NOW
    max_active: int = 0
    min_available: int = 1 << 30
    max_rs_replicas: int = 0

    def __post_init__(self) -> None:
        self.store = MemoryStore()
        self.store.put_object(KEY, self.body, uid="uid-dep")
        self.ctx = memory_context(self.store, clock=lambda: self.now)
        self.deployments = DeploymentController(self.ctx)
        self.replication = ReplicationController(self.ctx)

    def replica_sets(self) -> list[JSON]:
        return [o.body for o in self.store.objects("ReplicaSet", "default")]

    def active(self) -> list[PodRecord]:
        return [p for p in self.store.pods.values() if p.deletion_timestamp is None]

    def step(self) -> None:
        self.now += timedelta(seconds=1)
        self.deployments.reconcile(WorkKey(DEPLOYMENT, KEY))
        for o in self.store.objects("ReplicaSet", "default"):
            self.replication.reconcile(WorkKey(REPLICATION, o.key))
        active = self.active()
        self.max_active = max(self.max_active, len(active))
        self.min_available = min(self.min_available, sum(1 for p in active if p.ready))
        self.max_rs_replicas = max(self.max_rs_replicas, sum(
            int(b["spec"]["replicas"]) for b in self.replica_sets()))
        self.kubelet()

    def kubelet(self) -> None:
        for uid, p in list(self.store.pods.items()):
            if p.deletion_timestamp is not None:
                del self.store.pods[uid]
                assert p.owner is not None
                self.ctx.expectations.deletion_observed(
                    f"{p.owner.kind}/{p.namespace}/{p.owner.name}", p.name)
            elif not p.ready and image(p) in self.healthy:
                p.node_name, p.phase = "n1", "Running"
                p.conditions = [Condition("Ready", True, last_transition=self.now)]

    def settle(self, image_: str, replicas: int, steps: int = 40) -> int:
        """Step until `replicas` ready pods of `image_` are all there is; the steps taken."""
        for n in range(1, steps + 1):
            self.step()
            pods = list(self.store.pods.values())
            if len(pods) == replicas and all(image(p) == image_ and p.ready for p in pods):
                return n
        raise AssertionError(f"no rollout to {image_} in {steps} steps")

    def edit(self, **spec: Any) -> None:
        self.body = edited(self.body, **spec)
        self.store.put_object(KEY, self.body)

    def reset_counts(self) -> None:
        self.max_active, self.min_available, self.max_rs_replicas = 0, 1 << 30, 0


def rolling(surge: int | str, unavailable: int | str) -> JSON:
    return {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}


class TestDeploymentControllerInMemory:
    def test_new_deployment_writes_one_owned_replica_set(self) -> None:
        """The first reconcile writes one ReplicaSet controlled by the Deployment, at full size,
        and its pods follow."""
        c = Cluster(deployment(3))
        c.step()
        [rs] = c.replica_sets()
        ref = controller_ref(rs) or {}
        assert (ref.get("kind"), ref.get("name"), ref.get("uid")) == ("Deployment", "web",
                                                                      "uid-dep")
        assert rs["spec"]["replicas"] == 3
        assert rs["metadata"]["name"].startswith("web-")
        assert c.store.owned_objects(owned_source("default", "web")) == [
            Key("ReplicaSet", "default", rs["metadata"]["name"])]
        assert len(c.active()) == 3
        assert all(p.owner is not None and p.owner.name == rs["metadata"]["name"]
                   for p in c.active())

    @pytest.mark.parametrize(("surge", "unavailable", "most", "fewest"), [
        (1, 0, 5, 4), (0, 1, 4, 3), ("50%", "25%", 6, 3), (2, 2, 6, 2),
    ])
    def test_rolling_update_respects_surge_and_unavailable(
            self, surge: int | str, unavailable: int | str, most: int, fewest: int) -> None:
        """A new image rolls out with never more than replicas + maxSurge pods and never fewer
        than replicas - maxUnavailable ready, reaching both bounds."""
        c = Cluster(deployment(4, strategy=rolling(surge, unavailable)))
        c.settle("nginx:1", 4)
        c.reset_counts()
        c.edit(image="nginx:2")
        c.settle("nginx:2", 4)
        assert c.max_active == most and c.max_rs_replicas == most
        assert c.min_available == fewest
        sizes = sorted(int(b["spec"]["replicas"]) for b in c.replica_sets())
        assert sizes == [0, 4]  # the old ReplicaSet is kept, scaled to zero, for rollback

    def test_unready_image_stalls_within_the_budget(self) -> None:
        """A new image whose pods never become ready stops the rollout: the old pods beyond
        maxUnavailable stay, and no more than maxSurge pods are added."""
        c = Cluster(deployment(4, strategy=rolling(1, 1)))
        c.settle("nginx:1", 4)
        c.reset_counts()
        c.healthy = {"nginx:1"}
        c.edit(image="nginx:3")
        for _ in range(15):
            c.step()
        old = [p for p in c.active() if image(p) == "nginx:1"]
        new = [p for p in c.active() if image(p) == "nginx:3"]
        assert len(old) == 3 and len(new) == 2
        assert c.max_active <= 5 and c.min_available >= 3

    def test_deleted_deployment_takes_its_replica_sets(self) -> None:
        """A Deployment no longer recorded has its ReplicaSets deleted, and their pods after."""
        c = Cluster(deployment(2))
        c.settle("nginx:1", 2)
        rs_keys = [o.key for o in c.store.objects("ReplicaSet")]
        del c.store.objects_[KEY]
        c.step()
        assert c.store.objects("ReplicaSet") == []
        for k in rs_keys:  # the replication controller collects the owner's pods
            c.replication.reconcile(WorkKey(REPLICATION, k))
        c.kubelet()
        assert c.store.pods == {}
