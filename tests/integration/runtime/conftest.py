"""Fixtures for the runtime driver's integration tests: agents on real engines, and `converge`.

`converge` stands in for the control loop (written elsewhere): it calls
`sync_pod` until a condition holds or a deadline passes, waiting what the sync
asked (`requeue_after`) or until `on_change` fires, as the loop would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.runtime.agent import NodeAgent
from reconciler.runtime.engine import Engine
from reconciler.runtime.types import PodEnv, PodEvent, PodSync, RuntimeConfig
from tests.conftest import LOCAL_URL, TEST_LABEL

BUSYBOX = "reconciler/busybox:1"


@dataclass
class Harness:
    """An agent plus what its on_change reported, and every event its syncs returned."""

    agent: NodeAgent
    changed: list[str] = field(default_factory=list)
    events: list[PodEvent] = field(default_factory=list)
    wake: threading.Event = field(default_factory=threading.Event)

    def on_change(self, uid: str) -> None:
        self.changed.append(uid)
        self.wake.set()

    def converge(self, pod: PodRecord, until: Callable[[PodSync], bool], timeout: float = 30.0,
                 env: PodEnv | None = None) -> PodSync:
        """sync_pod until `until(result)` holds; fail with the last result after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            self.wake.clear()
            result = self.agent.sync_pod(pod, env or PodEnv())
            self.events.extend(result.events)
            if until(result):
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not converged in {timeout}s: {result}")
            wait = 0.3 if result.requeue_after is None else min(result.requeue_after, 0.3)
            self.wake.wait(min(max(wait, 0.05), left))

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]


def make_pod(name: str, spec: dict[str, Any], **kw: Any) -> PodRecord:
    """A PodRecord with a fresh uid, restartPolicy Always unless the spec says otherwise."""
    uid = uuid.uuid4().hex[:12]
    spec = {"restartPolicy": "Always", **spec}
    return PodRecord(uid=uid, namespace="default", name=name, spec=spec, spec_hash=uid,
                     created_at=datetime.now(UTC), **kw)


def node(name: str = "local", url: str = LOCAL_URL, address: str = "") -> NodeRecord:
    return NodeRecord(name=name, engine_url=url, created_at=datetime.now(UTC), address=address)


@pytest.fixture
def local(test_prefix: str) -> Iterator[Engine]:
    """An engine client of the local host under this test's prefix, closed after."""
    e = Engine(node(), RuntimeConfig(prefix=test_prefix))
    yield e
    e.close()


@pytest.fixture
def config(test_prefix: str, local_images: None) -> RuntimeConfig:
    """A config of this test's own prefix and test label, with a 1 s crash-loop back-off."""
    return RuntimeConfig(prefix=test_prefix, extra_labels={TEST_LABEL: "1"},
                         backoff_initial=1.0, backoff_max=8.0, stop_timeout=2)


@pytest.fixture
def harness_factory(config: RuntimeConfig) -> Iterator[Callable[..., Harness]]:
    """Build harnesses (agent + on_change record) on any node; closed after the test."""
    made: list[Harness] = []

    def make(n: NodeRecord | None = None, **overrides: Any) -> Harness:
        h = Harness(agent=None)  # type: ignore[arg-type]
        h.agent = NodeAgent(n or node(), replace(config, **overrides), h.on_change)
        made.append(h)
        return h

    yield make
    for h in made:
        h.agent.close()


@pytest.fixture
def harness(harness_factory: Callable[..., Harness]) -> Harness:
    """A harness on the local engine."""
    return harness_factory()
