"""Unit tests of the dashboard's view models: records and Kubernetes JSON in, rows out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.api.records import EventRecord, NodeRecord, PodRecord, Resources
from reconciler.ui import viewmodels

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def pod(name: str, node: str = "", phase: str = "Running", cpu: str = "", mem: str = "",
        ns: str = "default") -> PodRecord:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v}
    spec = {"containers": [{"name": "c", "image": "i", "resources": {"requests": requests}}]}
    return PodRecord(uid=name, namespace=ns, name=name, spec=spec, spec_hash="h", created_at=T0,
                     node_name=node, phase=phase)  # type: ignore[arg-type]


def node(name: str, ready: bool = True, cpu: int = 2000, mem: int = 1024**3) -> NodeRecord:
    return NodeRecord(name=name, engine_url="unix:///x", created_at=T0, ready=ready,
                      capacity=Resources(cpu, mem))


def event(reason: str, type_: str, seconds: int) -> EventRecord:
    return EventRecord(namespace="default", kind="Pod", name="p", type=type_,  # type: ignore[arg-type]
                       reason=reason, message="m", source="kubelet",
                       last_seen=T0 + timedelta(seconds=seconds))


def controller(name: str, replicas: Any, current: int, ready: int,
               kind: str = "ReplicationController") -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    return {"kind": kind, "metadata": {"name": name, "namespace": "default"}, "spec": spec,
            "status": {"replicas": current, "readyReplicas": ready}}


class TestHref:
    def test_namespaced_object(self) -> None:
        """A pod's page is /pods/NAMESPACE/NAME."""
        assert viewmodels.href("Pod", "default", "web-1") == "/pods/default/web-1"

    def test_cluster_scoped_object(self) -> None:
        """A node's page has no namespace segment."""
        assert viewmodels.href("Node", "", "hostb") == "/nodes/hostb"

    def test_hostile_name_is_quoted(self) -> None:
        """Slashes, quotes and angle brackets in a name cannot leave their path segment."""
        link = viewmodels.href("Pod", "default", '../x"><script>')
        assert link == "/pods/default/..%2Fx%22%3E%3Cscript%3E"


class TestNodeCards:
    def test_allocation_sums_bound_running_pods(self) -> None:
        """Requests of pods bound to a node add up; finished and unbound pods do not count."""
        pods = [pod("a", "n1", cpu="500m", mem="128Mi"), pod("b", "n1", cpu="250m"),
                pod("c", "n1", phase="Succeeded", cpu="1"), pod("d", cpu="1")]
        (card,) = viewmodels.node_cards([node("n1")], pods, {"n1": "Ready"})
        assert (card.cpu.used, card.cpu.total, card.pods) == (750, 2000, 2)
        assert card.cpu.text == "750m / 2000m" and card.memory.text == "128Mi / 1024Mi"
        assert card.cpu.percent == 38 and card.memory.percent == 12

    def test_not_ready_node_keeps_its_status_text(self) -> None:
        """The card carries `get nodes`' STATUS text and the Ready flag."""
        (card,) = viewmodels.node_cards([node("n1", ready=False)], [], {"n1": "NotReady"})
        assert not card.ready and card.status == "NotReady" and card.link == "/nodes/n1"

    @pytest.mark.parametrize(("used", "total", "percent"), [(0, 0, 0), (5, 10, 50), (30, 10, 100)])
    def test_bar_percent_is_bounded(self, used: int, total: int, percent: int) -> None:
        """An empty capacity shows 0 %, overcommit shows a full bar."""
        assert viewmodels.Bar(used, total, "").percent == percent

    def test_sorted_by_name(self) -> None:
        """Cards come in name order whatever the store returns."""
        cards = viewmodels.node_cards([node("b"), node("a")], [], {})
        assert [c.name for c in cards] == ["a", "b"]


class TestPhaseCounts:
    def test_every_phase_present(self) -> None:
        """All phases appear, zero included, in Kubernetes' order."""
        counts = viewmodels.phase_counts([pod("a"), pod("b", phase="Pending"), pod("c")])
        assert counts == {"Running": 2, "Pending": 1, "Succeeded": 0, "Failed": 0, "Unknown": 0}


class TestControllerRows:
    def test_replicas_default_to_one(self) -> None:
        """A controller without spec.replicas wants one, as Kubernetes defaults it."""
        (row,) = viewmodels.controller_rows([controller("web", None, 1, 1)])
        assert (row.desired, row.current, row.ready, row.settled) == (1, 1, 1, True)

    def test_unsettled_and_linked(self) -> None:
        """A controller short of ready replicas is unsettled and links to its page."""
        (row,) = viewmodels.controller_rows([controller("web", 3, 2, 1, "ReplicaSet")])
        assert not row.settled and row.link == "/replicasets/default/web"


class TestRecentWarnings:
    def test_newest_warnings_only(self) -> None:
        """Normal events are left out; the newest warning comes first; the limit holds."""
        events = [event("old", "Warning", 1), event("fine", "Normal", 9),
                  event("new", "Warning", 5), event("mid", "Warning", 3)]
        assert [e.reason for e in viewmodels.recent_warnings(events, limit=2)] == ["new", "mid"]


class TestTable:
    def test_names_linked_and_namespace_column(self) -> None:
        """With all namespaces, NAMESPACE leads and the name links to the detail page."""
        t = viewmodels.table("Pod", ("READY",), [("default", "a", ["1/1"])], with_namespace=True)
        assert t.headers == ["NAMESPACE", "NAME", "READY"]
        assert [c.text for c in t.rows[0]] == ["default", "a", "1/1"]
        assert t.rows[0][1].link == "/pods/default/a" and t.keys == ["default/a"]

    def test_events_have_no_name_column(self) -> None:
        """Event rows are their cells only, as `get events` prints them."""
        t = viewmodels.table(
            "Event", ("TYPE",), [("default", "", ["Warning"])], with_namespace=False
        )
        assert [c.text for c in t.rows[0]] == ["Warning"] and t.headers == ["TYPE"]


class TestOwnerLinks:
    def test_owner_references_become_links(self) -> None:
        """Each ownerReference links to its controller's page in the object's namespace."""
        obj = {"metadata": {"namespace": "ns", "ownerReferences": [
            {"kind": "ReplicationController", "name": "web"}]}}
        (link,) = viewmodels.owner_links(obj)
        assert (link.text, link.link) == ("ReplicationController/web",
                                          "/replicationcontrollers/ns/web")


class TestNamespaces:
    def test_default_first_then_sorted(self) -> None:
        """The filter offers default first, then the others seen, once each."""
        assert viewmodels.namespaces(["b", "", "a", "b"]) == ["default", "a", "b"]
