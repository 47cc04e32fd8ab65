"""Nodes run by their own agent (`spec.agent`): the record's engine URL, the stand-in host, the
stop report, and the schema accepting the flag."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from reconciler.api.records import Condition, NodeRecord, PodRecord
from reconciler.control.nodes import node_from_object
from reconciler.manifests import fastcheck
from reconciler.runtime import agent_node
from reconciler.runtime.port import docker_agent
from reconciler.runtime.types import HostUnreachable, PodEnv, RuntimeConfig

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
