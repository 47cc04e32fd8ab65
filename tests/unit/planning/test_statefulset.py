"""StatefulSet planning: identity, ordered and parallel scaling, updates, claims, status."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import ClaimRecord, Condition, OwnerRef, PodRecord
from reconciler.planning.statefulset import StatefulSetPlan, plan_statefulset
from reconciler.planning.statefulset_identity import (
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    REVISION_LABEL,
    StatefulSetSpec,
    claims_to_reown,
    missing_member_claims,
    ordinal_of,
    set_from_body,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
LABELS = {"app": "nginx"}


def sts_body(replicas: int = 2, **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "serviceName": "nginx",
        "replicas": replicas,
        "selector": {"matchLabels": dict(LABELS)},
        "template": {"metadata": {"labels": dict(LABELS)},
                     "spec": {"containers": [{"name": "nginx", "image": "nginx-slim",
                                              "volumeMounts": [{"name": "www",
                                                                "mountPath": "/html"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "www"},
                                  "spec": {"accessModes": ["ReadWriteOnce"],
                                           "resources": {"requests": {"storage": "1Gi"}}}}],
        **spec,
    }
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default"}, "spec": s}


def sts(replicas: int = 2, status: dict[str, Any] | None = None, **spec: Any) -> StatefulSetSpec:
    return set_from_body(sts_body(replicas, **spec), "sts-uid", status=status)


SET = sts()
REV = SET.update_revision


def member(ordinal: int, *, phase: str = "Running", ready: bool = True,
           deleting: bool = False, revision: str | None = None, owner_uid: str | None = "sts-uid",
           ready_at: int = 0, name: str | None = None) -> PodRecord:
    n = name or f"web-{ordinal}"
    return PodRecord(
        uid=f"uid-{n}", namespace="default", name=n, spec={}, spec_hash="h", created_at=T0,
        labels={**LABELS, REVISION_LABEL: REV if revision is None else revision,
                POD_NAME_LABEL: n, POD_INDEX_LABEL: str(ordinal)},
        owner=OwnerRef("StatefulSet", "web", owner_uid, "apps/v1") if owner_uid else None,
        node_name="n1", phase=phase,  # type: ignore[arg-type]
        conditions=[Condition("Ready", True, last_transition=T0 + timedelta(seconds=ready_at))]
        if ready else [],
        deletion_timestamp=T0 if deleting else None)


def claim(name: str, deleting: bool = False) -> ClaimRecord:
    return ClaimRecord("default", name, f"uid-{name}", None,
                       deletion_timestamp=T0 if deleting else None)


def plan(set_: StatefulSetSpec, pods: list[PodRecord],
         claims: list[ClaimRecord] | None = None) -> StatefulSetPlan:
    return plan_statefulset(set_, pods, claims or [], NOW)


def created(p: StatefulSetPlan) -> list[str]:
    return [c.name for c in p.create]


def deleted(p: StatefulSetPlan) -> list[str]:
    return [d.name for d in p.delete]


class TestSetFromBody:
    def test_defaults(self) -> None:
        """A bare set: OrderedReady, RollingUpdate at partition 0, Retain/Retain, 1 replica."""
        body = sts_body()
        del body["spec"]["replicas"]
        s = set_from_body(body, "u")
        assert (s.replicas, s.pod_management, s.update_type, s.partition) == \
            (1, "OrderedReady", "RollingUpdate", 0)
        assert (s.when_deleted, s.when_scaled) == ("Retain", "Retain")
        assert s.owner_ref == OwnerRef("StatefulSet", "web", "u", "apps/v1", True)

    def test_fields(self) -> None:
        """Policy, partition, retention and claim templates are read from the spec."""
        s = sts(3, podManagementPolicy="Parallel",
                updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
                persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete",
                                                      "whenScaled": "Delete"},
                status=None)
        assert not s.monotonic and s.partition == 2
        assert (s.when_deleted, s.when_scaled) == ("Delete", "Delete")
        t = s.claim_templates[0]
        assert (t.name, t.storage, t.access_modes) == ("www", "1Gi", ("ReadWriteOnce",))
        assert dict(t.labels) == LABELS

    def test_revision_follows_template(self) -> None:
        """The update revision is `<set>-<hash>` and changes with the template only."""
        other = sts_body()
        other["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        assert REV.startswith("web-") and len(REV) == 14
        assert sts(5).update_revision == REV
        assert set_from_body(other, "sts-uid").update_revision != REV

    def test_current_revision_from_status(self) -> None:
        """status.currentRevision of the last sync is the current revision."""
        assert sts(status={"currentRevision": "web-old"}).current_revision == "web-old"


class TestOrdinals:
    def test_ordinal_of(self) -> None:
        """Only `<set>-N` with a canonical number is a member name."""
        assert ordinal_of(SET, "web-0") == 0 and ordinal_of(SET, "web-12") == 12
        for name in ("web", "web-", "web-01", "web-a", "webx-1", "web-1-2", "other-1"):
            assert ordinal_of(SET, name) is None


class TestIdentity:
    def test_new_pod(self) -> None:
        """web-0: hostname, subdomain, identity labels, revision and its claim volume."""
        p = plan(SET, [])
        pod = p.create[0]
        assert pod.name == "web-0" and pod.spec["hostname"] == "web-0"
        assert pod.spec["subdomain"] == "nginx"
        assert pod.labels == {**LABELS, POD_NAME_LABEL: "web-0", POD_INDEX_LABEL: "0",
                              REVISION_LABEL: REV}
        assert pod.spec["volumes"] == [{"name": "www",
                                        "persistentVolumeClaim": {"claimName": "www-web-0"}}]
        assert [c.name for c in p.claims] == ["www-web-0"]
        c = p.claims[0]
        assert (c.storage, c.access_modes, c.labels) == ("1Gi", ["ReadWriteOnce"], LABELS)
        assert c.owner is None  # Retain: the claim is not collected with the set

    def test_template_volume_replaced(self) -> None:
        """A template volume named like a claim template is replaced by the claim."""
        body = sts_body()
        body["spec"]["template"]["spec"]["volumes"] = [{"name": "www", "emptyDir": {}},
                                                       {"name": "tmp", "emptyDir": {}}]
        pod = plan(set_from_body(body, "sts-uid"), []).create[0]
        assert [v["name"] for v in pod.spec["volumes"]] == ["tmp", "www"]
        assert "persistentVolumeClaim" in pod.spec["volumes"][1]

    def test_template_not_mutated(self) -> None:
        """Making pods leaves the set's template as it was."""
        s = sts(3, podManagementPolicy="Parallel")
        plan(s, [])
        assert "hostname" not in s.template["spec"] and "volumes" not in s.template["spec"]


class TestOrderedReady:
    def test_creates_lowest_missing_first(self) -> None:
        """From nothing, only web-0 is created."""
        assert created(plan(sts(3), [])) == ["web-0"]

    def test_next_after_ready(self) -> None:
        """web-1 is created once web-0 is Running and Ready."""
        assert created(plan(sts(3), [member(0)])) == ["web-1"]

    def test_waits_for_not_ready(self) -> None:
        """web-0 Running but not Ready, or Pending: nothing more is created."""
        for pod in (member(0, ready=False), member(0, phase="Pending", ready=False)):
            p = plan(sts(3), [pod])
            assert not p.create and "web-0" in p.waiting

    def test_fills_hole(self) -> None:
        """A missing lower ordinal is recreated first."""
        assert created(plan(sts(3), [member(1), member(2)])) == ["web-0"]

    def test_terminating_blocks(self) -> None:
        """A member being deleted is waited for; its name is not reused meanwhile."""
        p = plan(sts(3), [member(0, deleting=True)])
        assert not p.create and not p.delete and "terminating" in p.waiting

    def test_scale_down_highest_first(self) -> None:
        """4 -> 1: web-3 first, one at a time."""
        pods = [member(i) for i in range(4)]
        assert deleted(plan(sts(1), pods)) == ["web-3"]
        assert deleted(plan(sts(1), pods[:3])) == ["web-2"]

    def test_scale_down_waits_for_terminating(self) -> None:
        """No second deletion while the first is terminating."""
        pods = [member(0), member(1), member(2), member(3, deleting=True)]
        assert deleted(plan(sts(1), pods)) == []

    def test_scale_down_waits_for_unready_remaining(self) -> None:
        """A remaining pod not Ready blocks scale down."""
        pods = [member(0, ready=False), member(1), member(2)]
        assert deleted(plan(sts(1), pods)) == []

    def test_scale_down_unready_condemned(self) -> None:
        """The highest condemned pod is removed even if not Ready when it is the first unhealthy."""
        pods = [member(0), member(1), member(2, ready=False)]
        assert deleted(plan(sts(1), pods)) == ["web-2"]
        pods = [member(0), member(1, ready=False), member(2, ready=False)]
        assert deleted(plan(sts(1), pods)) == []

    def test_failed_pod_recreated(self) -> None:
        """A Failed member is deleted, and recreated once its record is gone."""
        p = plan(sts(2), [member(0, phase="Failed", ready=False), member(1)])
        assert deleted(p) == ["web-0"] and not p.create
        assert created(plan(sts(2), [member(1)])) == ["web-0"]

    def test_steady(self) -> None:
        """All members Ready at the update revision: nothing to do."""
        p = plan(sts(2), [member(0), member(1)])
        assert not p.changes and p.waiting == ""


class TestParallel:
    def test_creates_all(self) -> None:
        """Parallel creates every missing ordinal at once, ready or not."""
        s = sts(4, podManagementPolicy="Parallel")
        assert created(plan(s, [member(1, ready=False)])) == ["web-0", "web-2", "web-3"]

    def test_deletes_all(self) -> None:
        """Parallel removes every condemned pod at once, highest first."""
        s = sts(1, podManagementPolicy="Parallel")
        pods = [member(0, ready=False), member(1), member(2, ready=False)]
        assert deleted(plan(s, pods)) == ["web-2", "web-1"]

    def test_terminating_skipped(self) -> None:
        """A terminating member is waited for; the others still proceed."""
        s = sts(3, podManagementPolicy="Parallel")
        assert created(plan(s, [member(0, deleting=True)])) == ["web-1", "web-2"]


class TestRollingUpdate:
    def test_highest_first(self) -> None:
        """A new template replaces web-2 first, then nothing until it is back and Ready."""
        pods = [member(i, revision="web-old") for i in range(3)]
        s = sts(3, status={"currentRevision": "web-old"})
        assert deleted(plan(s, pods)) == ["web-2"]
        assert created(plan(s, pods[:2])) == ["web-2"]
        fresh = member(2, ready=False)
        assert not plan(s, [*pods[:2], fresh]).changes
        assert deleted(plan(s, [*pods[:2], member(2)])) == ["web-1"]

    def test_partition(self) -> None:
        """Ordinals below the partition keep the old revision."""
        s = sts(3, status={"currentRevision": "web-old"},
                updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
        pods = [member(0, revision="web-old"), member(1, revision="web-old"), member(2)]
        assert not plan(s, pods).changes

    def test_below_partition_recreated_at_current(self) -> None:
        """A deleted pod below the partition comes back at the current revision."""
        s = sts(3, status={"currentRevision": "web-old"},
                updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
        old = member(1, revision="web-old")
        old.spec = {"containers": [{"name": "nginx", "image": "nginx:old"}], "hostname": "web-1"}
        p = plan(s, [old, member(2)])
        assert created(p) == ["web-0"] and p.create[0].revision == "web-old"
        assert p.create[0].spec["containers"][0]["image"] == "nginx:old"
        assert p.create[0].spec["hostname"] == "web-0"

    def test_on_delete(self) -> None:
        """OnDelete never replaces; a deleted pod comes back at the update revision."""
        s = sts(2, status={"currentRevision": "web-old"}, updateStrategy={"type": "OnDelete"})
        pods = [member(0, revision="web-old"), member(1, revision="web-old")]
        assert not plan(s, pods).changes
        p = plan(s, pods[:1])
        assert created(p) == ["web-1"] and p.create[0].revision == REV

    def test_scaling_before_update(self) -> None:
        """Scale down takes precedence over the update."""
        pods = [member(i, revision="web-old") for i in range(3)]
        assert deleted(plan(sts(2, status={"currentRevision": "web-old"}), pods)) == ["web-2"]


class TestStatus:
    def test_counts(self) -> None:
        """replicas, ready, current, updated, available, revisions."""
        s = sts(3, status={"currentRevision": "web-old"})
        pods = [member(0, revision="web-old"), member(1), member(2, ready=False)]
        st_ = plan(s, pods).status.to_json()
        assert st_ == {"observedGeneration": 1, "replicas": 3, "readyReplicas": 2,
                       "currentReplicas": 1, "updatedReplicas": 2, "availableReplicas": 2,
                       "currentRevision": "web-old", "updateRevision": REV,
                       "collisionCount": 0}

    def test_rollout_complete(self) -> None:
        """All updated and ready: the current revision becomes the update revision."""
        st_ = plan(sts(2, status={"currentRevision": "web-old"}),
                   [member(0), member(1)]).status
        assert st_.current_revision == REV and st_.current_replicas == 2

    def test_min_ready_seconds(self) -> None:
        """A pod ready for less than minReadySeconds is not available; a requeue is asked."""
        s = sts(1, minReadySeconds=30)
        p = plan(s, [member(0, ready_at=3600 - 10)])
        assert p.status.available_replicas == 0 and p.requeue_after == timedelta(seconds=30)
        assert p.waiting  # OrderedReady waits for availability


class TestMembership:
    def test_foreign_pods_ignored(self) -> None:
        """Pods of another owner, other namespaces or non-member names are not ours."""
        other = member(0, owner_uid="other")
        stray = member(0, name="web-x")
        elsewhere = member(1)
        elsewhere.namespace = "prod"
        p = plan(sts(2), [other, stray, elsewhere])
        assert created(p) == ["web-0"] and p.status.replicas == 0

    def test_adopts_orphan_member(self) -> None:
        """An orphan named `web-0` matching the selector is adopted."""
        orphan = member(0, owner_uid=None)
        p = plan(sts(1), [orphan])
        assert [a.name for a in p.adopt] == ["web-0"] and not p.create

    def test_identity_labels_put_right(self) -> None:
        """A member without its pod-name and pod-index labels gets them (a copy is planned)."""
        orphan = member(1, owner_uid=None)
        del orphan.labels[POD_NAME_LABEL]
        orphan.labels[POD_INDEX_LABEL] = "7"
        p = plan(sts(2), [member(0), orphan])
        (fixed,) = p.relabel
        assert fixed.labels[POD_NAME_LABEL] == "web-1" and fixed.labels[POD_INDEX_LABEL] == "1"
        assert POD_NAME_LABEL not in orphan.labels


class TestClaims:
    def test_waits_for_claim_being_removed(self) -> None:
        """A pod whose claim is marked deleted is not created until the claim is gone."""
        p = plan(sts(1), [], [claim("www-web-0", deleting=True)])
        assert not p.create and "www-web-0" in p.waiting
        assert p.requeue_after == timedelta(seconds=2)

    def test_retain_on_scale(self) -> None:
        """whenScaled Retain (default): claims of removed ordinals stay."""
        p = plan(sts(1), [member(0)], [claim("www-web-0"), claim("www-web-1")])
        assert not p.release_claims

    def test_delete_on_scale(self) -> None:
        """whenScaled Delete: claims of removed ordinals go once their pod is gone."""
        s = sts(1, persistentVolumeClaimRetentionPolicy={"whenScaled": "Delete"})
        claims = [claim("www-web-0"), claim("www-web-1"), claim("www-web-2"),
                  claim("www-web-3", deleting=True), claim("www-other-1"), claim("data-web-1")]
        p = plan(s, [member(0), member(2, deleting=True)], claims)
        assert [c.name for c in p.release_claims] == ["www-web-1"]


def _pod_states() -> st.SearchStrategy[list[tuple[int, str]]]:
    state = st.sampled_from(["ready", "unready", "pending", "deleting", "failed"])
    return st.lists(st.tuples(st.integers(0, 6), state), max_size=7, unique_by=lambda t: t[0])


def _build(states: list[tuple[int, str]]) -> list[PodRecord]:
    out = []
    for ordinal, state in states:
        out.append(member(ordinal, phase={"pending": "Pending", "failed": "Failed"}.get(
            state, "Running"), ready=state == "ready", deleting=state == "deleting"))
    return out


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(states=_pod_states(), replicas=st.integers(0, 6))
    def test_ordered_ready_invariants(self, states: list[tuple[int, str]],
                                      replicas: int) -> None:
        """OrderedReady: at most one action; a create only when all lower pods are healthy."""
        pods = _build(states)
        p = plan(sts(replicas), pods)
        assert len(p.create) + len(p.delete) <= 1
        by_ord = {int(x.name.split("-")[1]): x for x in pods}
        for c in p.create:
            assert c.ordinal < replicas and c.ordinal not in by_ord
            assert all(i in by_ord and by_ord[i].ready and by_ord[i].deletion_timestamp is None
                       for i in range(c.ordinal))
        for d in p.delete:
            assert d.deletion_timestamp is None
            if int(d.name.split("-")[1]) >= replicas:
                assert int(d.name.split("-")[1]) == max(by_ord)

    @settings(max_examples=300, deadline=None)
    @given(states=_pod_states(), replicas=st.integers(0, 6))
    def test_parallel_converges(self, states: list[tuple[int, str]], replicas: int) -> None:
        """Parallel: every free ordinal below replicas is created and every live one above goes."""
        pods = _build(states)
        p = plan(sts(replicas, podManagementPolicy="Parallel"), pods)
        by_ord = {int(x.name.split("-")[1]): x for x in pods}
        assert {c.ordinal for c in p.create} == {i for i in range(replicas) if i not in by_ord}
        gone = {int(d.name.split("-")[1]) for d in p.delete}
        assert {i for i, x in by_ord.items()
                if i >= replicas and x.deletion_timestamp is None} <= gone


class TestStartOrdinal:
    def test_names_from_start(self) -> None:
        """ordinals.start 1: pods web-1, web-2; web-0 is condemned."""
        s = sts(2, ordinals={"start": 1}, podManagementPolicy="Parallel")
        assert created(plan(s, [])) == ["web-1", "web-2"]
        assert deleted(plan(s, [member(0), member(1), member(2)])) == ["web-0"]

    def test_partition_counts_from_start(self) -> None:
        """partition 1 with start 5: web-5 keeps the old revision, web-6 is updated."""
        s = sts(2, ordinals={"start": 5}, status={"currentRevision": "web-old"},
                updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})
        pods = [member(5, revision="web-old"), member(6, revision="web-old")]
        assert deleted(plan(s, pods)) == ["web-6"]
        assert not plan(s, [pods[0], member(6)]).changes


class TestClaimOwner:
    def test_retain_claims_have_no_owner(self) -> None:
        """whenDeleted Retain: claims carry no owner, so deleting the set never collects them."""
        assert SET.claim_owner is None

    def test_delete_claims_are_owned_by_the_set(self) -> None:
        """whenDeleted Delete: new claims name the set as their owner."""
        s = sts(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"})
        assert [c.owner for c in plan(s, []).claims] == [s.owner_ref]

    def test_policy_change_reowns_the_ordinals_claims(self) -> None:
        """A changed whenDeleted moves the owner of the set's claims, not of others."""
        s = sts(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"})
        claims = [claim("www-web-0"), claim("www-web-1"), claim("www-web-5"),
                  claim("data-other-0")]
        assert [(c.name, c.owner) for c in claims_to_reown(s, claims)] == [
            ("www-web-0", s.owner_ref), ("www-web-1", s.owner_ref)]
        owned = [dataclasses.replace(c, owner=s.owner_ref) for c in claims[:2]]
        assert claims_to_reown(s, owned) == []
        assert [c.owner for c in claims_to_reown(SET, owned)] == [None, None]


class TestMissingMemberClaims:
    def test_a_members_deleted_claim_is_made_again(self) -> None:
        """web-1 lost its claim: a new one; web-0's exists, web-5 is no member, deleting waits."""
        pods = [member(0), member(1), member(5), member(2, deleting=True)]
        made = missing_member_claims(sts(3), pods, [claim("www-web-0")])
        assert [c.name for c in made] == ["www-web-1"]

    def test_a_claim_being_removed_is_waited_for(self) -> None:
        """A claim still marked for deletion is not made again until it is gone."""
        assert missing_member_claims(SET, [member(0)], [claim("www-web-0", deleting=True)]) == []
