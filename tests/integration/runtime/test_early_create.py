"""A new pod's app containers are created while its sandbox starts (agent.py `_create_early`)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.api.records import PodRecord
from reconciler.runtime import naming
from reconciler.runtime.types import HostUnreachable, PodEnv
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker

SLEEPER = {"name": "main", "image": BUSYBOX, "command": ["sleep", "3600"]}


def _apps(h: Harness, pod: PodRecord) -> list[dict[str, Any]]:
    """The pod's app containers on the engine, any state."""
    found = h.agent.engine.api.containers(
        all=True, filters={"label": f"{naming.POD_UID}={pod.uid}"})
    return [c for c in found if c["Labels"].get(naming.CONTAINER) != naming.INFRA]


def _hold_start(h: Harness, pod: PodRecord, seen: list[int]) -> None:
    """Before the sandbox starts, wait (up to 10 s) for the app containers to exist."""
    start = h.agent.builder.start_infra

    def held(p: PodRecord, cid: str) -> None:
        deadline = time.monotonic() + 10
        while not _apps(h, pod) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.append(len(_apps(h, pod)))
        start(p, cid)

    h.agent.builder.start_infra = held  # type: ignore[method-assign]


@contextlib.contextmanager
def _port_taken() -> Iterator[int]:
    """A TCP port some other process listens on, on every address."""
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        yield int(s.getsockname()[1])


class TestEarlyCreate:
    def test_the_app_container_exists_before_the_sandbox_starts(self, harness: Harness) -> None:
        """The first sync creates the app container beside the sandbox's start, and runs it."""
        pod = make_pod("early", {"containers": [SLEEPER]})
        seen: list[int] = []
        _hold_start(harness, pod, seen)
        result = harness.agent.sync_pod(pod, PodEnv())
        assert seen == [1]
        assert result.containers[0].state == "running"
        assert [c["State"] for c in _apps(harness, pod)] == ["running"]

    def test_a_container_that_needs_the_pod_ip_waits_for_the_sandbox(
            self, harness: Harness) -> None:
        """An env of status.podIP is created after the sandbox runs, with the pod's address."""
        c = {**SLEEPER, "env": [{"name": "MY_IP",
                                 "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}
        pod = make_pod("early-ip", {"containers": [c]})
        seen: list[int] = []
        _hold_start(harness, pod, seen)
        result = harness.agent.sync_pod(pod, PodEnv())
        assert seen == [0]
        env = harness.agent.engine.api.inspect_container(
            _apps(harness, pod)[0]["Id"])["Config"]["Env"]
        assert result.pod_ip and f"MY_IP={result.pod_ip}" in env

    def test_an_early_container_of_a_sandbox_that_failed_is_removed(
            self, harness: Harness) -> None:
        """When the sandbox cannot start (its host port is taken), no app container is left."""
        with _port_taken() as port:
            c = {**SLEEPER, "ports": [{"containerPort": 80, "hostPort": port}]}
            pod = make_pod("early-fail", {"containers": [c]})
            seen: list[int] = []
            _hold_start(harness, pod, seen)
            result = harness.agent.sync_pod(pod, PodEnv())
        assert seen == [1]
        assert "FailedCreatePodSandBox" in [e.reason for e in result.events]
        assert _apps(harness, pod) == []

    def test_a_sync_cut_before_the_sandbox_started_leaves_no_restart(
            self, harness: Harness) -> None:
        """The engine fails at the sandbox's start after the early create: the next sync
        makes the sandbox again and runs the app as its first run (restart count 0), and no
        app container is made early for the sandbox made again."""
        pod = make_pod("early-cut", {"containers": [SLEEPER]})
        start = harness.agent.builder.start_infra
        seen: list[int] = []

        def cut(p: PodRecord, cid: str) -> None:
            seen.append(len(_apps(harness, pod)))
            if len(seen) == 1:
                deadline = time.monotonic() + 10
                while not _apps(harness, pod) and time.monotonic() < deadline:
                    time.sleep(0.05)
                raise HostUnreachable("engine gone for a moment")
            start(p, cid)

        def unreachable(cid: str, grace: int) -> None:
            raise HostUnreachable("engine gone for a moment")

        harness.agent.builder.start_infra = cut  # type: ignore[method-assign]
        remove = harness.agent._remove
        harness.agent._remove = unreachable  # type: ignore[method-assign]
        with pytest.raises(HostUnreachable):
            harness.agent.sync_pod(pod, PodEnv())
        harness.agent._remove = remove  # type: ignore[method-assign]
        assert [c["State"] for c in _apps(harness, pod)] == ["created"]  # left by the cut
        result = harness.agent.sync_pod(pod, PodEnv())
        assert seen[1] == 0  # the early container went with the first sandbox; none again
        assert result.containers[0].state == "running"
        assert result.containers[0].restart_count == 0
        assert [c["State"] for c in _apps(harness, pod)] == ["running"]
