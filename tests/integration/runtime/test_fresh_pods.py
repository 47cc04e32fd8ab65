"""A pod this agent never synced, with no sandbox start on record, is not listed before its first
sandbox is made (agent.py `_sync`, `fresh`); what a process that did not live to record its
work left on the host is found through the sandbox's name being taken, never made twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reconciler.api.records import PodRecord
from reconciler.runtime import naming
from reconciler.runtime.types import PodEnv, PodSync
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker

SLEEPER = {"name": "main", "image": BUSYBOX, "command": ["sleep", "3600"]}


def _containers(h: Harness, pod: PodRecord) -> list[dict[str, Any]]:
    """The pod's containers on the engine, any state."""
    return h.agent.engine.api.containers(
        all=True, filters={"label": f"{naming.POD_UID}={pod.uid}"})


def _running(r: PodSync) -> bool:
    return bool(r.containers) and r.containers[0].state == "running"


class TestFreshPods:
    def test_a_crash_after_the_first_sync_makes_nothing_twice(
            self, harness_factory: Callable[..., Harness]) -> None:
        """The pod ran, but its status was never written (the process died): the next
        process's agent finds the sandbox's name taken, looks, and adopts both containers."""
        first, second = harness_factory(), harness_factory()
        pod = make_pod("crashed", {"containers": [SLEEPER]})
        assert _running(first.agent.sync_pod(pod, PodEnv()))
        before = {c["Id"] for c in _containers(first, pod)}
        assert len(before) == 2
        second.converge(pod, _running)  # the record still has no start time
        assert {c["Id"] for c in _containers(second, pod)} == before
        reasons = second.reasons()  # of every sync it took
        assert "FailedCreatePodSandBox" not in reasons and "SandboxChanged" not in reasons

    def test_a_sandbox_created_but_never_started_is_made_again_once(
            self, harness_factory: Callable[..., Harness]) -> None:
        """A process died between the sandbox's create and its start: the next one finds
        the name taken, removes that sandbox and runs the pod on one new sandbox."""
        first, second = harness_factory(), harness_factory()
        pod = make_pod("half", {"containers": [SLEEPER]})
        first.agent.builder.ensure_infra_image()
        first.agent.builder.create_infra(pod, PodEnv(), 0)
        second.converge(pod, _running)
        assert "FailedCreatePodSandBox" not in second.reasons()
        infras = [c for c in _containers(second, pod)
                  if c["Labels"].get(naming.CONTAINER) == naming.INFRA]
        assert len(infras) == 1 and infras[0]["State"] == "running"
        assert len(_containers(second, pod)) == 2

    def test_a_pod_with_a_recorded_start_is_listed(self, harness: Harness) -> None:
        """A record that says a sandbox started (a pod of an earlier process) is never
        taken for new: its containers are looked at, not made again."""
        pod = make_pod("known", {"containers": [SLEEPER]})
        result = harness.converge(pod, _running)
        ids = {c["Id"] for c in _containers(harness, pod)}
        pod.start_time = result.start_time
        restarted = Harness(agent=type(harness.agent)(
            harness.agent.node, harness.agent.config, lambda uid: None))
        try:
            assert _running(restarted.agent.sync_pod(pod, PodEnv()))
            assert {c["Id"] for c in _containers(restarted, pod)} == ids
            made = restarted.agent.engine.requests
            assert not any(k.startswith("POST /containers/create") for k in made), made
        finally:
            restarted.agent.close()
