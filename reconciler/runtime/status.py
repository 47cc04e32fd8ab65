"""What to do next with one container, and what the pod's status is (pure, no Docker).

The decision half of `sync_pod` (agent.py): given the inspected instances of a
container (one Docker container per restart), the restart policy, the probe
verdicts and the clock, say whether to create, start, kill or wait, and build
the Kubernetes-shaped ContainerStatus, phase and conditions. Restart counts and
the crash-loop back-off step live in the instances' labels, so the same inputs
give the same answer after a service restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from reconciler.api.records import Condition, ContainerStatus, PodPhase
from reconciler.runtime import naming
from reconciler.runtime.types import RuntimeConfig


def parse_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 timestamps (nanoseconds, `Z`); None for the zero time."""
    if not value or value.startswith("0001-"):
        return None
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class Instance:
    """One Docker container of a pod container (one per restart), as inspect reports it."""

    id: str
    container: str
    restart: int
    backoff: int
    init: bool
    spec_hash: str
    state: str  # created, running, exited, dead, restarting, paused
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    oom: bool = False
    error: str = ""
    image: str = ""
    image_id: str = ""

    @classmethod
    def from_inspect(cls, data: dict[str, Any]) -> Instance:
        labels: dict[str, str] = (data.get("Config") or {}).get("Labels") or {}
        state = data.get("State") or {}
        return cls(
            id=data["Id"],
            container=labels.get(naming.CONTAINER, ""),
            restart=int(labels.get(naming.RESTART, "0") or 0),
            backoff=int(labels.get(naming.BACKOFF, "0") or 0),
            init=labels.get(naming.INIT) == "true",
            spec_hash=labels.get(naming.HASH, ""),
            state=str(state.get("Status", "")),
            exit_code=state.get("ExitCode") if state.get("Status") in ("exited", "dead") else None,
            started_at=parse_time(state.get("StartedAt")),
            finished_at=parse_time(state.get("FinishedAt")),
            oom=bool(state.get("OOMKilled")),
            error=str(state.get("Error") or ""),
            image=str((data.get("Config") or {}).get("Image", "")),
            image_id=str(data.get("Image", "")),
        )

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")

    @property
    def ended(self) -> bool:
        return self.state in ("exited", "dead")

    @property
    def reason(self) -> str:
        if self.oom:
            return "OOMKilled"
        return "Completed" if self.exit_code == 0 else "Error"


ActionKind = Literal["none", "create", "start", "wait", "kill"]


@dataclass(frozen=True)
class Action:
    """The next step for one container."""

    kind: ActionKind
    restart: int = 0  # for create: the restart count of the new instance
    backoff: int = 0  # for create: its back-off step
    wait: float = 0.0  # for wait: seconds until the back-off ends
    why: str = ""  # for kill: liveness, startup, changed


def should_restart(policy: str, exit_code: int | None, init: bool) -> bool:
    """restartPolicy: Always restarts anything (init containers only on failure), OnFailure on
    a non-zero exit, Never nothing."""
    if policy == "Never":
        return False
    if policy == "Always" and not init:
        return True
    return exit_code != 0


def backoff_delay(step: int, config: RuntimeConfig) -> float:
    """Kubernetes' crash-loop back-off: initial * 2**step, capped."""
    return float(min(config.backoff_initial * (2 ** min(step, 30)), config.backoff_max))


def next_action(
    latest: Instance | None, *, spec_hash: str, policy: str, now: datetime,
    config: RuntimeConfig, unhealthy: str = "", known_restart: int | None = None,
) -> Action:
    """The next step for a container whose newest instance is `latest`.

    `unhealthy` names the probe ("liveness"/"startup") that failed on the running
    instance; `known_restart` is the restart count last seen, for an instance
    removed behind our back.
    """
    if latest is None:
        if known_restart is None:
            return Action("create", restart=0)
        return Action("create", restart=known_restart + 1)
    if latest.state == "created":
        return Action("start")
    if latest.running:
        if latest.spec_hash != spec_hash:
            return Action("kill", why="changed")
        if unhealthy:
            return Action("kill", why=unhealthy)
        return Action("none")
    if latest.spec_hash != spec_hash:
        return Action("create", restart=latest.restart + 1)
    if not should_restart(policy, latest.exit_code, latest.init):
        return Action("none")
    ran = 0.0
    if latest.started_at and latest.finished_at:
        ran = (latest.finished_at - latest.started_at).total_seconds()
    step = 0 if ran >= config.backoff_reset else latest.backoff
    delay = backoff_delay(step, config)
    finished = latest.finished_at or now
    remaining = delay - (now - finished).total_seconds()
    if remaining > 0:
        return Action("wait", wait=remaining)
    return Action("create", restart=latest.restart + 1, backoff=step + 1)


def container_status(
    name: str, image: str, latest: Instance | None, previous: Instance | None, *,
    init: bool, ready: bool, started: bool, waiting: tuple[str, str] | None = None,
) -> ContainerStatus:
    """status.containerStatuses[] for one container.

    `waiting` (reason, message) overrides the state: a back-off or an image error.
    """
    st = ContainerStatus(name=name, image=image, init=init)
    if latest is not None:
        st.container_id = f"docker://{latest.id}"
        st.image_id = latest.image_id
        st.restart_count = latest.restart
    last = previous
    if latest is not None and latest.ended and waiting is not None:
        last = latest
    if last is not None and last.ended:
        st.last_exit_code = last.exit_code
        st.last_reason = last.reason
        st.last_started_at = last.started_at
        st.last_finished_at = last.finished_at
    if waiting is not None:
        st.state, st.reason, st.message = "waiting", waiting[0], waiting[1]
    elif latest is None or latest.state == "created":
        st.state, st.reason = "waiting", "ContainerCreating"
    elif latest.running:
        st.state, st.reason = "running", ""
        st.started_at = latest.started_at
        st.ready = ready
        st.started = started
    else:
        st.state, st.reason = "terminated", latest.reason
        st.exit_code = latest.exit_code
        st.message = latest.error
        st.started_at = latest.started_at
        st.finished_at = latest.finished_at
    return st


def pod_phase(
    inits: list[ContainerStatus], containers: list[ContainerStatus], policy: str,
    init_failed: bool,
) -> PodPhase:
    """Kubernetes' pod phase from the container statuses."""
    if init_failed:
        return "Failed"
    if any(s.state != "terminated" or s.exit_code != 0 for s in inits):
        return "Pending"
    if containers and all(s.state == "terminated" for s in containers):
        if all(s.exit_code == 0 for s in containers):
            return "Succeeded"
        # kubelet's getPhase: under OnFailure a failed container is about to be restarted in
        # place, so the pod still runs (a Job counts the restart, not a failed pod).
        return "Running" if policy == "OnFailure" else "Failed"
    if any(s.state == "running" or s.restart_count > 0 for s in containers):
        return "Running"
    if any(s.state == "terminated" for s in containers):
        return "Running"
    return "Pending"


def conditions(
    inits: list[ContainerStatus], containers: list[ContainerStatus], now: datetime
) -> list[Condition]:
    """Initialized, ContainersReady and Ready (readiness gates are not supported)."""
    initialized = all(s.state == "terminated" and s.exit_code == 0 for s in inits)
    not_ready = [s.name for s in containers if not s.ready]
    ready = bool(containers) and not not_ready and initialized
    msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else ""
    reason = "" if ready else "ContainersNotReady"
    init_reason = "" if initialized else "ContainersNotInitialized"
    return [
        Condition("Initialized", initialized, init_reason, "", now),
        Condition("ContainersReady", ready, reason, msg, now),
        Condition("Ready", ready, reason, msg, now),
    ]
