"""DaemonSet planning: eligible nodes, create and delete per node, rolling updates, status."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.api.records import Condition, NodeRecord, PodRecord
from reconciler.api.taints import NOT_READY_TAINT, UNSCHEDULABLE_TAINT
from reconciler.planning.daemonset import plan_daemonset
from reconciler.planning.daemonset_nodes import (
    required_affinity_matches,
    should_run,
    with_daemon_tolerations,
)
from reconciler.planning.daemonset_spec import HASH_LABEL, DaemonSetSpec, ds_from_body, fenceposts

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
UID = "ds-uid"
_seq = itertools.count()


def ds_body(image: str = "agent:1", **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"metadata": {"labels": {"app": "agent"}},
                     "spec": {"containers": [{"name": "a", "image": image}]}},
        "updateStrategy": {"type": "RollingUpdate",
                           "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
    }
    s.update(spec)
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default"}, "spec": s}


def make_ds(image: str = "agent:1", **spec: Any) -> DaemonSetSpec:
    return ds_from_body(ds_body(image, **spec), UID, 1)


def node(name: str, ready: bool = True, unschedulable: bool = False,
         **labels: str) -> NodeRecord:
    return NodeRecord(name=name, engine_url="unix:///x", created_at=T0, ready=ready,
                      unschedulable=unschedulable, labels=dict(labels))


def pod(ds: DaemonSetSpec, on: str, ready: bool = True, phase: str = "Running",
        deleting: bool = False, owned: bool = True) -> PodRecord:
    n = next(_seq)
    conditions = [Condition("Ready", True, last_transition=T0)] if ready else []
    return PodRecord(
        uid=f"p{n}", namespace="default", name=f"agent-{n:05d}", spec=ds.spec_for(on),
        spec_hash="h", created_at=T0 + timedelta(seconds=n), labels=ds.pod_labels,
        owner=ds.owner_ref if owned else None, source="controller", node_name=on,
        phase=phase,  # type: ignore[arg-type]
        conditions=conditions, deletion_timestamp=NOW if deleting else None)


class TestEligibility:
    def test_node_selector_and_affinity(self) -> None:
        """nodeSelector and required node affinity terms decide which nodes run a pod."""
        spec = {"nodeSelector": {"role": "worker"}}
        assert required_affinity_matches(spec, {"role": "worker"}, "a")
        assert not required_affinity_matches(spec, {"role": "db"}, "a")
        aff = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In",
                                  "values": ["special"]}]}]}}}}
        assert required_affinity_matches(aff, {"zone": "a"}, "n1")
        assert required_affinity_matches(aff, {}, "special")
        assert not required_affinity_matches(aff, {"zone": "b"}, "n1")

    def test_operators(self) -> None:
        """NotIn, Exists, DoesNotExist, Gt and Lt read node labels as Kubernetes does."""
        def term(op: str, *values: str) -> dict[str, Any]:
            expr: dict[str, Any] = {"key": "k", "operator": op}
            if values:
                expr["values"] = list(values)
            return {"affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [expr]}]}}}}
        assert required_affinity_matches(term("NotIn", "x"), {}, "n")
        assert required_affinity_matches(term("Exists"), {"k": ""}, "n")
        assert required_affinity_matches(term("DoesNotExist"), {}, "n")
        assert required_affinity_matches(term("Gt", "3"), {"k": "4"}, "n")
        assert not required_affinity_matches(term("Lt", "3"), {"k": "4"}, "n")
        assert not required_affinity_matches(term("Gt", "3"), {"k": "four"}, "n")

    def test_daemon_tolerations(self) -> None:
        """Every daemon pod tolerates not-ready, unreachable, pressure and unschedulable."""
        spec = with_daemon_tolerations({"hostNetwork": True})
        pairs = {(t["key"], t["effect"]) for t in spec["tolerations"]}
        assert (NOT_READY_TAINT, "NoExecute") in pairs
        assert (UNSCHEDULABLE_TAINT, "NoSchedule") in pairs
        assert ("node.kubernetes.io/network-unavailable", "NoSchedule") in pairs
        assert len(with_daemon_tolerations(spec)["tolerations"]) == len(pairs)

    def test_cordoned_and_not_ready(self) -> None:
        """A cordoned node runs daemon pods; a NotReady one keeps them but gets no new one."""
        spec = make_ds().pod_spec
        assert should_run(node("a", unschedulable=True), spec) == (True, True)
        assert should_run(node("a", ready=False), spec) == (False, True)
        assert should_run(node("a", ready=False), {}) == (False, False)

    def test_template_node_name(self) -> None:
        """A template naming a node runs only there."""
        spec = {**make_ds().pod_spec, "nodeName": "b"}
        assert should_run(node("a"), spec) == (False, False)
        assert should_run(node("b"), spec) == (True, True)


class TestManage:
    def test_one_pod_per_eligible_node(self) -> None:
        """A pod is created on each matching node, none on the others."""
        ds = make_ds(template={"metadata": {"labels": {"app": "agent"}}, "spec": {
            "nodeSelector": {"role": "worker"}, "containers": [{"name": "a", "image": "x"}]}})
        nodes = [node("a", role="worker"), node("b", role="db"), node("c", role="worker")]
        plan = plan_daemonset(ds, nodes, [], NOW)
        assert plan.create == ["a", "c"]
        assert plan.status.desired == 2 and plan.status.current == 0

    def test_unwanted_gone_and_surplus(self) -> None:
        """Pods on nodes that stopped matching or left go; a second pod on a node goes."""
        ds = make_ds(template={"metadata": {"labels": {"app": "agent"}}, "spec": {
            "nodeSelector": {"role": "worker"}, "containers": [{"name": "a", "image": "x"}]}})
        nodes = [node("a", role="worker"), node("b", role="db")]
        first, second = pod(ds, "a"), pod(ds, "a")
        wrong, gone = pod(ds, "b"), pod(ds, "zz")
        plan = plan_daemonset(ds, nodes, [first, second, wrong, gone], NOW)
        assert {p.name for p in plan.delete} == {second.name, wrong.name, gone.name}
        assert plan.create == []
        assert plan.status.misscheduled == 1 and plan.status.current == 1

    def test_adopt_and_release(self) -> None:
        """An orphan the selector matches is adopted; an owned pod that stopped matching is
        released."""
        ds = make_ds()
        orphan = pod(ds, "a", owned=False)
        strayed = dataclasses.replace(pod(ds, "b"), labels={"app": "other"})
        plan = plan_daemonset(ds, [node("a"), node("b")], [orphan, strayed], NOW)
        assert plan.adopt == [orphan] and plan.release == [strayed]
        assert plan.create == ["b"]

    def test_deleting_pod_holds_its_node(self) -> None:
        """No new pod goes to a node whose old pod is still being deleted (no surge)."""
        ds = make_ds()
        plan = plan_daemonset(ds, [node("a")], [pod(ds, "a", deleting=True)], NOW)
        assert plan.create == [] and plan.delete == []

    def test_failed_pod_replaced_with_backoff(self) -> None:
        """A failed pod is deleted, unless its node is in back-off."""
        ds = make_ds()
        failed = pod(ds, "a", ready=False, phase="Failed")
        assert plan_daemonset(ds, [node("a")], [failed], NOW).failed == [failed]
        waiting = plan_daemonset(ds, [node("a")], [failed], NOW, backoff={"a"})
        assert waiting.delete == [] and waiting.requeue_after is not None

    def test_status(self) -> None:
        """Status counts desired, current, ready, updated and available nodes."""
        old = make_ds("agent:1")
        ds = make_ds("agent:2")
        pods = [pod(ds, "a"), pod(old, "b"), pod(ds, "c", ready=False)]
        plan = plan_daemonset(ds, [node("a"), node("b"), node("c"), node("d")], pods, NOW)
        st_ = plan.status.to_json()
        assert st_["desiredNumberScheduled"] == 4 and st_["currentNumberScheduled"] == 3
        assert st_["numberReady"] == 2 and st_["updatedNumberScheduled"] == 2
        assert st_["numberAvailable"] == 2 and st_["numberUnavailable"] == 2
        assert st_["observedGeneration"] == 1


class TestRollingUpdate:
    def test_fenceposts(self) -> None:
        """Percentages round up; both zero means one unavailable."""
        ds = make_ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
            "maxUnavailable": "10%", "maxSurge": 0}})
        assert fenceposts(ds, 15) == (0, 2)
        zero = make_ds(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
            "maxUnavailable": 0, "maxSurge": 0}})
        assert fenceposts(zero, 3) == (0, 1)

    def test_one_node_at_a_time(self) -> None:
        """maxUnavailable 1: one old pod is deleted; nothing more while a node is unavailable."""
        old, ds = make_ds("agent:1"), make_ds("agent:2")
        nodes = [node("a"), node("b"), node("c")]
        pods = [pod(old, "a"), pod(old, "b"), pod(old, "c")]
        plan = plan_daemonset(ds, nodes, pods, NOW)
        assert [p.node_name for p in plan.delete] == ["a"] and plan.create == []
        pods[0] = dataclasses.replace(pods[0], deletion_timestamp=NOW)
        assert plan_daemonset(ds, nodes, pods, NOW).delete == []

    def test_on_delete(self) -> None:
        """OnDelete never replaces a running old pod."""
        old = make_ds("agent:1")
        ds = make_ds("agent:2", updateStrategy={"type": "OnDelete"})
        plan = plan_daemonset(ds, [node("a")], [pod(old, "a")], NOW)
        assert plan.delete == [] and plan.create == []

    def test_surge(self) -> None:
        """maxSurge 1: a new pod beside the old one; the old goes once the new is available."""
        old = make_ds("agent:1")
        ds = make_ds("agent:2", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
            "maxUnavailable": 0, "maxSurge": 1}})
        nodes = [node("a"), node("b")]
        olds = [pod(old, "a"), pod(old, "b")]
        plan = plan_daemonset(ds, nodes, olds, NOW)
        assert plan.create == ["a"] and plan.delete == []
        starting = pod(ds, "a", ready=False)
        plan = plan_daemonset(ds, nodes, [*olds, starting], NOW)
        assert plan.create == [] and plan.delete == []
        ready = [Condition("Ready", True, last_transition=T0)]
        up = dataclasses.replace(starting, conditions=ready)
        plan = plan_daemonset(ds, nodes, [*olds, up], NOW)
        assert plan.delete == [olds[0]]


def _converge(ds: DaemonSetSpec, nodes: list[NodeRecord], pods: list[PodRecord],
              surge: bool) -> list[PodRecord]:
    """Apply plans until nothing changes: created pods become ready, deletions finish the
    sync after they were asked for; assert at each step that no node runs two pods
    (without surge) and the update never makes more nodes unavailable than allowed."""
    for _ in range(60):
        settled = all(p.deletion_timestamp is None for p in pods)
        per_node: dict[str, int] = {}
        for p in pods:  # a pod being deleted still runs
            per_node[p.node_name] = per_node.get(p.node_name, 0) + 1
        if not surge:
            assert all(n <= 1 for n in per_node.values()), per_node
        plan = plan_daemonset(ds, nodes, pods, NOW)
        pods = [p for p in pods if p.deletion_timestamp is None]  # last step's finished
        doomed = {p.uid for p in plan.delete}
        pods = [dataclasses.replace(p, deletion_timestamp=NOW) if p.uid in doomed else p
                for p in pods]
        pods += [pod(ds, n) for n in plan.create]
        if not plan.create and not plan.delete and settled:
            return pods
    raise AssertionError("did not converge")


class TestProperties:
    @settings(max_examples=150, deadline=None)
    @given(
        facts=st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans(),
                                 st.integers(0, 3)), min_size=0, max_size=6),
        surge=st.booleans(),
        unavailable=st.sampled_from([1, 2, "50%", "100%"]),
    )
    def test_converges_to_one_updated_pod_per_eligible_node(
        self, facts: list[tuple[bool, bool, bool, int]], surge: bool,
        unavailable: int | str,
    ) -> None:
        """Any nodes and any old, duplicate or stray pods end as one current pod per
        eligible node, never two per node without surge."""
        old = make_ds("agent:1")
        rolling: dict[str, Any] = {"maxUnavailable": 0 if surge else unavailable,
                                   "maxSurge": 1 if surge else 0}
        ds = make_ds("agent:2", updateStrategy={"type": "RollingUpdate",
                                                "rollingUpdate": rolling},
                     template={"metadata": {"labels": {"app": "agent"}}, "spec": {
                         "nodeSelector": {"run": "yes"},
                         "containers": [{"name": "a", "image": "agent:2"}]}})
        nodes: list[NodeRecord] = []
        pods: list[PodRecord] = []
        for i, (match, ready, cordoned, existing) in enumerate(facts):
            name = f"n{i}"
            nodes.append(node(name, ready=ready, unschedulable=cordoned,
                              **({"run": "yes"} if match else {})))
            for _ in range(existing if surge else min(existing, 1)):
                pods.append(pod(old, name))
        final = _converge(ds, nodes, pods, surge)
        for n in nodes:
            run, keep = should_run(n, ds.pod_spec)
            here = [p for p in final if p.node_name == n.name]
            if run:
                assert len(here) == 1 and here[0].labels[HASH_LABEL] == ds.hash
            elif not keep:
                assert here == []
