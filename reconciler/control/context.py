"""What every controller shares: the store, the node agents, the queue, the event recorder.

Built once by the composition root (`reconciler.service.app`) and handed to
each controller. Controllers decide with the pure core and act only through
this context: the store for records, a node's `HostAgent` for Docker
(`reconciler.runtime.port`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol

from reconciler.api.defaults import NODE_PORT_RANGE
from reconciler.api.records import EventRecord, NodeRecord, OwnerRef, PodRecord
from reconciler.api.selectors import Selector
from reconciler.api.types import JSON, Key
from reconciler.control.cache import Cache
from reconciler.control.loop import WorkKey
from reconciler.control.nodeview import NodeView
from reconciler.control.queue import WorkQueue
from reconciler.control.storeport import ControlStore
from reconciler.planning.expectations import Expectations
from reconciler.runtime.port import AgentFactory, HostAgent, docker_agent
from reconciler.runtime.types import RuntimeConfig
from reconciler.store.records import ObjectRecord

if TYPE_CHECKING:
    # The follower relists from the concrete store (SQLAlchemy): imported only when the
    # cache starts, so controllers on the narrow store port load none of it.
    from reconciler.control.follow import Follower

log = logging.getLogger("reconciler.events")

# Controller names: the first half of every WorkKey.
DESIRED = "desired"
POD = "pod"
REPLICATION = "replication"
SERVICE = "service"
NODE = "node"
NODE_GC = "node-gc"
STATEFULSET = "statefulset"

REPLICATED_KINDS = frozenset({"ReplicationController", "ReplicaSet"})
SUSPEND_ANNOTATION = "reconciler.dev/suspend"


def suspended(body: JSON) -> bool:
    """Annotated `reconciler.dev/suspend: "true"`: its controller leaves it alone."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(SUSPEND_ANNOTATION, "")).lower() == "true"


class EventSink(Protocol):
    """Where events go besides the store (fluentd)."""

    def event(self, ev: EventRecord, *, revision: str = "") -> bool: ...


@dataclass
class Settings:
    """The knobs controllers read; the composition root fills them from the configuration."""

    desired: str = "desired"
    service_cidr: str = "10.96.0.0/16"
    dns_ip: str = "10.96.0.10"
    cluster_domain: str = "cluster.local"
    node_port_range: tuple[int, int] = NODE_PORT_RANGE
    heartbeat_interval: float = 5.0
    not_ready_timeout: float = 15.0
    eviction_timeout: float = 60.0
    scheduling_retry: float = 10.0
    descheduler_interval: float = 0.0  # 0: off (control/descheduler.py)
    descheduler_moves: int = 5
    default_engine: str = "unix:///var/run/docker.sock"
    sops_age_key_file: str = ""  # age identities for SOPS-encrypted manifests


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """The shared handles of the control plane."""

    # Typed as the narrow port (control/storeport.py): a `Store`, or an in-memory
    # stand-in for a controller's unit test.
    store: ControlStore
    queue: WorkQueue[WorkKey]
    runtime: RuntimeConfig
    settings: Settings
    sinks: list[EventSink] = field(default_factory=list)
    expectations: Expectations = field(default_factory=Expectations)
    revision: str = ""
    clock: Callable[[], datetime] = now
    agent_factory: AgentFactory = docker_agent
    _agents: dict[str, HostAgent] = field(default_factory=dict)
    _agents_lock: threading.Lock = field(default_factory=threading.Lock)
    # Set by `watch_agents` (the service): every agent follows its engine's events from its
    # creation until it is replaced or dropped, so a node declared after start is watched
    # too. The stop of each agent's follow, by node.
    _watches: dict[str, threading.Event] | None = None
    # Called after an Endpoints change is written: the in-process proxy reads the store now
    # rather than at its next poll, so a deleted pod's drain is not spent waiting for it.
    endpoints_listeners: list[Callable[[], None]] = field(default_factory=list)
    # Health the controllers know (name -> healthy, message), e.g. "desired-source";
    # the service publishes it with the rest for `reconciler get cs`.
    components: dict[str, tuple[bool, str]] = field(default_factory=dict)
    # Scheduling reads every node's usage; one decision at a time keeps two workers
    # from placing onto the same free capacity.
    schedule_lock: threading.Lock = field(default_factory=threading.Lock)
    # The indexed cache of objects and pods (`start_cache`); None: read the store.
    cache: Cache | None = None
    # Per controller that can tell, the check that reconciling a key now would do nothing
    # (control/unchanged.py): the registry's resync leaves those keys out. Filled by
    # `Registry.build`.
    idle_checks: dict[str, Callable[[Hashable], bool]] = field(default_factory=dict)
    # Per controller that keeps such memos, the call that forgets them all: a full resync
    # (`reconciler sync`) runs every reconcile in full. Filled by `Registry.build`.
    memo_resets: dict[str, Callable[[], None]] = field(default_factory=dict)
    # Per node, the last list of its host's containers (the node gc): when, by the monotonic
    # clock, and its agent's `relists_wanted` then. The resync lists a host again only when
    # that count moved since (a broken stream, another cluster's container started), or
    # RELIST_EVERY passed (control/registry.py, `_gc_nodes`).
    relists: dict[str, tuple[float, int]] = field(default_factory=dict)
    follower: Follower | None = None
    # The nodes, written through like the cache (`start_cache`); None: read the store.
    nodes: NodeView | None = None

    # -- the cache --
    def start_cache(
        self, *, resync: float | None = None,
        on_relisted: Callable[[], object] | None = None,
    ) -> Cache:
        """Fill the cache with one list, write this process's commits through, follow others'.

        The write-through is registered before the list: a write committed meanwhile is
        either in the list or written through after it (and kept, being newer).
        `on_relisted`: called when a relist found another process's writes (the service
        enqueues everything: a reconcile may have read the cache just before). `resync`:
        seconds between safety relists, None for the follower's default.
        """
        from reconciler.control.follow import DEFAULT_RESYNC, follow
        from reconciler.control.writethrough import write_through
        from reconciler.store import Store  # the concrete store (SQLAlchemy): only here

        store = self.store
        if not isinstance(store, Store):
            raise TypeError("the cache follows a real Store (its engine and write listeners)")
        cache = Cache()
        nodes = self.nodes = NodeView(store.list_nodes,
                                      agent_age=self.settings.heartbeat_interval)
        write_through(cache, store, nodes)

        def relisted() -> None:
            nodes.invalidate()  # another process wrote: its node rows may be among the writes
            if on_relisted is not None:
                on_relisted()
        self.follower = follow(store, resync=DEFAULT_RESYNC if resync is None else resync,
                               cache=cache, own_writes=True,
                               on_relisted=relisted)
        self.cache = cache
        return cache

    @property
    def synced_cache(self) -> Cache | None:
        """The cache once its first list is in, else None (read the store)."""
        return self.cache if self.cache is not None and self.cache.synced else None

    def list_nodes(self) -> list[NodeRecord]:
        """Every node, sorted by name: from the node view when there is one, else the store."""
        return self.nodes.nodes() if self.nodes is not None else self.store.list_nodes()

    def get_node(self, name: str) -> NodeRecord | None:
        """One node: from the node view when there is one, else the store."""
        return self.nodes.node(name) if self.nodes is not None else self.store.get_node(name)

    def get_object(self, key: Key) -> ObjectRecord | None:
        """One recorded object: from the cache once it is synced, else from the store."""
        cache = self.synced_cache
        return cache.object(key) if cache is not None else self.store.get_object(key)

    def list_objects(self, kind: str, namespace: str | None = None) -> list[ObjectRecord]:
        """Recorded objects of a kind (in a namespace): from the synced cache, else the store."""
        cache = self.synced_cache
        if cache is not None:
            return cache.objects(kind=kind, namespace=namespace)
        return self.store.objects(kind=kind, namespace=namespace)

    # -- an owner's pods (the opening every pod-owning controller shares) --
    def claimable_pods(self, namespace: str, owner_uid: str, selector: Selector, *,
                       orphans_only: bool = False, copy: bool = True) -> list[PodRecord]:
        """The pods an owner holds and those its selector matches, one of each, by name.

        Only these, not every pod of the namespace with its containers: from the cache's
        owner and label indexes once it is synced, else from the store. The held ones
        are there so a pod that stopped matching can be released. `orphans_only`: of the
        selected pods only those without an owner (a StatefulSet releases no member).
        `copy=False`: the cache's own records, for a caller that copies what it changes.
        """
        cache = self.synced_cache
        if cache is not None:
            held = cache.pods(namespace, owner_uid=owner_uid, copy=copy)
            selected = cache.pods(namespace, selector, copy=copy)
        else:
            held = self.store.list_pods(namespace=namespace, owner_uid=owner_uid)
            selected = self.store.list_pods(namespace=namespace, selector=selector.matches)
        if orphans_only:
            selected = [p for p in selected if p.owner is None]
        return sorted({p.uid: p for p in [*held, *selected]}.values(), key=lambda p: p.name)

    def set_owners(self, owner: OwnerRef, adopt: Sequence[PodRecord],
                   release: Sequence[PodRecord] = ()) -> None:
        """Adopt orphans under `owner` and release the pods that stopped matching, in one
        store write (Kubernetes' ControllerRefManager)."""
        for pod in adopt:
            pod.owner = owner
        for pod in release:
            pod.owner = None
        if adopt or release:
            self.store.patch_pods([*adopt, *release], ["owner"])

    def stop_cache(self) -> None:
        if self.follower is not None:
            self.follower.stop()

    # -- queueing (reactors call only these) --
    def enqueue(self, controller: str, id_: Hashable) -> None:
        self.queue.add(WorkKey(controller, id_))

    def enqueue_pod(self, uid: str) -> None:
        self.enqueue(POD, uid)

    def enqueue_related(self, pod: PodRecord,
                        previous_labels: Mapping[str, str] | None = None) -> None:
        """A pod changed: its owner (or, when unowned, any that may adopt it) and the services.

        `previous_labels`: the labels the pod had before this change (its own when the
        change left them alone: a status write). Given, only the services selecting the
        old or the new labels are woken; None wakes every service of the namespace.
        Which controllers own pods, and which watch every pod of a namespace, is the
        registry's (`control.registry`); it imports this module, hence the late import.
        """
        from reconciler.control.registry import REGISTRY

        cache = self.cache
        if cache is None or not cache.synced:
            REGISTRY.route_pod_uncached(self, pod)
        else:
            # The owner by uid; an unowned pod only to the controllers whose selector
            # matches it (no other would adopt it). The services selecting its labels
            # before or after the change (one that selected the previous labels must drop
            # it from its endpoints); every service of the namespace when the previous
            # labels are not known. All 450 Services of a namespace on every pod status
            # write was most of a pod start's control-plane CPU.
            if pod.owner is not None:
                owner = cache.object_by_uid(pod.owner.uid)
                if owner is not None:
                    REGISTRY.route_owner(self, owner.key)
            else:
                for obj in cache.selecting(pod):
                    REGISTRY.route_owner(self, obj.key)
            if previous_labels is None:
                for kind in REGISTRY.namespace_kinds:
                    for key in cache.object_keys(kind=kind, namespace=pod.namespace):
                        REGISTRY.route(self, key)
            else:
                selecting = set(cache.selecting_keys(pod.namespace, pod.labels))
                if previous_labels != pod.labels:
                    selecting.update(cache.selecting_keys(pod.namespace, previous_labels))
                for key in sorted(selecting):
                    if key.kind in REGISTRY.namespace_kinds:
                        REGISTRY.route(self, key)
        if pod.source != "manifest" or pod.deletion_timestamp is not None:
            # A Pod manifest waiting for this name (held by another pod, or by its own
            # previous record being deleted): the desired pass creates it once free.
            manifest = Key("Pod", pod.namespace, pod.name)
            declared = (cache.has_object(manifest) if cache is not None and cache.synced
                        else self.store.get_object(manifest) is not None)
            if declared:
                self.enqueue(DESIRED, "all")

    def collect_pods(self, owner: Key) -> None:
        """`owner` is gone: mark the pods it controlled deleted (garbage collection by owner).

        Found by the owner's kind and name, since its uid went with its record.
        """
        now_ = self.clock()
        doomed = [p for p in self.store.list_pods(namespace=owner.namespace)
                  if p.owner is not None and p.owner.kind == owner.kind
                  and p.owner.name == owner.name and p.deletion_timestamp is None]
        for pod in doomed:
            pod.deletion_timestamp = now_
        self.store.patch_pods(doomed, ["deletion"])
        for pod in doomed:
            self.enqueue_pod(pod.uid)

    # -- node agents --
    def agent(self, node: NodeRecord) -> HostAgent:
        """The agent of `node`, created on first use and rebuilt when its engine changed."""
        with self._agents_lock:
            agent = self._agents.get(node.name)
            if agent is not None and (
                agent.node.engine_url != node.engine_url or agent.node.tls != node.tls
            ):
                self._unwatch(node.name)
                agent.close()
                agent = None
            if agent is None:
                agent = self.agent_factory(node, self.runtime, self.enqueue_pod)
                self._agents[node.name] = agent
                self._watch(node.name, agent)
            return agent

    def agents(self) -> dict[str, HostAgent]:
        with self._agents_lock:
            return dict(self._agents)

    def drop_agent(self, name: str) -> None:
        with self._agents_lock:
            agent = self._agents.pop(name, None)
            self._unwatch(name)
        if agent is not None:
            agent.close()

    def watch_agents(self) -> None:
        """From now on every agent follows its engine's events (`HostAgent.watch`), those
        made already and those made later, until `unwatch_agents` or its replacement."""
        with self._agents_lock:
            if self._watches is not None:
                return  # already following: each agent has its one follow
            self._watches = {}
            for name, agent in self._agents.items():
                self._watch(name, agent)

    def unwatch_agents(self) -> None:
        """Stop every agent's follow of its engine's events."""
        with self._agents_lock:
            for name in list(self._watches or ()):
                self._unwatch(name)
            self._watches = None

    def _watch(self, name: str, agent: HostAgent) -> None:
        if self._watches is None:
            return
        stop = self._watches[name] = threading.Event()
        threading.Thread(target=agent.watch, args=(stop,), name=f"events-{name}",
                         daemon=True).start()

    def _unwatch(self, name: str) -> None:
        stop = self._watches.pop(name, None) if self._watches is not None else None
        if stop is not None:
            stop.set()

    # -- events --
    def event(
        self,
        kind: str,
        namespace: str,
        name: str,
        type_: Literal["Normal", "Warning"],
        reason: str,
        message: str,
        source: str,
        uid: str = "",
        host: str = "",
    ) -> None:
        """Queue an event for the store (written in a batch a moment later, aggregated
        there) and, once stored, ship it to the sinks; never blocks on the store."""
        ev = EventRecord(
            namespace=namespace,
            kind=kind,
            name=name,
            type=type_,
            reason=reason,
            message=message,
            source=source,
            uid=uid,
            host=host,
        )
        log.log(
            logging.WARNING if type_ == "Warning" else logging.INFO,
            "%s %s/%s: %s %s",
            kind,
            namespace,
            name,
            reason,
            message,
        )
        sinks, revision = list(self.sinks), self.revision

        def ship(recorded: EventRecord) -> None:
            for sink in sinks:
                sink.event(recorded, revision=revision)

        # Apart from the object write it describes (a pod's placement, its status), as
        # Kubernetes' recorder does: the write stays one UPDATE, events go in batches.
        self.store.queue_event(ev, self.clock(), ship if sinks else None)
