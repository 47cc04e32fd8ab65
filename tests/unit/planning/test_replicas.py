"""Replica planning for RC and RS: claim, create, delete order, status, names; properties."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import Condition, ContainerStatus, OwnerRef, PodRecord
from reconciler.planning.expectations import Expectations
from reconciler.planning.names import ALPHABET, generate_name, generate_names
from reconciler.planning.replicas import (
    ReplicaOwner,
    deletion_order,
    owner_from_body,
    plan_replicas,
    slow_start_batches,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
LABELS = {"app": "web"}


def rc_body(replicas: int | None = 2, selector: dict[str, str] | None = None,
            **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"template": {"metadata": {"labels": dict(LABELS)},
                                      "spec": {"containers": [{"name": "web", "image": "web"}]}},
                         **spec}
    if replicas is not None:
        s["replicas"] = replicas
    if selector is not None:
        s["selector"] = selector
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web", "namespace": "default"}, "spec": s}


OWNER = owner_from_body(rc_body(), "rc-uid")


def pod(name: str, *, owned: bool = True, labels: dict[str, str] | None = None,
        node: str = "n1", phase: str = "Running", ready: bool = True,
        created: int = 0, restarts: int = 0, ready_at: int = 0, namespace: str = "default",
        owner_uid: str = "rc-uid", deleting: bool = False, **kw: Any) -> PodRecord:
    conditions = [Condition("Ready", True, last_transition=T0 + timedelta(seconds=ready_at))] \
        if ready else []
    return PodRecord(
        uid=f"uid-{name}", namespace=namespace, name=name, spec={}, spec_hash="h",
        created_at=T0 + timedelta(seconds=created),
        labels=dict(LABELS if labels is None else labels),
        owner=OwnerRef("ReplicationController", "web", owner_uid) if owned else None,
        node_name=node, phase=phase,  # type: ignore[arg-type]
        conditions=conditions,
        containers=[ContainerStatus("web", "web", restart_count=restarts)],
        deletion_timestamp=T0 if deleting else None, **kw)


def plan(owner: ReplicaOwner, pods: list[PodRecord], exp: Expectations | None = None,
         **kw: Any) -> Any:
    return plan_replicas(owner, pods, exp or Expectations(), NOW, **kw)


class TestOwnerFromBody:
    def test_rc_selector_defaults_to_template_labels(self) -> None:
        """An RC without a selector selects its template labels; replicas default to 1."""
        o = owner_from_body(rc_body(replicas=None), "u")
        assert str(o.selector) == "app=web" and o.replicas == 1
        assert o.key == "ReplicationController/default/web"
        assert o.owner_ref == OwnerRef("ReplicationController", "web", "u", "v1", True)

    def test_replicaset_match_expressions(self) -> None:
        """A ReplicaSet's set-based selector (the kubia matchExpressions shape)."""
        body = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": "kubia", "generation": 3},
                "spec": {"replicas": 3, "minReadySeconds": 5,
                         "selector": {"matchExpressions": [
                             {"key": "app", "operator": "In", "values": ["kubia"]}]},
                         "template": {"metadata": {"labels": {"app": "kubia"}}}}}
        o = owner_from_body(body, "u")
        assert str(o.selector) == "app in (kubia)"
        assert (o.namespace, o.generation, o.min_ready_seconds) == ("default", 3, 5)
        assert owner_from_body(body, "u", generation=7).generation == 7


class TestClaim:
    def test_seed_adoption(self) -> None:
        """A standalone pod `web` with matching labels is adopted: replicas 2 creates one."""
        standalone = pod("web", owned=False)
        p = plan(OWNER, [standalone])
        assert p.adopt == (standalone,) and p.create == 1 and p.status.replicas == 1

    def test_release_and_ignore(self) -> None:
        """Owned pods that stop matching are released; other controllers' pods are ignored."""
        relabeled = pod("web-a", labels={"app": "debug"})
        foreign = pod("web-b", owner_uid="other")
        other_ns = pod("web-c", owned=False, namespace="prod")
        p = plan(OWNER, [relabeled, foreign, other_ns])
        assert p.release == (relabeled,) and p.adopt == () and p.create == 2

    def test_not_a_controller_reference(self) -> None:
        """A pod whose owner reference is not a controller reference is an orphan."""
        loose = dataclasses.replace(pod("web-a", owned=False),
                                    owner=OwnerRef("X", "x", "x-uid", controller=False))
        assert plan(OWNER, [loose]).adopt == (loose,)

    def test_deleting_orphans_not_adopted(self) -> None:
        """An orphan being deleted is not adopted and not counted."""
        p = plan(OWNER, [pod("web-a", owned=False, deleting=True)])
        assert p.adopt == () and p.create == 2


class TestCreateAndDelete:
    def test_terminal_pods_replaced_and_collected(self) -> None:
        """A Failed pod (restartPolicy Never) is not active: replaced, and listed as garbage."""
        failed = pod("web-a", phase="Failed", ready=False)
        p = plan(OWNER, [failed, pod("web-b")])
        assert p.create == 1 and p.garbage == (failed,)

    def test_pending_expectations_block(self) -> None:
        """While creations are pending, nothing is created or deleted; status still computed."""
        exp = Expectations()
        exp.expect_creations(OWNER.key, ["web-x"], NOW)
        p = plan(OWNER, [], exp)
        assert (p.create, p.delete, p.synced) == (0, (), False)
        assert p.status.replicas == 0

    def test_burst(self) -> None:
        """Creates are capped by the burst and batched by slow start."""
        big = dataclasses.replace(OWNER, replicas=1000)
        p = plan(big, [])
        assert p.create == 500 and p.create_batches == [1, 2, 4, 8, 16, 32, 64, 128, 245]
        assert plan(big, [], burst=10).create == 10

    @pytest.mark.parametrize(("n", "batches"), [(0, []), (1, [1]), (3, [1, 2]),
                                                (10, [1, 2, 4, 3]), (7, [1, 2, 4])])
    def test_slow_start(self, n: int, batches: list[int]) -> None:
        """slowStartBatch doubles from 1 until the count is reached."""
        assert slow_start_batches(n) == batches

    def test_scale_down_order(self) -> None:
        """Excess pods go in Kubernetes' order; the kept ones are the best."""
        pods = [
            pod("running-old", created=1),
            pod("unscheduled", node="", phase="Pending", ready=False, created=0),
            pod("pending", phase="Pending", ready=False),
            pod("not-ready", ready=False),
            pod("restarts", restarts=5),
            pod("running-new", created=50),
        ]
        p = plan(dataclasses.replace(OWNER, replicas=1), pods)
        assert [x.name for x in p.delete] == [
            "unscheduled", "pending", "not-ready", "restarts", "running-new"]


class TestDeletionOrder:
    def test_colocated_first(self) -> None:
        """Of equal pods, one on a node holding more of the owner's pods goes first."""
        a, b, c = pod("a", node="n1"), pod("b", node="n1"), pod("c", node="n2")
        assert deletion_order([c, a], [a, b, c])[0] is a

    def test_deletion_cost(self) -> None:
        """A lower pod-deletion-cost goes first, after readiness."""
        cheap = pod("cheap", created=0, annotations={
            "controller.kubernetes.io/pod-deletion-cost": "-10"})
        dear = pod("dear", created=9)
        assert deletion_order([dear, cheap], [])[0] is cheap

    def test_ready_for_less_time_first(self) -> None:
        """Of ready pods, the one ready most recently goes first."""
        old, fresh = pod("old", ready_at=10), pod("fresh", ready_at=100)
        assert deletion_order([old, fresh], [])[0] is fresh


class TestStatus:
    def test_counts(self) -> None:
        """replicas, fullyLabeled, ready, available (minReadySeconds) and generation."""
        owner = dataclasses.replace(OWNER, replicas=3, min_ready_seconds=60, generation=4)
        pods = [pod("a", ready_at=0), pod("b", ready_at=3590),
                pod("c", ready=False, labels={"app": "web", "extra": "1"})]
        p = plan(owner, pods)
        assert p.status.to_json() == {"replicas": 3, "fullyLabeledReplicas": 3,
                                      "readyReplicas": 2, "availableReplicas": 1,
                                      "observedGeneration": 4}

    def test_requeue_for_min_ready(self) -> None:
        """All ready but not yet available: look again after minReadySeconds."""
        owner = dataclasses.replace(OWNER, replicas=1, min_ready_seconds=30)
        assert plan(owner, [pod("a", ready_at=3590)]).requeue_after == timedelta(seconds=30)
        assert plan(owner, [pod("a", ready_at=0)]).requeue_after is None


class TestNames:
    def test_shape(self) -> None:
        """`<base>-<5 chars of the alphabet>`."""
        name = generate_name("web", random.Random(1))
        assert name.startswith("web-") and len(name) == 9
        assert all(c in ALPHABET for c in name[4:])

    def test_truncated(self) -> None:
        """A long base is cut so the name stays within 63 characters."""
        assert len(generate_name("x" * 80)) == 63

    def test_distinct_and_not_taken(self) -> None:
        """generate_names avoids taken names and duplicates."""
        rnd = random.Random(7)
        first = generate_name("web", random.Random(7))
        names = generate_names("web", 50, taken={first}, rand=rnd)
        assert len(set(names)) == 50 and first not in names


pod_strategy = st.builds(
    lambda i, owned, match, phase, ready, node, deleting, other: pod(
        f"p{i}", owned=owned, labels=LABELS if match else {"app": "x"}, phase=phase,
        ready=ready, node=node, deleting=deleting, owner_uid="other" if other else "rc-uid",
        created=i),
    st.integers(0, 40), st.booleans(), st.booleans(),
    st.sampled_from(["Pending", "Running", "Running", "Failed", "Succeeded", "Unknown"]),
    st.booleans(), st.sampled_from(["", "n1", "n2"]), st.booleans(), st.booleans())


def apply(owner: ReplicaOwner, pods: list[PodRecord], p: Any, serial: int) -> list[PodRecord]:
    """What the controller does with a plan, on plain records."""
    gone = {x.uid for x in p.delete + p.garbage}
    adopted = {x.uid for x in p.adopt}
    released = {x.uid for x in p.release}
    out = []
    for x in pods:
        if x.uid in gone:
            continue
        if x.uid in adopted:
            x = dataclasses.replace(x, owner=owner.owner_ref)
        if x.uid in released:
            x = dataclasses.replace(x, owner=None)
        out.append(x)
    out += [pod(f"new{serial}-{i}") for i in range(p.create)]
    return out


class TestProperties:
    @settings(max_examples=200, deadline=None)
    @given(st.lists(pod_strategy, max_size=15, unique_by=lambda p: p.name), st.integers(0, 8))
    def test_converges_in_one_step(self, pods: list[PodRecord], replicas: int) -> None:
        """Applying one plan leaves exactly `replicas` active pods owned by the controller."""
        owner = dataclasses.replace(OWNER, replicas=replicas)
        after = apply(owner, pods, plan(owner, pods), 0)
        second = plan(owner, after)
        assert second.status.replicas == replicas
        assert (second.create, second.delete, second.adopt, second.release) == (0, (), (), ())

    @settings(max_examples=200, deadline=None)
    @given(st.lists(pod_strategy, max_size=15, unique_by=lambda p: p.name), st.integers(0, 8))
    def test_only_touches_its_own(self, pods: list[PodRecord], replicas: int) -> None:
        """Deletes and garbage are the owner's pods; adoptions are matching live orphans."""
        owner = dataclasses.replace(OWNER, replicas=replicas)
        p = plan(owner, pods)
        for x in p.delete + p.garbage:
            assert (x.owner and x.owner.uid == owner.uid) or x in p.adopt
        for x in p.adopt:
            assert x.owner is None and owner.selector.matches(x.labels)
            assert x.deletion_timestamp is None
        assert not (p.create and p.delete)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(pod_strategy, max_size=10, unique_by=lambda p: p.name), st.integers(0, 8))
    def test_never_creates_while_pending(self, pods: list[PodRecord], replicas: int) -> None:
        """With creations pending, a plan never creates or deletes."""
        exp = Expectations()
        exp.expect_creations(OWNER.key, ["web-pending"], NOW)
        p = plan(dataclasses.replace(OWNER, replicas=replicas), pods, exp)
        assert p.create == 0 and p.delete == ()
