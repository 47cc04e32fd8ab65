"""Scheduler filters, each on its own: reasons as kube-scheduler names them."""

from __future__ import annotations

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.scheduling import (
    host_ports,
    node_affinity,
    node_name,
    node_ready,
    resources,
    taint_toleration,
)
from reconciler.scheduling.nodeinfo import NodeInfo, build_node_infos

from .factories import GI, node, pod


def info(n: NodeRecord, placed: list[PodRecord] | None = None) -> NodeInfo:
    return build_node_infos([n], placed or [])[n.name]


class TestNodeReady:
    def test_unschedulable(self) -> None:
        """A cordoned node refuses pods, unless they tolerate the unschedulable taint."""
        n = info(node("a", unschedulable=True))
        assert node_ready.fits_schedulable(pod("p"), n) == ["node(s) were unschedulable"]
        tolerant = pod("p", spec={"tolerations": [
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]})
        assert node_ready.fits_schedulable(tolerant, n) == []

    def test_not_ready(self) -> None:
        """A NotReady node refuses pods with the not-ready taint's wording."""
        n = info(node("a", ready=False))
        assert taint_toleration.fits(pod("p"), n) == [
            "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]
        only_noexecute = pod("p", spec={"tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}]})
        assert taint_toleration.fits(only_noexecute, n) != []
        everything = pod("p", spec={"tolerations": [{"operator": "Exists"}]})
        assert taint_toleration.fits(everything, n) == []
        assert taint_toleration.fits(pod("p"), info(node("b"))) == []


class TestNodeName:
    def test_pinned(self) -> None:
        """spec.nodeName fits only the named node."""
        p = pod("p", spec={"nodeName": "b"})
        assert node_name.fits(p, info(node("a"))) == [node_name.REASON]
        assert node_name.fits(p, info(node("b"))) == []
        assert node_name.fits(pod("q"), info(node("a"))) == []


class TestNodeSelector:
    def test_selector(self) -> None:
        """Every nodeSelector pair must be a node label; the hostname label is implied."""
        n = info(node("a", labels={"disk": "ssd"}))
        assert node_affinity.fits(pod("p", spec={"nodeSelector": {"disk": "ssd"}}), n) == []
        assert node_affinity.fits(pod("p", spec={"nodeSelector": {"disk": "hdd"}}), n) == [
            "node(s) didn't match Pod's node affinity/selector"]
        pinned = pod("p", spec={"nodeSelector": {"kubernetes.io/hostname": "a"}})
        assert node_affinity.fits(pinned, n) == []


class TestHostPorts:
    def test_conflict(self) -> None:
        """A host port already used on the node (same protocol) does not fit."""
        n = info(node("a"), [pod("x", host_port=8080, node_name="a")])
        assert host_ports.fits(pod("p", host_port=8080), n) == [
            "node(s) didn't have free ports for the requested pod ports"]
        assert host_ports.fits(pod("p", host_port=8081), n) == []

    def test_distinct_addresses_do_not_conflict(self) -> None:
        """Claims on two specific addresses coexist; 0.0.0.0 collides with any."""
        assert not host_ports.conflicts(("TCP", "10.0.0.1", 80), ("TCP", "10.0.0.2", 80))
        assert host_ports.conflicts(("TCP", "0.0.0.0", 80), ("TCP", "10.0.0.2", 80))
        assert not host_ports.conflicts(("UDP", "0.0.0.0", 80), ("TCP", "0.0.0.0", 80))

    def test_finished_pods_free_their_ports(self) -> None:
        """A Succeeded pod no longer holds its host port."""
        n = info(node("a"), [pod("x", host_port=8080, node_name="a", phase="Succeeded")])
        assert host_ports.fits(pod("p", host_port=8080), n) == []


class TestResources:
    def test_insufficient(self) -> None:
        """Requests above what is left give Insufficient cpu and/or memory."""
        n = info(node("a", cpu=1000, memory=GI), [pod("x", "600m", "512Mi", node_name="a")])
        assert resources.fits(pod("p", "400m", "512Mi"), n) == []
        assert resources.fits(pod("p", "500m"), n) == ["Insufficient cpu"]
        assert resources.fits(pod("p", memory="513Mi"), n) == ["Insufficient memory"]
        both = ["Insufficient cpu", "Insufficient memory"]
        assert resources.fits(pod("p", "2", "2Gi"), n) == both

    def test_no_request_always_fits(self) -> None:
        """A pod without requests fits even a full node, as in Kubernetes."""
        n = info(node("a", cpu=100, memory=1), [pod("x", "100m", "1", node_name="a")])
        assert resources.fits(pod("p"), n) == []

    def test_limits_count_as_requests(self) -> None:
        """Limits without requests are scheduled as requests."""
        p = pod("p", spec={"containers": [{"name": "c", "resources": {"limits": {"cpu": "2"}}}]})
        assert resources.fits(p, info(node("a", cpu=1000))) == ["Insufficient cpu"]
