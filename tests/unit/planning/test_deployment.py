"""Deployment planning: numbers, hashes, rollouts, proportional scaling, status; properties."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.planning.deployment import (
    HASH_LABEL,
    REVISION,
    REVISION_HISTORY,
    SOURCE_REVISION,
    ReplicaSetState,
    deployment_from_body,
    new_replica_set,
    owned_replica_sets,
    pod_template_hash,
    replica_set_body,
    resolve_fenceposts,
    scaled_value,
)
from reconciler.planning.deployment_rollout import plan_deployment
from tests.unit.planning.deployment_sim import T0, Sim, deployment, image_of


def rolling(surge: int | str, unavailable: int | str) -> dict[str, Any]:
    return {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}


class TestNumbers:
    @pytest.mark.parametrize(("value", "total", "up", "expected"), [
        (3, 10, True, 3), ("25%", 4, True, 1), ("25%", 4, False, 1), ("25%", 3, True, 1),
        ("25%", 3, False, 0), ("25%", 10, True, 3), ("25%", 10, False, 2), ("0%", 7, True, 0),
        ("100%", 7, False, 7), ("33%", 1, True, 1), ("33%", 1, False, 0),
    ])
    def test_scaled_value(self, value: int | str, total: int, up: bool, expected: int) -> None:
        """Percentages of the replicas: up for surge (ceil), down for unavailable (floor)."""
        assert scaled_value(value, total, up) == expected

    def test_string_without_percent_is_refused(self) -> None:
        """A string that is not a percentage is an error, as intstr's."""
        with pytest.raises(ValueError, match="not a percentage"):
            scaled_value("5", 10, True)

    @pytest.mark.parametrize(("surge", "unav", "replicas", "expected"), [
        ("25%", "25%", 4, (1, 1)), ("25%", "25%", 3, (1, 0)), ("25%", "25%", 10, (3, 2)),
        (0, "10%", 5, (0, 1)), ("0%", "0%", 10, (0, 1)), (1, 0, 3, (1, 0)),
    ])
    def test_fenceposts(self, surge: Any, unav: Any, replicas: int,
                        expected: tuple[int, int]) -> None:
        """ResolveFenceposts, including both rounding to zero (unavailable becomes 1)."""
        assert resolve_fenceposts(surge, unav, replicas) == expected

    def test_recreate_has_no_surge_and_no_unavailable(self) -> None:
        """MaxSurge and MaxUnavailable are 0 for Recreate; unavailable never above replicas."""
        d = deployment_from_body(deployment(3, strategy={"type": "Recreate"}), "u")
        assert (d.max_surge, d.max_unavailable) == (0, 0)
        d = deployment_from_body(deployment(2, strategy=rolling(1, 5)), "u")
        assert d.max_unavailable == 2


class TestHash:
    def test_stable_and_encoded(self) -> None:
        """The same template always hashes alike, in the no-vowel alphabet."""
        t = deployment()["spec"]["template"]
        h = pod_template_hash(t)
        assert h == pod_template_hash(copy.deepcopy(t))
        assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10

    def test_changes_with_template_and_collisions(self) -> None:
        """Another image or a collision count gives another hash; the hash label is ignored."""
        t = deployment()["spec"]["template"]
        other = deployment(image="nginx:2")["spec"]["template"]
        labelled = copy.deepcopy(t)
        labelled["metadata"]["labels"][HASH_LABEL] = "x"
        assert pod_template_hash(t) != pod_template_hash(other)
        assert pod_template_hash(t) != pod_template_hash(t, 1)
        assert pod_template_hash(labelled) == pod_template_hash(t)

    def test_replica_set_body(self) -> None:
        """The RS is named <deployment>-<hash>; labels, selector and template carry the hash."""
        d = deployment_from_body(deployment(), "dep-uid")
        name, body = replica_set_body(d, 0)
        h = pod_template_hash(d.template)
        assert name == f"web-{h}"
        assert body["metadata"]["labels"] == {"app": "web", HASH_LABEL: h}
        assert body["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: h}
        assert body["spec"]["template"]["metadata"]["labels"][HASH_LABEL] == h
        assert body["metadata"]["ownerReferences"][0]["uid"] == "dep-uid"


class TestFirstRollout:
    def test_creates_one_replica_set_at_full_size(self) -> None:
        """A new Deployment creates its RS with every replica, revision 1, and says so."""
        sim = Sim(deployment(3))
        plan = sim.step()
        assert len(plan.create) == 1 and not plan.update
        rs = plan.create[0]
        assert rs["spec"]["replicas"] == 3
        assert rs["metadata"]["annotations"][REVISION] == "1"
        assert rs["metadata"]["annotations"][SOURCE_REVISION] == "sha1"
        assert [e.message for e in plan.events] == [
            f"Scaled up replica set {rs['metadata']['name']} from 0 to 3"]
        assert sim.condition("Progressing")["reason"] == "NewReplicaSetCreated"
        assert sim.condition("Available")["status"] == "False"
        assert plan.requeue_after == timedelta(0)

    def test_completes_when_available(self) -> None:
        """All pods available: Available True, Progressing NewReplicaSetAvailable, counts set."""
        sim = Sim(deployment(3))
        sim.settle()
        assert sim.condition("Available")["reason"] == "MinimumReplicasAvailable"
        assert sim.condition("Progressing")["reason"] == "NewReplicaSetAvailable"
        st_ = sim.status
        assert (st_["replicas"], st_["updatedReplicas"], st_["readyReplicas"],
                st_["availableReplicas"], st_["unavailableReplicas"],
                st_["observedGeneration"]) == (3, 3, 3, 3, 0, 1)


class TestRollingUpdate:
    def test_nginx_rolls_one_surge_at_a_time(self) -> None:
        """3 replicas at 25%/25%: never more than 4 pods, never fewer than 3 available."""
        sim = Sim(deployment(3))
        sim.settle()
        sim.edit(image="nginx:2")
        for _ in range(40):
            sim.step()
            assert sum(rs.replicas for rs in sim.rss.values()) <= 4
            assert sum(rs.available for rs in sim.rss.values()) >= 3
            sim.ready_up()
        assert sim.sizes() == {"nginx:1": 0, "nginx:2": 3}
        assert sim.condition("Progressing")["reason"] == "NewReplicaSetAvailable"
        assert sim.by_image("nginx:2").annotations[REVISION] == "2"

    def test_surge_counts_live_pods_of_a_lagging_scale_down(self) -> None:
        """An old RS scaled down whose pods have not gone yet holds the surge."""
        sim = Sim(deployment(4), healthy={"nginx:1"})
        sim.settle()
        sim.edit(image="broken")
        sim.step()
        old = sim.by_image("nginx:1")
        assert (old.replicas, sim.by_image("broken").replicas) == (3, 1)
        old.actual = old.ready = old.available = old.present = 4  # not deleted yet
        sim.plans.clear()
        sim.now += timedelta(seconds=1)
        plan = plan_deployment(sim.spec, list(sim.rss.values()), [], frozenset(sim.rss),
                               sim.status, sim.now)
        assert all(b["spec"]["replicas"] != 2 for b in plan.update), plan.update

    def test_scale_down_counts_only_pods_the_old_size_keeps(self) -> None:
        """An old RS scaled down whose pods have not gone yet is not scaled down again below
        minAvailable on their strength (20 at 25%: 13 new with 10 ready, old 12 -> 6)."""
        sim = Sim(deployment(20))
        sim.settle()
        sim.edit(image="nginx:2")
        sim.step()
        old, new = sim.by_image("nginx:1"), sim.by_image("nginx:2")
        new.replicas, new.actual, new.ready, new.available, new.present = 13, 13, 10, 10, 13
        old.replicas = 6
        old.actual = old.ready = old.available = old.present = 12  # not deleted yet
        sim.now += timedelta(seconds=1)
        plan = plan_deployment(sim.spec, list(sim.rss.values()), [], frozenset(sim.rss),
                               sim.status, sim.now)
        sizes = {b["metadata"]["name"]: b["spec"]["replicas"] for b in plan.update}
        assert sizes.get(old.name, 6) >= 15 - 10, plan.update

    def test_never_ready_stops_at_max_unavailable(self) -> None:
        """A template that never becomes ready: 4 replicas keep 3 old available, 2 new."""
        sim = Sim(deployment(4), healthy={"nginx:1"})
        sim.settle()
        sim.edit(image="broken")
        for _ in range(20):
            sim.step()
            sim.ready_up()
        assert sim.sizes() == {"nginx:1": 3, "broken": 2}
        assert sum(rs.available for rs in sim.rss.values()) == 3
        assert sim.condition("Available")["status"] == "True"

    def test_progress_deadline_exceeded(self) -> None:
        """No progress for progressDeadlineSeconds: Progressing False ProgressDeadlineExceeded."""
        sim = Sim(deployment(4, progressDeadlineSeconds=30), healthy={"nginx:1"})
        sim.settle()
        sim.edit(image="broken")
        for _ in range(5):
            sim.step()
        plan = sim.step()
        assert sim.condition("Progressing")["reason"] == "ReplicaSetUpdated"
        assert plan.requeue_after is not None and plan.requeue_after > timedelta(seconds=20)
        sim.step(seconds=31)
        cond = sim.condition("Progressing")
        assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
        assert cond["message"].endswith("has timed out progressing.")
        assert sim.step().requeue_after is None

    def test_doc_example_proportional_scaling(self) -> None:
        """Kubernetes' documented case: 10 -> 15 mid-rollout (8 old, 5 new) gives 11 and 7."""
        sim = Sim(deployment(10, strategy=rolling(3, 2)), healthy={"nginx:1"})
        sim.settle()
        sim.edit(image="broken")
        for _ in range(10):
            sim.step()
        assert sim.sizes() == {"nginx:1": 8, "broken": 5}
        sim.edit(replicas=15)
        sim.step()
        assert sim.sizes() == {"nginx:1": 11, "broken": 7}

    def test_scale_down_mid_rollout_is_proportional(self) -> None:
        """Scaling down mid-rollout takes from every RS and stays within replicas+maxSurge."""
        sim = Sim(deployment(10, strategy=rolling(3, 2)), healthy={"nginx:1"})
        sim.settle()
        sim.edit(image="broken")
        for _ in range(10):
            sim.step()
        sim.edit(replicas=5)
        sim.step()
        sizes = sim.sizes()
        assert sizes == {"nginx:1": 5, "broken": 3}  # 8/13 of each: 5+3 = 5 replicas + 3 surge

    def test_scaling_without_template_change(self) -> None:
        """Replicas change alone scales the only RS, no new RS."""
        sim = Sim(deployment(3))
        sim.settle()
        sim.edit(replicas=6)
        plan = sim.step()
        assert not plan.create and sim.sizes() == {"nginx:1": 6}

    def test_rollback_reuses_the_old_replica_set(self) -> None:
        """Restoring the old template scales the old RS up again: same name, revision 3."""
        sim = Sim(deployment(3))
        sim.settle()
        first = sim.by_image("nginx:1").name
        sim.edit(image="nginx:2")
        sim.settle()
        sim.edit(image="nginx:1")
        for _ in range(30):
            assert not sim.step().create
            sim.ready_up()
        rs = sim.by_image("nginx:1")
        assert rs.name == first and rs.replicas == 3
        assert rs.annotations[REVISION] == "3" and rs.annotations[REVISION_HISTORY] == "1"
        assert sim.by_image("nginx:2").replicas == 0

    def test_revision_history_limit(self) -> None:
        """Old RSs beyond revisionHistoryLimit are deleted once empty, lowest revision first."""
        sim = Sim(deployment(2, revisionHistoryLimit=1))
        for image in ("nginx:1", "nginx:2", "nginx:3", "nginx:4"):
            sim.healthy.add(image)
            sim.edit(image=image)
            sim.settle()
        assert sorted(sim.sizes()) == ["nginx:3", "nginx:4"]


class TestRecreate:
    def test_old_pods_stop_before_new_start(self) -> None:
        """Recreate scales old to 0, waits for its pods to go, then creates the new RS."""
        sim = Sim(deployment(3, strategy={"type": "Recreate"}))
        sim.settle()
        sim.edit(image="nginx:2")
        plan = sim.step()
        assert not plan.create and sim.sizes() == {"nginx:1": 0}
        sim.by_image("nginx:1").present = 2  # pods still terminating
        assert not sim.step().create
        sim.by_image("nginx:1").present = 0
        plan = sim.step()
        assert plan.create and plan.create[0]["spec"]["replicas"] == 3


class TestPaused:
    def test_paused_makes_no_new_replica_set(self) -> None:
        """A paused Deployment does not roll; Progressing Unknown DeploymentPaused; resumed."""
        sim = Sim(deployment(3))
        sim.settle()
        sim.edit(image="nginx:2", paused=True)
        plan = sim.step()
        assert not plan.create and sim.condition("Progressing")["reason"] == "DeploymentPaused"
        sim.edit(replicas=4)
        sim.step()
        assert sim.sizes() == {"nginx:1": 4}
        sim.edit(paused=False)
        plan = sim.step()
        assert plan.create
        assert sim.condition("Progressing")["reason"] == "NewReplicaSetCreated"


class TestStatusEdges:
    def test_pause_does_not_hide_a_timed_out_rollout(self) -> None:
        """ProgressDeadlineExceeded stays when the Deployment is paused afterwards."""
        sim = Sim(deployment(4, progressDeadlineSeconds=10), healthy={"nginx:1"})
        sim.settle()
        sim.edit(image="broken")
        for _ in range(3):
            sim.step()
        sim.step(seconds=11)
        assert sim.condition("Progressing")["reason"] == "ProgressDeadlineExceeded"
        sim.edit(paused=True)
        sim.step()
        assert sim.condition("Progressing")["reason"] == "ProgressDeadlineExceeded"

    def test_min_ready_seconds_requeues_until_available(self) -> None:
        """Ready but not yet for minReadySeconds: not available, and a requeue after it."""
        sim = Sim(deployment(2, minReadySeconds=30))
        sim.step()
        sim.ready_up()
        for rs in sim.rss.values():
            rs.available = 0  # ready for less than minReadySeconds
        plan = sim.step()
        assert plan.requeue_after == timedelta(seconds=30)
        assert sim.status["availableReplicas"] == 0
        assert sim.condition("Available")["status"] == "False"

    def test_no_progress_deadline_no_progressing_condition(self) -> None:
        """progressDeadlineSeconds unset (MaxInt32): no Progressing condition at all."""
        sim = Sim(deployment(2, progressDeadlineSeconds=2**31 - 1))
        sim.settle()
        assert [c["type"] for c in sim.status["conditions"]] == ["Available"]


class TestOwnership:
    def test_adopts_matching_orphan(self) -> None:
        """An orphan RS whose labels match is adopted (and is the new RS if its template fits)."""
        d = deployment_from_body(deployment(3), "dep-uid")
        _, body = replica_set_body(d, 0)
        body["metadata"]["ownerReferences"] = []
        body["spec"]["replicas"] = 3
        orphan = ReplicaSetState(body["metadata"]["name"], body, T0, actual=3, ready=3,
                                 available=3, present=3)
        plan = plan_deployment(d, [], [orphan], frozenset({orphan.name}), None, T0)
        assert not plan.create and plan.new_replica_set == orphan.name
        assert plan.update[0]["metadata"]["ownerReferences"][0]["uid"] == "dep-uid"

    def test_collision_gives_another_name(self) -> None:
        """A name already held by another RS raises collisionCount and hashes again."""
        d = deployment_from_body(deployment(3), "dep-uid")
        name, _ = replica_set_body(d, 0)
        plan = plan_deployment(d, [], [], frozenset({name}), None, T0)
        assert plan.create[0]["metadata"]["name"] != name
        assert plan.status["collisionCount"] == 1

    def test_owned_and_new_helpers(self) -> None:
        """owned_replica_sets by controller uid; new_replica_set by template."""
        class Obj:
            def __init__(self, body: dict[str, Any]) -> None:
                self.body = body
                self.key = type("K", (), {"kind": "ReplicaSet"})()

        d = deployment_from_body(deployment(3), "dep-uid")
        _, body = replica_set_body(d, 0)
        other = copy.deepcopy(body)
        other["metadata"]["ownerReferences"][0]["uid"] = "x"
        assert [o.body for o in owned_replica_sets("dep-uid", [Obj(body), Obj(other)])] == [body]
        assert new_replica_set(deployment(3), [body]) is body
        assert new_replica_set(deployment(3, image="nginx:9"), [body]) is None


percent = st.sampled_from(["0%", "10%", "25%", "50%", "100%"])
amount = st.one_of(st.integers(min_value=0, max_value=4), percent)


class TestProperties:
    @settings(max_examples=60, deadline=None)
    @given(replicas=st.integers(min_value=1, max_value=8),
           lag=st.lists(st.booleans(), min_size=10, max_size=10))
    def test_recreate_never_mixes_templates(self, replicas: int, lag: list[bool]) -> None:
        """Recreate: no step has pods of the old and the new template at once."""
        sim = Sim(deployment(replicas, strategy={"type": "Recreate"}))
        sim.settle()
        sim.edit(image="nginx:2")
        lingering = 0  # old pods still terminating after their RS went to 0
        for slow in lag:
            before = sim.by_image("nginx:1").actual
            sim.step()
            old = sim.by_image("nginx:1")
            lingering = (lingering or before) if slow else 0
            old.present = lingering
            running = {image_of(rs) for rs in sim.rss.values() if rs.actual or rs.present}
            assert len(running) <= 1, running
            sim.ready_up()
        sim.settle()
        assert sim.sizes() == {"nginx:1": 0, "nginx:2": replicas}

    @settings(max_examples=150, deadline=None)
    @given(replicas=st.integers(min_value=1, max_value=12), surge=amount, unav=amount,
           healthy=st.booleans(), ready=st.lists(st.integers(min_value=0, max_value=3),
                                                min_size=40, max_size=40))
    def test_rollout_bounds(self, replicas: int, surge: Any, unav: Any, healthy: bool,
                            ready: list[int]) -> None:
        """During a rollout: at most replicas+maxSurge pods, at least replicas-maxUnavailable
        available; a healthy template completes."""
        sim = Sim(deployment(replicas, strategy=rolling(surge, unav)))
        sim.settle()
        if not healthy:
            sim.healthy.discard("nginx:2")
        sim.edit(image="nginx:2")
        d = sim.spec
        for n in ready:
            sim.step()
            assert sum(rs.replicas for rs in sim.rss.values()) <= replicas + d.max_surge
            assert sum(rs.actual for rs in sim.rss.values()) <= replicas + d.max_surge
            assert sum(rs.available for rs in sim.rss.values()) >= replicas - d.max_unavailable
            sim.ready_up(n)
        if healthy:
            sim.settle()
            assert sim.sizes() == {"nginx:1": 0, "nginx:2": replicas}
            assert sim.condition("Progressing")["reason"] == "NewReplicaSetAvailable"

    @settings(max_examples=100, deadline=None)
    @given(before=st.integers(min_value=1, max_value=20), after=st.integers(min_value=0,
                                                                              max_value=30),
           steps=st.integers(min_value=0, max_value=6))
    def test_scaling_mid_rollout_stays_bounded(self, before: int, after: int,
                                               steps: int) -> None:
        """A replica change mid-rollout never leaves more than replicas+maxSurge, and settles
        at the new count."""
        sim = Sim(deployment(before, strategy=rolling("25%", "25%")))
        sim.settle()
        sim.edit(image="nginx:2")
        for _ in range(steps):
            sim.step()
        sim.edit(replicas=after)
        sim.step()
        assert sum(rs.replicas for rs in sim.rss.values()) <= after + sim.spec.max_surge
        sim.settle()
        assert sim.sizes().get("nginx:2") == after
        assert sum(sim.sizes().values()) == after
        assert all(image_of(rs) == "nginx:2" or rs.replicas == 0 for rs in sim.rss.values())
