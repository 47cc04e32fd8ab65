"""What the control plane asks of a Docker host: the `HostAgent` protocol.

The controllers (`reconciler.control`) talk to hosts only through this
interface, as Kubernetes' ReplicaSet controller talks to pods through
`PodControlInterface`. `reconciler.runtime.agent.NodeAgent` is the real one;
`reconciler.runtime.fake.FakeAgent` is the in-memory one the controllers' unit
tests use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.runtime.types import HostInfo, ObservedPod, PodEnv, PodSync, RuntimeConfig


class HostAgent(Protocol):
    """The kubelet of one host, as the controllers use it."""

    node: NodeRecord

    def heartbeat(self) -> HostInfo: ...
    def list_pods(self, *, foreign: bool = False) -> dict[str, ObservedPod]: ...
    def sync_pod(self, pod: PodRecord, env: PodEnv) -> PodSync: ...
    def kill_pod(self, uid: str, grace_seconds: int) -> None: ...
    def remove_volume(self, name: str) -> None: ...
    def watch(self, stop: threading.Event) -> None: ...
    def close(self) -> None: ...


AgentFactory = Callable[[NodeRecord, RuntimeConfig, Callable[[str], None]], HostAgent]


def docker_agent(
    node: NodeRecord, config: RuntimeConfig, on_change: Callable[[str], None]
) -> HostAgent:
    """The real agent: Docker through the engine API (none for a node its own agent runs)."""
    from reconciler.runtime.agent import NodeAgent
    from reconciler.runtime.agent_node import AgentOnlyHost, by_agent

    if by_agent(node):
        return AgentOnlyHost(node)

    return NodeAgent(node, config, on_change)
