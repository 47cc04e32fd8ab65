"""Probes of adopted containers on a real engine: a restarted service keeps their recorded results.

A second `NodeAgent` (a fresh prober, as after `reconciler run` was restarted or
killed) syncs a pod the first one had made ready. Its first sync must report what
the record says of that very container, not "not ready until probed": that flip
emptied the service's Endpoints and the successor's proxy refused traffic for a
moment (issue 14's restart under load). The probes still run and correct a record
that is no longer true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from reconciler.api.records import PodRecord
from reconciler.runtime.types import PodEnv, PodSync
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker

SERVE = "mkdir -p /www; echo ok > /www/ready; exec httpd -f -p 9090 -h /www"


def probed_pod(name: str, **probes: dict[str, object]) -> PodRecord:
    """One busybox httpd container on 9090 with the given probes (readinessProbe=...)."""
    return make_pod(name, {"containers": [{
        "name": "web", "image": BUSYBOX, "command": ["sh", "-c", SERVE], **probes}]})


def ready(result: PodSync) -> bool:
    return bool(result.containers) and result.containers[0].ready


def recorded(pod: PodRecord, result: PodSync) -> PodRecord:
    """The pod as the store holds it after `result` was written (the pod controller's _apply)."""
    return replace(pod, containers=result.containers, init_containers=result.init_containers,
                   conditions=result.conditions, phase=result.phase)


READINESS = {"httpGet": {"path": "/ready", "port": 9090}, "periodSeconds": 1,
             "failureThreshold": 1}


class TestAdoptedProbes:
    def test_restarted_agent_keeps_recorded_ready(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """A new agent's first sync of a ready pod says Ready, for the same container."""
        first = harness_factory()
        pod = probed_pod("adopt", readinessProbe=READINESS)
        before = first.converge(pod, ready, timeout=30)
        first.agent.close()  # the service is gone; the container runs on
        second = harness_factory()
        after = second.agent.sync_pod(recorded(pod, before), PodEnv())
        assert after.containers[0].container_id == before.containers[0].container_id
        assert after.containers[0].ready
        assert [c.status for c in after.conditions if c.type == "Ready"] == [True]

    def test_restarted_agent_without_record_waits_for_a_probe(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """Nothing recorded of this container (a new one): not ready until its probe passes."""
        first = harness_factory()
        pod = probed_pod("norecord", readinessProbe=READINESS)
        before = first.converge(pod, ready, timeout=30)
        first.agent.close()
        second = harness_factory()
        after = second.agent.sync_pod(pod, PodEnv())  # no container statuses recorded
        assert after.containers[0].container_id == before.containers[0].container_id
        assert not after.containers[0].ready
        second.converge(pod, ready, timeout=30)

    def test_recorded_not_ready_stays_not_ready(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """A container recorded not ready is not made ready by the restart."""
        first = harness_factory()
        pod = probed_pod("unready", readinessProbe=READINESS)
        first.converge(pod, ready, timeout=30)
        first.agent.exec(pod.uid, "web", ["sh", "-c", "rm /www/ready"])
        before = first.converge(pod, lambda r: not ready(r), timeout=30)
        first.agent.close()
        second = harness_factory()
        after = second.agent.sync_pod(recorded(pod, before), PodEnv())
        assert not after.containers[0].ready

    def test_stale_record_is_corrected_by_the_probe(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """Recorded ready, failing now: the probes run and turn it not ready."""
        first = harness_factory()
        pod = probed_pod("stale", readinessProbe=READINESS)
        before = first.converge(pod, ready, timeout=30)
        first.agent.close()
        second = harness_factory()
        second.agent.exec(pod.uid, "web", ["sh", "-c", "rm /www/ready"])
        record = recorded(pod, before)
        second.converge(record, lambda r: not ready(r), timeout=30)
        assert pod.uid in second.changed  # the flip was reported, so the loop requeues it

    def test_recorded_started_keeps_the_startup_gate_open(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """A startup probe recorded passed is not re-run before readiness counts again."""
        first = harness_factory()
        # The startup probe passes once (the file is removed by the container's first
        # probe run); a new prober that re-ran it would never open the gate.
        pod = probed_pod(
            "started", readinessProbe=READINESS,
            startupProbe={"exec": {"command": ["sh", "-c", "rm /www/ready.once"]},
                          "periodSeconds": 1, "failureThreshold": 100})
        first.converge(pod, lambda r: bool(r.containers) and r.containers[0].state == "running")
        first.agent.exec(pod.uid, "web", ["sh", "-c", "touch /www/ready.once"])
        before = first.converge(pod, ready, timeout=30)
        assert before.containers[0].started
        first.agent.close()
        second = harness_factory()
        after = second.agent.sync_pod(recorded(pod, before), PodEnv())
        assert after.containers[0].started and after.containers[0].ready


class TestIdleProber:
    def test_an_idle_prober_probes_what_it_is_given_and_stops_on_close(
        self, harness_factory: Callable[..., Harness]
    ) -> None:
        """A prober with nothing to probe sleeps; a container tracked later is probed, and
        close() ends its thread once nothing is tracked any more."""
        h = harness_factory()
        pod = probed_pod("idle", readinessProbe=READINESS)
        h.converge(pod, ready, timeout=30)  # probed: the readiness probe passed
        h.agent.prober.forget_pod(pod.uid)
        h.agent.close()
        thread = h.agent.prober._thread
        thread.join(30)
        assert not thread.is_alive()
