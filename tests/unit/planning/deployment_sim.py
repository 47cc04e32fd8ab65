"""A pure stand-in for the store and the replication controller, for the Deployment planner's tests.

Holds a Deployment body, its ReplicaSets and their pods as counts; `step` runs
`plan_deployment` once, applies the plan as the deployment controller would,
then sizes every ReplicaSet's pods as the replication controller would
(unready pods are deleted first). Pods of a template whose image is in
`healthy` become ready on `ready_up`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.api.defaults import apply_defaults
from reconciler.api.types import JSON
from reconciler.planning.deployment import (
    DeploymentSpec,
    ReplicaSetState,
    deployment_from_body,
)
from reconciler.planning.deployment_rollout import DeploymentPlan, plan_deployment

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def deployment(replicas: int | None = 3, image: str = "nginx:1", *, strategy: JSON | None = None,
               **spec: Any) -> JSON:
    """A defaulted apps/v1 Deployment body named web."""
    s: JSON = {"selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "web", "image": image}]}},
               **spec}
    if replicas is not None:
        s["replicas"] = replicas
    if strategy is not None:
        s["strategy"] = strategy
    return apply_defaults({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "web", "namespace": "default"}, "spec": s})


def edited(body: JSON, **changes: Any) -> JSON:
    """A copy of a Deployment body with `image=` (its one container's) or spec fields changed."""
    body = copy.deepcopy(body)
    for k, v in changes.items():
        if k == "image":
            body["spec"]["template"]["spec"]["containers"][0]["image"] = v
        else:
            body["spec"][k] = v
    return body


def image_of(rs: ReplicaSetState) -> str:
    return str(rs.template["spec"]["containers"][0]["image"])


@dataclass
class Sim:
    body: JSON
    healthy: set[str] = field(default_factory=lambda: {"nginx:1", "nginx:2"})
    rss: dict[str, ReplicaSetState] = field(default_factory=dict)
    status: JSON = field(default_factory=dict)
    now: datetime = T0
    generation: int = 1
    plans: list[DeploymentPlan] = field(default_factory=list)

    @property
    def spec(self) -> DeploymentSpec:
        return deployment_from_body(self.body, "dep-uid", self.generation, "sha1", "h1")

    def edit(self, **changes: Any) -> None:
        """Change the Deployment: `image=`, `replicas=`, `paused=`, or any spec field."""
        self.body = edited(self.body, **changes)
        self.generation += 1

    def step(self, seconds: float = 1.0) -> DeploymentPlan:
        self.now += timedelta(seconds=seconds)
        owned = [ReplicaSetState(rs.name, copy.deepcopy(rs.body), rs.created_at, rs.actual,
                                 rs.ready, rs.available, rs.present, rs.uid)
                 for rs in self.rss.values()]
        plan = plan_deployment(self.spec, owned, [], frozenset(self.rss), self.status, self.now)
        for body in plan.create:
            name = body["metadata"]["name"]
            assert name not in self.rss
            self.rss[name] = ReplicaSetState(name, copy.deepcopy(body), self.now, uid=name)
        for body in plan.update:
            self.rss[body["metadata"]["name"]].body = copy.deepcopy(body)
        for name in plan.delete:
            del self.rss[name]
        self.status = plan.status
        self.plans.append(plan)
        self.sync_pods()
        return plan

    def sync_pods(self) -> None:
        """The replication controller: each RS gets its count, unready pods deleted first."""
        for rs in self.rss.values():
            if rs.actual < rs.replicas:
                rs.actual = rs.replicas
            elif rs.actual > rs.replicas:
                excess = rs.actual - rs.replicas
                unready = rs.actual - rs.ready
                rs.ready -= max(0, excess - unready)
                rs.actual = rs.replicas
            rs.available = rs.ready
            rs.present = rs.actual

    def ready_up(self, limit: int | None = None) -> None:
        """Pods of healthy templates become ready (at most `limit` per RS)."""
        for rs in self.rss.values():
            if image_of(rs) in self.healthy:
                add = rs.actual - rs.ready
                rs.ready += add if limit is None else min(add, limit)
                rs.available = rs.ready

    def settle(self, steps: int = 100) -> None:
        """Step with every healthy pod ready until nothing changes."""
        for _ in range(steps):
            plan = self.step()
            self.ready_up()
            if not plan.changes and self.status == self.step().status:
                return
        raise AssertionError("did not settle")

    def sizes(self) -> dict[str, int]:
        return {image_of(rs): rs.replicas for rs in self.rss.values()}

    def by_image(self, image: str) -> ReplicaSetState:
        return next(rs for rs in self.rss.values() if image_of(rs) == image)

    def condition(self, type_: str) -> JSON:
        return next(c for c in self.status["conditions"] if c["type"] == type_)
