"""What the scheduler knows of one node: its record plus the pods already placed on it.

Built by `scheduler.py` from the store's pods before any filter runs, and updated
as `place_many` places a batch. Mirrors kube-scheduler's framework.NodeInfo
(Requested, NonZeroRequested, UsedPorts); toleration matching is `api.taints`'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reconciler.api.quantity import pod_requests
from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.taints import node_labels
from reconciler.api.types import JSON

# GetNonzeroRequests: a pod that requests nothing still counts as this much when
# scoring, so that empty pods do not all pile onto one node.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})

# (protocol, hostIP, hostPort); hostIP "0.0.0.0" stands for every address.
HostPort = tuple[str, str, int]


def host_ports(spec: JSON) -> list[HostPort]:
    """The host ports a pod spec asks for (containers[].ports[].hostPort), per NodePorts."""
    wanted: list[HostPort] = []
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            host_port = int(port.get("hostPort") or 0)
            if host_port > 0:
                protocol = str(port.get("protocol") or "TCP")
                wanted.append((protocol, str(port.get("hostIP") or "0.0.0.0"), host_port))
    return wanted


def nonzero_requests(spec: JSON) -> tuple[int, int]:
    """GetNonzeroRequests: a pod's requests with defaults for the resources it leaves at zero."""
    cpu, memory = pod_requests(spec)
    return cpu or DEFAULT_MILLI_CPU_REQUEST, memory or DEFAULT_MEMORY_REQUEST


@dataclass
class NodeInfo:
    """A node and the sum of what its placed pods use."""

    node: NodeRecord
    labels: dict[str, str]
    requested_cpu: int = 0
    requested_memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    used_ports: list[HostPort] = field(default_factory=list)
    owners: Counter[str] = field(default_factory=Counter)  # owner uid -> live pods here
    pods: int = 0

    def add(self, pod: PodRecord) -> None:
        cpu, memory = pod_requests(pod.spec)
        nz_cpu, nz_memory = nonzero_requests(pod.spec)
        self.requested_cpu += cpu
        self.requested_memory += memory
        self.nonzero_cpu += nz_cpu
        self.nonzero_memory += nz_memory
        self.used_ports.extend(host_ports(pod.spec))
        # SelectorSpread does not count pods already being deleted.
        if pod.owner is not None and pod.deletion_timestamp is None:
            self.owners[pod.owner.uid] += 1
        self.pods += 1


def counts_against_node(pod: PodRecord) -> bool:
    """Pods bound to a node and not finished use its resources (the scheduler cache's view)."""
    return bool(pod.node_name) and pod.phase not in TERMINAL_PHASES


def build_node_infos(
    nodes: Iterable[NodeRecord], placed: Sequence[PodRecord]
) -> dict[str, NodeInfo]:
    """One NodeInfo per node, keyed by name, from the pods already placed."""
    infos = {n.name: NodeInfo(node=n, labels=node_labels(n)) for n in nodes}
    for pod in placed:
        info = infos.get(pod.node_name)
        if info is not None and counts_against_node(pod):
            info.add(pod)
    return infos
