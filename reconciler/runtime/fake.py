"""An in-memory host for the controllers' unit tests: `FakeAgent` and `FakeHosts`.

Implements the `HostAgent` protocol (reconciler.runtime.port) without Docker:
a pod synced once is Running and ready on a made-up address; a host can be
taken down (`down = True`) to look unreachable; every call is recorded so a
test can count creates. Only tests use it; the real agent is tested against
real engines.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconciler.api.records import Condition, ContainerStatus, NodeRecord, PodRecord
from reconciler.runtime.spec import claim_volumes
from reconciler.runtime.types import (
    HostInfo,
    HostUnreachable,
    ObservedContainer,
    ObservedPod,
    PodEnv,
    PodEvent,
    PodSync,
    RuntimeConfig,
)

_addresses = itertools.count(2)


@dataclass
class FakeAgent:
    """One fake host; see the module docstring."""

    node: NodeRecord
    on_change: Callable[[str], None] = lambda uid: None
    down: bool = False
    cpus: int = 2
    memory: int = 8 << 30
    pods: dict[str, ObservedPod] = field(default_factory=dict)
    ips: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    envs: dict[str, PodEnv] = field(default_factory=dict)
    volumes: set[str] = field(default_factory=set)  # claim volumes made by sync_pod
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _check(self) -> None:
        if self.down:
            raise HostUnreachable(f"{self.node.name} is down")

    def heartbeat(self) -> HostInfo:
        self._check()
        return HostInfo(self.cpus, self.memory, "fake-1.0", "FakeOS", "0.0")

    def list_pods(self, *, foreign: bool = False) -> dict[str, ObservedPod]:
        self._check()  # one cluster only: `foreign` finds nothing more
        with self._lock:
            return dict(self.pods)

    def sync_pod(self, pod: PodRecord, env: PodEnv) -> PodSync:
        self._check()
        now = datetime.now(UTC)
        events: list[PodEvent] = []
        with self._lock:
            self.envs[pod.uid] = env
            self.volumes.update(claim_volumes(pod.namespace, pod.spec).values())
            if pod.uid not in self.pods:
                self.calls.append(("create", pod.name))
                names = ["POD"] + [c["name"] for c in pod.spec.get("containers", [])]
                self.pods[pod.uid] = ObservedPod(pod.uid, pod.name, pod.namespace, [
                    ObservedContainer(f"{pod.uid}-{n}", f"k_{n}_{pod.name}", n, "running", "Up",
                                      0, False, pod.spec_hash, "fake", now.timestamp())
                    for n in names])
                self.ips[pod.uid] = f"10.244.0.{next(_addresses) % 250 + 2}"
                events += [PodEvent("Normal", "Created", f"Created container {n}")
                           for n in names[1:]]
            ip = self.ips[pod.uid]
        statuses = [ContainerStatus(name=c["name"], image=c.get("image", ""), state="running",
                                    reason="", ready=True, started=True, started_at=now)
                    for c in pod.spec.get("containers", [])]
        conditions = [Condition(t, True, last_transition=now)
                      for t in ("Initialized", "ContainersReady", "Ready")]
        ports = {f"{p['containerPort']}/{p.get('protocol', 'TCP')}": 30000 + i
                 for i, p in enumerate(p for c in pod.spec.get("containers", [])
                                       for p in c.get("ports", []))}
        return PodSync(phase="Running", pod_ip=ip, host_ip=self.node.address, ports=ports,
                       start_time=now, containers=statuses, conditions=conditions, events=events)

    def kill_pod(self, uid: str, grace_seconds: int) -> None:
        self._check()
        with self._lock:
            gone = self.pods.pop(uid, None)
            if gone is not None:
                self.calls.append(("kill", gone.name))

    def remove_volume(self, name: str) -> None:
        self._check()
        with self._lock:
            self.calls.append(("remove_volume", name))
            self.volumes.discard(name)

    def watch(self, stop: threading.Event) -> None:
        stop.wait()

    def close(self) -> None:
        pass


@dataclass
class FakeHosts:
    """An agent factory that remembers the fake agent of each node."""

    agents: dict[str, FakeAgent] = field(default_factory=dict)

    def __call__(self, node: NodeRecord, config: RuntimeConfig,
                 on_change: Callable[[str], None]) -> FakeAgent:
        agent = self.agents.get(node.name)
        if agent is None:
            agent = self.agents[node.name] = FakeAgent(node, on_change)
        agent.node = node
        return agent

    def creates(self) -> int:
        return sum(1 for a in self.agents.values() for op, _ in a.calls if op == "create")
