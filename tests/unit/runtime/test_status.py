"""Unit tests of the container decisions and pod status (reconciler.runtime.status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.api.records import ContainerStatus
from reconciler.runtime import status
from reconciler.runtime.status import Instance
from reconciler.runtime.types import RuntimeConfig

NOW = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
CFG = RuntimeConfig()


def ended(code: int, ran: float = 1.0, ago: float = 0.0, restart: int = 0, backoff: int = 0,
          spec_hash: str = "h") -> Instance:
    finished = NOW - timedelta(seconds=ago)
    return Instance(id="x", container="c", restart=restart, backoff=backoff, init=False,
                    spec_hash=spec_hash, state="exited", exit_code=code,
                    started_at=finished - timedelta(seconds=ran), finished_at=finished)


def act(latest: Instance | None, policy: str = "Always", **kw: object) -> status.Action:
    return status.next_action(latest, spec_hash="h", policy=policy, now=NOW, config=CFG,
                              **kw)  # type: ignore[arg-type]


class TestNextAction:
    def test_missing_container_is_created(self) -> None:
        """No instance: create restart 0, or the next count when one was known."""
        assert act(None) == status.Action("create", restart=0)
        assert act(None, known_restart=4) == status.Action("create", restart=5)

    @pytest.mark.parametrize(("policy", "code", "restarts"), [
        ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False),
        ("OnFailure", 2, True), ("Never", 1, False), ("Never", 0, False),
    ])
    def test_restart_policy(self, policy: str, code: int, restarts: bool) -> None:
        """restartPolicy decides whether an ended container comes back (after its back-off)."""
        got = act(ended(code, ago=1000), policy)
        assert (got.kind == "create") is restarts

    def test_back_off_waits_then_creates(self) -> None:
        """Within the back-off: wait the remainder; after it: create with the next step."""
        assert act(ended(1, ago=4, backoff=1)) == status.Action("wait", wait=16.0)
        assert act(ended(1, ago=21, restart=2, backoff=1)) == status.Action(
            "create", restart=3, backoff=2)

    def test_back_off_resets_after_long_run(self) -> None:
        """A container that ran 10 minutes restarts after the initial delay again."""
        assert act(ended(1, ran=601, ago=11, restart=9, backoff=5)).kind == "create"
        assert act(ended(1, ran=5, ago=11, restart=9, backoff=5)).kind == "wait"

    def test_running_container(self) -> None:
        """A running container is killed when unhealthy or changed, else left alone."""
        running = Instance("x", "c", 0, 0, False, "h", "running")
        assert act(running).kind == "none"
        assert act(running, unhealthy="liveness") == status.Action("kill", why="liveness")
        assert status.next_action(running, spec_hash="new", policy="Always", now=NOW,
                                  config=CFG).why == "changed"

    def test_changed_spec_replaces_ended_container_at_once(self) -> None:
        """An ended container with an old hash is replaced without back-off."""
        assert act(ended(1, ago=0, spec_hash="old")) == status.Action("create", restart=1)

    @given(st.integers(min_value=0, max_value=100))
    def test_back_off_doubles_to_the_cap(self, step: int) -> None:
        """10 s doubling per step, never above 5 minutes."""
        delay = status.backoff_delay(step, CFG)
        assert delay == min(10.0 * 2**step, 300.0)


def cs(state: str, code: int | None = None, restarts: int = 0, ready: bool = False,
       name: str = "c") -> ContainerStatus:
    return ContainerStatus(name=name, image="i", state=state,  # type: ignore[arg-type]
                           exit_code=code, restart_count=restarts, ready=ready)


class TestPhase:
    @pytest.mark.parametrize(("inits", "containers", "phase"), [
        ([cs("running")], [cs("waiting")], "Pending"),
        ([cs("terminated", 0)], [cs("waiting")], "Pending"),
        ([], [cs("running"), cs("waiting")], "Running"),
        ([], [cs("waiting", restarts=3)], "Running"),  # CrashLoopBackOff
        ([], [cs("terminated", 0), cs("terminated", 0)], "Succeeded"),
        ([], [cs("terminated", 0), cs("terminated", 1)], "Failed"),
        ([], [cs("terminated", 1), cs("running")], "Running"),
    ])
    def test_phase(self, inits: list[ContainerStatus], containers: list[ContainerStatus],
                   phase: str) -> None:
        """Kubernetes' phase rules."""
        assert status.pod_phase(inits, containers, "Never", init_failed=False) == phase

    def test_on_failure_keeps_a_failed_pod_running(self) -> None:
        """restartPolicy OnFailure: a failed container is restarted in place, the pod Running;
        all succeeded: Succeeded."""
        assert status.pod_phase([], [cs("terminated", 1)], "OnFailure", False) == "Running"
        assert status.pod_phase([], [cs("terminated", 0)], "OnFailure", False) == "Succeeded"

    def test_failed_init_fails_the_pod(self) -> None:
        """An init container that failed under restartPolicy Never fails the pod."""
        assert status.pod_phase([cs("terminated", 1)], [cs("waiting")], "Never", True) == "Failed"

    def test_conditions(self) -> None:
        """Ready needs every container ready and the init containers done."""
        conds = status.conditions([cs("terminated", 0)], [cs("running", ready=True),
                                                          cs("running", name="b")], NOW)
        by_type = {c.type: c for c in conds}
        assert by_type["Initialized"].status and not by_type["Ready"].status
        assert by_type["Ready"].message == "containers with unready status: [b]"


class TestInstance:
    def test_from_inspect(self) -> None:
        """Labels and Docker's state (nanosecond times, zero time) become an Instance."""
        data = {"Id": "abc", "Image": "sha256:1", "Config": {"Image": "busybox", "Labels": {
            "io.reconciler.container.name": "c", "io.reconciler.container.restart": "3",
            "io.reconciler.container.backoff": "2", "io.reconciler.container.hash": "h"}},
            "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True,
                      "StartedAt": "2024-01-01T12:00:00.123456789Z",
                      "FinishedAt": "0001-01-01T00:00:00Z"}}
        got = Instance.from_inspect(data)
        assert (got.container, got.restart, got.backoff, got.exit_code) == ("c", 3, 2, 137)
        assert got.reason == "OOMKilled" and got.finished_at is None
        assert got.started_at == datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
