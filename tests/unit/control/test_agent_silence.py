"""The control plane's judgement of an agent-run node's silence (control/nodes.py): by how
long, on its own monotonic clock, the agent's `last_heartbeat` has not changed; never by
comparing the agent's stamp (the database's clock) with this machine's clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.api.records import Condition, NodeRecord, PodRecord
from reconciler.control.context import POD, Context, Settings
from reconciler.control.loop import WorkKey
from reconciler.control.nodes import NODE_LOST, NodeController
from reconciler.control.pods import PodController
from reconciler.control.queue import WorkQueue
from reconciler.runtime.types import RuntimeConfig
from reconciler.store import Store

HOUR = timedelta(hours=1)


class Harness:
    """A node controller on a SQLite store, its monotonic clock in the test's hands."""

    def __init__(self, tmp: Path) -> None:
        self.store = Store.open(str(tmp / "state.db"))
        self.ctx = Context(store=self.store, queue=WorkQueue(),
                           runtime=RuntimeConfig(volumes_dir=str(tmp / "volumes")),
                           settings=Settings(desired=str(tmp), heartbeat_interval=1,
                                             not_ready_timeout=4, eviction_timeout=10))
        self.nodes = NodeController(self.ctx)
        self.now = 1000.0
        self.nodes.monotonic = lambda: self.now
        self.stamp: datetime | None = None

    def agent_beats(self, skew: timedelta) -> None:
        """The agent posts a heartbeat stamped by a clock `skew` away from this machine's."""
        node = self.store.get_node("far") or NodeRecord(
            name="far", engine_url="agent+unix:///var/run/docker.sock",
            created_at=datetime.now(UTC))
        stamp = datetime.now(UTC) + skew
        if self.stamp is not None and stamp <= self.stamp:
            stamp = self.stamp + timedelta(microseconds=1)
        self.stamp = stamp
        node.ready, node.reason, node.last_heartbeat = True, "KubeletReady", stamp
        self.store.upsert_node(node)

    def judge(self, after: float) -> NodeRecord:
        """`after` seconds later here, the control plane's look at the node."""
        self.now += after
        node = self.store.get_node("far")
        assert node is not None
        self.nodes._heartbeat(node)
        node = self.store.get_node("far")
        assert node is not None
        return node

    def add_pod(self) -> None:
        self.store.upsert_pod(PodRecord(uid="u1", namespace="default", name="p1", spec={},
                                        spec_hash="h", created_at=datetime.now(UTC),
                                        node_name="far", phase="Running"))

    def pod(self) -> PodRecord:
        pod = self.store.get_pod_by_uid("u1")
        assert pod is not None
        return pod


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.store.close()


@pytest.mark.parametrize("skew", [HOUR, -HOUR, timedelta(0)], ids=["ahead", "behind", "same"])
def test_a_posting_agent_stays_ready_whatever_its_clock(h: Harness, skew: timedelta) -> None:
    """An agent stamping every second stays Ready and keeps its pods, its clock an hour off."""
    h.add_pod()
    for _ in range(15):
        h.agent_beats(skew)
        node = h.judge(1.0)
        assert node.ready, node.message
    assert h.pod().deletion_timestamp is None


@pytest.mark.parametrize("skew", [HOUR, -HOUR, timedelta(0)], ids=["ahead", "behind", "same"])
def test_a_silent_agent_is_not_ready_then_evicted(h: Harness, skew: timedelta) -> None:
    """A stamp that stops changing is silence after not_ready_timeout, eviction after
    eviction_timeout, whatever the stamp says (an hour ahead hides nothing)."""
    h.add_pod()
    h.agent_beats(skew)
    assert h.judge(0.0).ready
    assert h.judge(3.0).ready
    node = h.judge(2.0)
    assert not node.ready and node.reason == "NodeStatusUnknown"
    assert h.pod().deletion_timestamp is None
    h.judge(6.0)
    assert h.pod().deletion_timestamp is not None and h.pod().reason == NODE_LOST


def test_silence_counts_from_this_process_start(h: Harness) -> None:
    """A stamp first read here counts from now (the grace period of a start or takeover)."""
    h.add_pod()
    h.agent_beats(-2 * HOUR)  # a stamp long past: the agent may have just been silent
    assert h.judge(0.0).ready
    assert not h.judge(5.0).ready
    assert h.pod().deletion_timestamp is None


def test_deleted_pod_of_a_silent_agent_node_goes_once_evicted(h: Harness) -> None:
    """A pod being deleted on a NotReady agent-run node, its stamp an hour old, keeps its
    record (its agent may still run it) until the node controller judged it lost."""
    h.add_pod()
    h.agent_beats(-HOUR)
    h.judge(0.0)
    assert not h.judge(5.0).ready
    pod = h.pod()
    pod.deletion_timestamp = datetime.now(UTC) - HOUR
    h.store.patch_pod(pod, "deletion")
    pods = PodController(h.ctx)
    pods.reconcile(WorkKey(POD, "u1"))
    assert h.store.get_pod_by_uid("u1") is not None
    h.judge(6.0)
    assert h.pod().reason == NODE_LOST
    pods.reconcile(WorkKey(POD, "u1"))
    assert h.store.get_pod_by_uid("u1") is None


def test_control_plane_evicts_for_an_agent_nodes_taint(h: Harness) -> None:
    """A NoExecute taint of an agent-run node evicts its pods from the control plane."""
    h.add_pod()
    h.agent_beats(timedelta(0))
    node = h.store.get_node("far")
    assert node is not None
    node.taints = [{"key": "k", "value": "v", "effect": "NoExecute"}]
    h.store.upsert_node(node)
    h.judge(0.0)
    assert h.pod().deletion_timestamp is not None and h.pod().reason == "TaintManagerEviction"


def test_control_plane_marks_pods_when_the_agent_reports_not_ready(h: Harness) -> None:
    """The agent reports its engine unreachable: the control plane marks its pods not ready."""
    h.add_pod()
    pod = h.pod()
    pod.conditions = [Condition("Ready", True, "", "", datetime.now(UTC))]
    h.store.patch_pod(pod, "status")
    h.agent_beats(timedelta(0))
    assert h.judge(0.0).ready
    node = h.store.get_node("far")
    assert node is not None
    node.ready, node.reason = False, "NodeUnreachable"
    h.store.report_node(node, ("ready", "reason"))
    h.judge(1.0)
    assert not h.pod().ready and h.pod().deletion_timestamp is None


def test_a_heartbeat_after_the_read_wins_over_not_ready(h: Harness) -> None:
    """The agent beats between the control plane's read and its NotReady write: still Ready."""
    h.agent_beats(timedelta(0))
    assert h.judge(0.0).ready
    h.now += 5.0  # past not_ready_timeout (4 s) as seen here
    read = h.store.get_node("far")
    assert read is not None
    h.agent_beats(timedelta(0))  # lands after the control plane's read
    h.nodes._heartbeat(read)
    node = h.store.get_node("far")
    assert node is not None and node.ready and node.reason == "KubeletReady"
    assert h.judge(1.0).ready  # and the next look sees the new stamp: not silent
