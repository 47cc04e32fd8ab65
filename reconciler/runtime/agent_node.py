"""Nodes whose engine only their own machine's agent reaches (a Node's `spec.agent: true`).

Such a node's record carries its engine URL as `agent+<url>` (the URL as the machine
itself reaches it, e.g. `agent+unix:///var/run/docker.sock`): the control plane never
dials it. There it gets an `AgentOnlyHost`, which answers every engine call with
`HostUnreachable`; the node's heartbeat, its engine's events and its pods' container
work are done by `reconciler agent` on that machine (reconciler/service/agent_node.py),
from the pods' records in the store, as a kubelet does, and reported in the store.

A pod of such a node being deleted is stopped by the agent, which then sets the pod's
`ContainersStopped` condition; only then does the control plane remove the record
(its pod controller's deletion, with the owners' expectations), as the API server
removes a pod once its kubelet reported its containers gone.
"""

from __future__ import annotations

import threading

from reconciler.api.records import NodeRecord, PodRecord
from reconciler.runtime.types import HostInfo, HostUnreachable, ObservedPod, PodEnv, PodSync

SCHEME = "agent+"
STOPPED = "ContainersStopped"  # the pod condition the agent sets once its containers are gone
REASON = "run by the agent on its machine (spec.agent): the control plane does not reach " \
    "this engine"


def by_agent(node: NodeRecord) -> bool:
    """Whether only the agent on the node's machine reaches its engine."""
    return node.engine_url.startswith(SCHEME)


def record_url(engine: str, agent: bool) -> str:
    """The engine URL a node record keeps for a Node manifest's `engine` and `agent`."""
    return f"{SCHEME}{engine}" if agent else engine


def local_url(node: NodeRecord) -> str:
    """The engine URL as the node's own machine reaches it."""
    return node.engine_url.removeprefix(SCHEME)


def stopped_by_agent(pod: PodRecord) -> bool:
    """Whether the node's agent reported the pod's containers stopped and removed."""
    return any(c.type == STOPPED and c.status for c in pod.conditions)


class AgentOnlyHost:
    """The control plane's `HostAgent` for a node run by its agent: no engine call at all."""

    def __init__(self, node: NodeRecord) -> None:
        self.node = node

    def heartbeat(self) -> HostInfo:
        raise HostUnreachable(REASON)

    def list_pods(self, *, foreign: bool = False) -> dict[str, ObservedPod]:
        raise HostUnreachable(REASON)

    def sync_pod(self, pod: PodRecord, env: PodEnv) -> PodSync:
        raise HostUnreachable(REASON)

    def kill_pod(self, uid: str, grace_seconds: int) -> None:
        raise HostUnreachable(REASON)

    def remove_volume(self, name: str) -> None:
        raise HostUnreachable(REASON)

    def watch(self, stop: threading.Event) -> None:
        """Nothing to follow here: the agent reports its engine's events in the store."""
        stop.wait()

    def close(self) -> None:
        pass

