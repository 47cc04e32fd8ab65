"""Plain records of actual state: pods, containers, nodes, claims, events.

The store persists these, the runtime fills their status from Docker, the
scheduler and controllers decide from them, the CLI prints them. They carry no
behaviour that does I/O; `reconciler.api.k8s` renders them in Kubernetes' shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from reconciler.api.types import JSON

ContainerStateName = Literal["waiting", "running", "terminated"]
PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]


@dataclass(frozen=True)
class OwnerRef:
    """metadata.ownerReferences[] entry of the controlling owner."""

    kind: str
    name: str
    uid: str
    api_version: str = "v1"
    controller: bool = True


@dataclass
class ContainerStatus:
    """status.containerStatuses[] (or initContainerStatuses[]) of one container."""

    name: str
    image: str
    state: ContainerStateName = "waiting"
    reason: str = (
        "ContainerCreating"  # waiting/terminated reason: CrashLoopBackOff, Error, Completed...
    )
    message: str = ""
    container_id: str = ""
    image_id: str = ""
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    init: bool = False
    # The previous termination, as `describe pod` shows under "Last State".
    last_exit_code: int | None = None
    last_reason: str = ""
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None


@dataclass
class Condition:
    """status.conditions[]: PodScheduled, Initialized, ContainersReady, Ready."""

    type: str
    status: bool
    reason: str = ""
    message: str = ""
    last_transition: datetime | None = None


@dataclass(frozen=True)
class PodNetwork:
    """What a host's proxy and DNS need of a pod: where it runs and at which addresses
    (reconciler/network/feed.py). A `PodRecord` has the same fields; this is the narrow
    read that re-reading every pod on each pod change costs (no spec, no statuses)."""

    namespace: str
    name: str
    node_name: str
    pod_ip: str
    host_ip: str
    ports: dict[str, int]
    deletion_timestamp: datetime | None


@dataclass
class PodRecord:
    """One pod, declared in a manifest or created by a controller, with its observed status."""

    uid: str
    namespace: str
    name: str
    spec: JSON  # defaulted PodSpec, Kubernetes field names
    spec_hash: str  # hash of `spec`: a changed hash means the containers must be replaced
    created_at: datetime
    labels: dict[str, str] = field(default_factory=dict)  # mutable: kept here, not in Docker
    annotations: dict[str, str] = field(default_factory=dict)
    owner: OwnerRef | None = None
    source: Literal["manifest", "controller"] = "manifest"
    node_name: str = ""  # "" until scheduled
    phase: PodPhase = "Pending"
    reason: str = ""  # e.g. Evicted, NodeLost
    message: str = ""
    pod_ip: str = ""
    host_ip: str = ""  # the node's address
    # Container ports published on the node: "5000/TCP" -> host port on host_ip. Pod IPs
    # are private to their Docker host; other hosts reach a pod through these.
    ports: dict[str, int] = field(default_factory=dict)
    start_time: datetime | None = None
    conditions: list[Condition] = field(default_factory=list)
    containers: list[ContainerStatus] = field(default_factory=list)
    init_containers: list[ContainerStatus] = field(default_factory=list)
    deletion_timestamp: datetime | None = None  # set: the pod is being deleted
    revision: str = ""  # the source revision (git SHA) its manifest came from

    def condition(self, type_: str) -> bool:
        """The status of a condition; False when it is absent."""
        return any(c.type == type_ and c.status for c in self.conditions)

    @property
    def ready(self) -> bool:
        return self.condition("Ready")

    @property
    def restarts(self) -> int:
        return sum(c.restart_count for c in self.containers)


# kubelet's --max-pods default.
DEFAULT_MAX_PODS = 110


@dataclass(frozen=True)
class Resources:
    """cpu in millicores, memory in bytes."""

    cpu_milli: int = 0
    memory: int = 0


@dataclass
class NodeRecord:
    """A registered Docker host and its last observed status."""

    name: str
    engine_url: str  # unix://, tcp:// (with TLS), ssh://
    created_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    address: str = ""  # the host's own address: NodePorts and cross-host traffic go here
    tls: JSON = field(
        default_factory=dict
    )  # {"ca": path, "cert": path, "key": path, "verify": bool}
    capacity_override: Resources | None = None
    unschedulable: bool = False
    capacity: Resources = field(default_factory=Resources)  # from the engine, or the override
    ready: bool = False
    reason: str = "NodeStatusUnknown"  # KubeletReady, EngineUnreachable, ...
    message: str = ""
    engine_version: str = ""
    os_image: str = ""
    kernel_version: str = ""
    last_heartbeat: datetime | None = None
    declared: bool = True  # False for the embedded default node `local`
    # Conditions besides Ready (which is ready/reason/message), e.g. ForeignContainers.
    conditions: list[Condition] = field(default_factory=list)
    max_pods: int = DEFAULT_MAX_PODS  # the Node manifest's spec.maxPods (kubelet's --max-pods)
    # Addresses of the engine's pod network (its default bridge) left for this service's
    # pods: the subnet's usable addresses less the other containers attached. 0: not known.
    pod_addresses: int = 0
    taints: list[JSON] = field(default_factory=list)  # spec.taints: {key, value, effect}

    @property
    def allocatable(self) -> Resources:
        return self.capacity_override or self.capacity

    @property
    def allocatable_pods(self) -> int:
        """max-pods, never more than the pod network has addresses for (when known)."""
        if self.pod_addresses > 0:
            return min(self.max_pods, self.pod_addresses)
        return self.max_pods


@dataclass
class ClaimRecord:
    """A persistent volume claim: one Docker named volume on one host, outliving its pods.

    StatefulSets make one per volumeClaimTemplates entry and ordinal; the first pod
    bound to a node binds its unbound claims there, and from then on the claim's
    pods can only run on that node, because a Docker volume is local to its host.
    """

    namespace: str
    name: str
    uid: str
    owner: OwnerRef | None  # the StatefulSet that made it
    storage: str = ""  # the template's resources.requests.storage, e.g. "1Gi"
    access_modes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    node_name: str = ""  # the Docker host holding the volume; "" until first bound
    volume: str = ""  # the Docker volume name
    deletion_timestamp: datetime | None = None  # marked for removal (retention policy)
    created_at: datetime | None = None


def claim_volume_name(namespace: str, claim: str) -> str:
    """The Docker volume of a claim: `www-web-0` in default, `www-web-0.<namespace>` elsewhere.

    Docker volume names are global to a host, so the namespace is kept in the name;
    default stays bare so that volumes read as in Kubernetes' StatefulSet examples.
    """
    return claim if namespace == "default" else f"{claim}.{namespace}"


@dataclass
class EventRecord:
    """A Kubernetes-style event about an object, as `kubectl describe` lists them."""

    namespace: str
    kind: str
    name: str
    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    source: str  # component: scheduler, kubelet, replication-controller, reconciler...
    uid: str = ""
    host: str = ""  # node name, when the source is a node component
    count: int = 1
    first_seen: datetime | None = None
    last_seen: datetime | None = None
