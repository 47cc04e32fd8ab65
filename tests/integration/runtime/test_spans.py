"""A pod's first start on a real engine: its spans, and the Docker requests it costs."""

from __future__ import annotations

from collections import Counter

import pytest

from reconciler.runtime import spans
from reconciler.runtime.types import PodEnv
from tests.integration.runtime.conftest import BUSYBOX, Harness, make_pod

pytestmark = pytest.mark.docker

SLEEPER = {"name": "main", "image": BUSYBOX, "command": ["sleep", "3600"]}
AGENT_SPANS = ("list", "volumes", "sandbox_create", "sandbox_start", "sandbox_inspect",
               "image_check", "app_create", "app_start", "app_inspect")


def _requests(h: Harness) -> Counter[str]:
    """The engine's request counts so far, ids folded: "GET /containers/{id}/json"."""
    out: Counter[str] = Counter()
    for key, n in h.agent.engine.requests.items():
        method, _, path = key.partition(" ")
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] in ("containers", "images"):
            parts = [parts[0], "{id}", parts[-1]]
        out[f"{method} /{'/'.join(parts)}"] += n
    return out


class TestFirstStartSpans:
    def test_every_step_of_a_first_start_is_timed(self, harness: Harness) -> None:
        """One sync of a new pod inside a trace records each agent step, all of it positive."""
        pod = make_pod("spans", {"containers": [SLEEPER]})
        spans.begin(pod.uid)
        result = harness.agent.sync_pod(pod, PodEnv())
        got = spans.end(pod.uid, "status_write")
        assert result.containers[0].state == "running"
        assert got is not None
        assert set(AGENT_SPANS) <= set(got)
        assert all(got[s] >= 0 for s in AGENT_SPANS)
        assert got["total"] >= sum(got[s] for s in AGENT_SPANS)

    def test_a_new_pod_is_not_listed_and_each_container_inspected_once(
            self, harness: Harness) -> None:
        """A new pod's first sync: no list, one create/start/inspect per container; its
        next sync lists it."""
        harness.agent.builder.ensure_infra_image()
        before = _requests(harness)
        pod = make_pod("calls", {"containers": [SLEEPER]})
        harness.agent.sync_pod(pod, PodEnv())
        made = _requests(harness) - before
        assert made["GET /containers/json"] == 0
        assert made["POST /containers/create"] == 2
        assert made["POST /containers/{id}/start"] == 2
        assert made["GET /containers/{id}/json"] == 2
        before = _requests(harness)
        harness.agent.sync_pod(pod, PodEnv())
        assert (_requests(harness) - before)["GET /containers/json"] == 1

    def test_an_image_seen_present_is_not_inspected_again(self, harness: Harness) -> None:
        """The second pod of an image, soon after the first, costs no image inspect."""
        harness.converge(make_pod("img-a", {"containers": [SLEEPER]}),
                         lambda r: r.containers[0].state == "running")
        before = _requests(harness)
        second = harness.agent.sync_pod(make_pod("img-b", {"containers": [SLEEPER]}), PodEnv())
        assert second.containers[0].state == "running"
        assert (_requests(harness) - before)["GET /images/{id}/json"] == 0
        assert "Pulled" in [e.reason for e in second.events]
