"""Nodes run by their own agent (`spec.agent`): the record's engine URL, the stand-in host, the
stop report, the schema accepting the flag, and the agent's node part (service/agent_node.py)
on a SQLite store with a fake engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from reconciler.api.records import Condition, NodeRecord, PodRecord
from reconciler.control.context import NODE_GC, POD
from reconciler.control.loop import WorkKey
from reconciler.control.nodes import node_from_object
from reconciler.manifests import fastcheck
from reconciler.runtime import agent_node
from reconciler.runtime.fake import FakeHosts
from reconciler.runtime.port import docker_agent
from reconciler.runtime.types import HostUnreachable, PodEnv, RuntimeConfig
from reconciler.service.agent_node import NodeRun, load_agent_config, serve_node
from reconciler.store import Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def node_body(**spec: object) -> dict[str, object]:
    return {"apiVersion": "reconciler.dev/v1", "kind": "Node", "metadata": {"name": "far"},
            "spec": {"engine": "unix:///var/run/docker.sock", **spec}}


def test_agent_flag_marks_the_record_and_keeps_the_local_url() -> None:
    """`agent: true` is kept as the `agent+` scheme; the machine's own URL comes back out."""
    node = node_from_object(node_body(agent=True), None, NOW)
    assert node.engine_url == "agent+unix:///var/run/docker.sock"
    assert agent_node.by_agent(node)
    assert agent_node.local_url(node) == "unix:///var/run/docker.sock"
    plain = node_from_object(node_body(), None, NOW)
    assert plain.engine_url == "unix:///var/run/docker.sock" and not agent_node.by_agent(plain)


def test_flag_removed_returns_the_node_to_the_control_plane() -> None:
    """A manifest that drops `agent` gives the record its plain engine URL again."""
    first = node_from_object(node_body(agent=True), None, NOW)
    again = node_from_object(node_body(agent=False), first, NOW)
    assert again.engine_url == "unix:///var/run/docker.sock"


def test_control_plane_gets_a_host_that_never_dials() -> None:
    """The control plane's agent of such a node answers every engine call unreachable."""
    node = NodeRecord(name="far", engine_url="agent+tcp://10.0.0.3:2376", created_at=NOW)
    host = docker_agent(node, RuntimeConfig(), lambda uid: None)
    assert isinstance(host, agent_node.AgentOnlyHost)
    pod = PodRecord(uid="u", name="p", namespace="default", spec={}, spec_hash="h",
                    created_at=NOW)
    for call in (host.heartbeat, lambda: host.list_pods(), lambda: host.sync_pod(pod, PodEnv()),
                 lambda: host.kill_pod("u", 0), lambda: host.remove_volume("v")):
        with pytest.raises(HostUnreachable, match="agent"):
            call()
    stop = threading.Event()
    stop.set()
    host.watch(stop)  # returns once stopped, having followed nothing


def test_stopped_by_agent_needs_the_condition_true() -> None:
    """Only a true ContainersStopped condition lets the control plane remove the record."""
    pod = PodRecord(uid="u", name="p", namespace="default", spec={}, spec_hash="h",
                    created_at=NOW)
    assert not agent_node.stopped_by_agent(pod)
    pod.conditions = [Condition(agent_node.STOPPED, False, "", "", NOW)]
    assert not agent_node.stopped_by_agent(pod)
    pod.conditions = [Condition(agent_node.STOPPED, True, "Killing", "", NOW)]
    assert agent_node.stopped_by_agent(pod)


def test_node_schema_accepts_agent_boolean_only() -> None:
    """The Node schema takes `agent: true` and refuses a non-boolean."""
    check = fastcheck.checker("node.json")
    assert check(node_body(agent=True))
    assert not check(node_body(agent="yes"))


AGENT_URL = "agent+unix:///var/run/docker.sock"


@pytest.fixture
def run(tmp_path: Path) -> Iterator[NodeRun]:
    """The node part of node `far` (agent-run, two pods bound) on a SQLite store, its engine
    a fake; not started: the test calls `tick` itself."""
    state = str(tmp_path / "state.db")
    store = Store.open(state)
    store.upsert_node(NodeRecord(name="far", engine_url=AGENT_URL, created_at=NOW))
    for uid in ("u1", "u2"):
        store.upsert_pod(PodRecord(uid=uid, namespace="default", name=uid, spec={},
                                   spec_hash="h", created_at=NOW, node_name="far"))
    node_run = NodeRun(store, "far", load_agent_config(None, state))
    node_run.ctx.agent_factory = FakeHosts()
    try:
        yield node_run
    finally:
        store.close()


def queued(node_run: NodeRun) -> set[WorkKey]:
    """Every key waiting in the node part's queue (taken out)."""
    keys = set()
    while (key := node_run.ctx.queue.get(timeout=0)) is not None:
        keys.add(key)
        node_run.ctx.queue.done(key)
    return keys


class TestNodeRunReads:
    def test_failed_read_keeps_the_node_then_requeues_everything(
            self, run: NodeRun, monkeypatch: pytest.MonkeyPatch) -> None:
        """A failed read of the node's record is no `agent: false`: the events watch and
        the engine's agent stay; the first good read requeues the gc and every pod."""
        monkeypatch.setattr(run, "_beat", lambda node: None)
        run.tick()
        assert run.active
        watch, engine = (run.ctx._watches or {}).get("far"), run.ctx.agents().get("far")
        assert watch is not None and engine is not None
        queued(run)
        read = run.store.get_node

        def fails(name: str) -> NodeRecord | None:
            raise OSError("connection refused")
        monkeypatch.setattr(run.store, "get_node", fails)
        run.tick()
        run.tick()
        assert run.active and not watch.is_set() and run.ctx.agents().get("far") is engine
        run._seen = {"u1": False, "u2": False}
        monkeypatch.setattr(run.store, "get_node", read)
        run.tick()
        assert run.active and not watch.is_set()
        assert queued(run) >= {WorkKey(NODE_GC, "far"), WorkKey(POD, "u1"), WorkKey(POD, "u2")}
        assert run._seen == {}

    def test_record_no_longer_agent_run_leaves_the_node(
            self, run: NodeRun, monkeypatch: pytest.MonkeyPatch) -> None:
        """A record read that says `agent: false` stops the watch and drops the engine."""
        monkeypatch.setattr(run, "_beat", lambda node: None)
        run.tick()
        watch = (run.ctx._watches or {}).get("far")
        assert watch is not None
        node = run.store.get_node("far")
        assert node is not None
        node.engine_url = "unix:///var/run/docker.sock"
        run.store.upsert_node(node)
        run.tick()
        assert not run.active and watch.is_set() and "far" not in run.ctx.agents()


class TestNodeRunHeartbeat:
    def read(self, run: NodeRun) -> NodeRecord:
        node = run.store.get_node("far")
        assert node is not None
        return node

    def test_heartbeat_never_brings_back_a_removed_node(self, run: NodeRun) -> None:
        """A heartbeat of a record read before the control plane removed it inserts nothing."""
        node = self.read(run)
        run.store.delete_node("far")
        run._beat(node)
        assert run.store.get_node("far") is None and run.heartbeats == 0

    def test_heartbeat_keeps_the_declared_fields_written_meanwhile(self, run: NodeRun) -> None:
        """A cordon, labels and taints written after the agent's read stay; the engine's
        facts and its own labels are written."""
        stale = self.read(run)
        node = self.read(run)
        node.unschedulable, node.labels = True, {"zone": "two"}
        node.taints = [{"key": "k", "value": "v", "effect": "NoSchedule"}]
        run.store.upsert_node(node)
        run._beat(stale)
        after = self.read(run)
        assert after.unschedulable and after.taints == node.taints
        assert after.labels["zone"] == "two" and after.labels["kubernetes.io/hostname"] == "far"
        assert after.ready and after.last_heartbeat is not None and after.capacity.memory > 0

    def test_heartbeat_leaves_a_node_no_longer_agent_run(self, run: NodeRun) -> None:
        """After the manifest dropped `agent: true`, a heartbeat read before writes nothing."""
        stale = self.read(run)
        node = self.read(run)
        node.engine_url = agent_node.local_url(node)
        run.store.upsert_node(node)
        run._beat(stale)
        after = self.read(run)
        assert after.engine_url == "unix:///var/run/docker.sock"
        assert after.last_heartbeat is None and not after.ready

    def test_agent_makes_no_eviction_decision(self, run: NodeRun) -> None:
        """Neither a NoExecute taint nor its engine silent for long makes the agent evict
        or mark its pods not ready: the control plane decides."""
        node = self.read(run)
        node.taints = [{"key": "k", "value": "v", "effect": "NoExecute"}]
        node.ready, node.last_heartbeat = True, NOW
        run.store.upsert_node(node)
        pod = run.store.get_pod_by_uid("u1")
        assert pod is not None
        pod.conditions = [Condition("Ready", True, "", "", NOW)]
        run.store.patch_pod(pod, "status")
        run._beat(self.read(run))
        hosts = run.ctx.agent_factory
        assert isinstance(hosts, FakeHosts)
        hosts.agents["far"].down = True
        run._answered = time.monotonic() - 3600  # its engine silent for an hour
        run._beat(self.read(run))
        pods = run.store.list_pods(node="far")
        assert all(p.deletion_timestamp is None for p in pods)
        assert next(p for p in pods if p.uid == "u1").ready
        after = self.read(run)
        assert not after.ready and after.reason == "NodeUnreachable"


def test_feed_queues_a_gc_when_a_pod_leaves(run: NodeRun) -> None:
    """A pod record gone from the node (deleted: evicted) queues a node-gc at once; a pod
    that only changed queues itself."""
    pods = run.store.list_pods(node="far", containers=False)
    run._compare(pods)
    assert queued(run) == {WorkKey(POD, "u1"), WorkKey(POD, "u2")}
    run._compare(pods[:1])
    assert queued(run) == {WorkKey(NODE_GC, "far")}
    pods[0].deletion_timestamp = NOW
    run._compare(pods[:1])
    assert queued(run) == {WorkKey(POD, pods[0].uid)}


class TestServeNode:
    def test_a_store_failing_as_the_node_part_starts_is_waited_out(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The store failing at the node part's first read (a partition as it starts): it
        waits for the store and starts, instead of ending the agent with its data plane."""
        state = str(tmp_path / "state.db")
        Store.open(state).close()
        real = Store.cluster_id
        outage = [OperationalError("SELECT id FROM cluster", {},
                                   Exception("connection timeout expired"))]

        def cluster_id(store: Store) -> str:
            if outage:
                raise outage.pop()
            return real(store)

        monkeypatch.setattr(Store, "cluster_id", cluster_id)
        stop = threading.Event()
        started: list[NodeRun] = []
        errors: list[BaseException] = []

        def on_start(run: NodeRun) -> None:
            started.append(run)
            stop.set()

        def body() -> None:
            try:
                serve_node("far", state, None, None, stop, started=on_start)
            except BaseException as e:  # the agent's thread would have ended the agent
                errors.append(e)

        thread = threading.Thread(target=body)
        thread.start()
        thread.join(60)
        stop.set()
        assert not thread.is_alive()
        assert errors == [] and len(started) == 1 and outage == []
