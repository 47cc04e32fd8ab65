"""Plain data of the runtime driver: its configuration, what it observes, and what one sync gives.

Shared by every runtime module: `NodeAgent` (agent.py) takes a `RuntimeConfig`
and a `PodEnv` per pod, returns `PodSync` from `sync_pod` and `ObservedPod`s from
`list_pods`; the control loop copies `PodSync` into the store's `PodRecord`.
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from reconciler.api.records import Condition, ContainerStatus, PodPhase
from reconciler.runtime.configrefs import ConfigObjects

DEFAULT_PREFIX = "rk8s"
DEFAULT_INFRA_IMAGE = "reconciler/pause:1"
CLUSTER_LABEL = "io.reconciler.cluster"  # naming.CLUSTER


class HostUnreachable(Exception):
    """The Docker engine of a host did not answer (connection refused, timeout, TLS, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RuntimeConfig:
    """How the driver runs pods on every host; one per service, shared by the node agents."""

    prefix: str = DEFAULT_PREFIX  # names `<prefix>_POD_...`, and the label that finds them
    infra_image: str = DEFAULT_INFRA_IMAGE
    # Rewrites image references, like kustomize's `images:`: a key is a full reference
    # ("redis:latest") or a bare name ("redis", any tag); the value is the reference to run.
    image_map: dict[str, str] = field(default_factory=dict)
    host_path_allow: tuple[str, ...] = ()  # hostPath volumes must lie under one of these
    fluentd_address: str | None = None  # "host:port": log through Docker's fluentd driver
    concurrency: int = 8  # Docker calls in flight per host
    stop_timeout: int = 30  # default grace seconds when a pod does not say
    api_timeout: float = 10.0  # seconds for one Docker API call
    unreachable_cooldown: float = 3.0  # after a failure, fail fast this long (not the heartbeat)
    api_version: str = "1.41"  # fixed, so that building a client never calls the engine
    # Registries pulls may go to ("*": any; "host" any port of it; globs), per
    # imagePullPolicy (pullrules.py). Empty here, so tools and tests built on this class
    # never send a pull off the machine; the service's configuration defaults to "*".
    pull_from: tuple[str, ...] = ()
    docker_config: str = ""  # a Docker config.json with registry credentials; "{node}" = node
    pull_timeout: float = 300.0  # seconds a pull may stay silent before it is given up
    backoff_initial: float = 10.0  # Kubernetes' crash-loop back-off: 10 s doubling ...
    backoff_max: float = 300.0  # ... to 5 min ...
    backoff_reset: float = 600.0  # ... forgotten after 10 min of running
    extra_labels: dict[str, str] = field(default_factory=dict)  # added to everything created
    # The store's id (`Store.cluster_id`): everything created carries it, and the driver
    # only ever removes what carries it. "" (tools without a store): no label, and every
    # container under the prefix counts as this service's, as before cluster ids.
    cluster_id: str = ""
    # Where the folders of configMap, secret and projected volumes live, one per pod
    # volume (reconciler.runtime.configfiles); "": pods with such volumes cannot start.
    volumes_dir: str = ""
    # securityContext.capabilities.add may only name these (security.py); None: Docker's
    # default set, which only matters after a `drop`, so nothing beyond Docker's default.
    allowed_capabilities: tuple[str, ...] | None = None
    allowed_unsafe_sysctls: tuple[str, ...] = ()  # besides kubelet's safe set (security.py)

    def owns(self, labels: dict[str, str]) -> bool:
        """Whether an object under our prefix is not another cluster's (none: made before ids)."""
        theirs = labels.get(CLUSTER_LABEL, "")
        return not self.cluster_id or not theirs or theirs == self.cluster_id

    @property
    def labels(self) -> dict[str, str]:
        """The labels everything the driver creates carries besides its own facts."""
        if not self.cluster_id:
            return dict(self.extra_labels)
        return {**self.extra_labels, CLUSTER_LABEL: self.cluster_id}


@dataclass(frozen=True)
class PodEnv:
    """What the caller adds to one pod: service-link env vars, the cluster DNS, claim uids."""

    env: tuple[tuple[str, str], ...] = ()  # before the container's own env, as kubelet does
    dns_servers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()  # <ns>.svc.cluster.local svc.cluster.local cluster.local
    dns_options: tuple[str, ...] = ("ndots:5",)
    # (claim name, claim uid) of the pod's persistentVolumeClaims: labels of their volumes.
    claim_uids: tuple[tuple[str, str], ...] = ()
    # The ConfigMaps and Secrets the pod names (reconciler.runtime.configrefs).
    configs: ConfigObjects = field(default_factory=ConfigObjects)


@dataclass(frozen=True)
class HostInfo:
    """What `heartbeat` learns from the engine."""

    cpus: int
    memory: int  # bytes
    engine_version: str
    os: str
    kernel: str
    os_type: str = ""  # the engine's OSType: "linux"
    arch: str = ""  # the engine's Architecture: "x86_64", "aarch64"
    pod_addresses: int = 0  # addresses its bridge has left for our pods; 0: unknown


@dataclass(frozen=True)
class ObservedContainer:
    """One container of a pod as Docker's list call reports it (no inspect)."""

    id: str
    name: str  # Docker's container name
    container: str  # the spec's container name; "POD" for the infrastructure container
    state: str  # created, running, exited, dead, ...
    status: str  # Docker's words: "Up 3 seconds", "Exited (1) 2 seconds ago"
    restart: int
    init: bool
    spec_hash: str
    image: str
    created: float  # unix seconds
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def infra(self) -> bool:
        return self.container == "POD"

    @property
    def exit_code(self) -> int | None:
        if not self.status.startswith("Exited ("):
            return None
        try:
            return int(self.status[len("Exited ("):].split(")", 1)[0])
        except ValueError:
            return None


@dataclass
class ObservedPod:
    """A pod's containers on one host, found by their labels."""

    uid: str
    name: str
    namespace: str
    containers: list[ObservedContainer] = field(default_factory=list)
    # The cluster id its containers carry; "" for containers made before cluster ids.
    cluster: str = ""

    @property
    def infra(self) -> ObservedContainer | None:
        infras = [c for c in self.containers if c.infra]
        return max(infras, key=lambda c: c.restart) if infras else None

    @property
    def running(self) -> bool:
        return any(c.state == "running" for c in self.containers if not c.infra)


@dataclass(frozen=True)
class PodEvent:
    """An event to record about the pod, in Kubernetes' words."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class PodSync:
    """The outcome of one `sync_pod` step: the pod's status and what happened."""

    phase: PodPhase = "Pending"
    reason: str = ""
    message: str = ""
    pod_ip: str = ""
    host_ip: str = ""
    ports: dict[str, int] = field(default_factory=dict)  # "5000/TCP" -> host port on host_ip
    start_time: datetime | None = None
    containers: list[ContainerStatus] = field(default_factory=list)
    init_containers: list[ContainerStatus] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    events: list[PodEvent] = field(default_factory=list)
    requeue_after: float | None = None  # seconds until the next step is due; None: on change only

    def requeue(self, seconds: float) -> None:
        """Ask to come back after `seconds`, keeping the earliest request."""
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = max(seconds, 0.0)


@dataclass(frozen=True)
class ExecResult:
    """A finished, non-interactive exec."""

    exit_code: int
    output: bytes
