"""The controller registry: every controller, the kinds it owns, and how a change reaches it.

How to add a controller:
  1. Write it: a class with `__init__(self, ctx: Context)` and
     `reconcile(self, key: WorkKey) -> Result` (see replication.py), and a name
     constant for its WorkKeys in its own module (as `claims.CLAIM`).
  2. Add one `Entry` to `ENTRIES` below: its name, its class, the object kinds it
     reconciles (`kinds`; a changed object of those kinds is enqueued under
     `key(obj.key)`), `pods="owner"` if it owns pods through owner references and
     selectors, `pods="namespace"` if every pod change in a namespace concerns
     all its objects there (services: endpoints), and `resync` if its keys do not
     come from objects (node names, claims...), and `nodes=True` if a node
     registering, leaving or changing labels, cordon or readiness concerns all
     its objects (DaemonSets; the node controller calls `route_nodes`).
  Nothing else: the service (`service.app`), the desired controller's wake-up,
  `Context.enqueue_related`, the periodic resync and the test harness all read
  this table.

Where it sits: between the composition root and the controllers. `build`
makes one instance per class (two entries of one class, `node` and `node-gc`,
share it); the routing functions only enqueue keys, they never reconcile.
`context.py` and `desired.py` import this module inside functions, as it
imports them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.control.cache_records import BY_NODE
from reconciler.control.claims import CLAIM, ClaimController
from reconciler.control.configmaps import CONFIG, ConfigController
from reconciler.control.configmaps import KINDS as CONFIG_KINDS
from reconciler.control.context import (
    DESIRED,
    NODE,
    NODE_GC,
    POD,
    REPLICATED_KINDS,
    REPLICATION,
    SERVICE,
    STATEFULSET,
    Context,
)
from reconciler.control.cronjobs import CRONJOB, CronJobController, orphaned
from reconciler.control.daemonsets import DAEMONSET, DaemonSetController
from reconciler.control.deployments import DEPLOYMENT, DeploymentController
from reconciler.control.descheduler import DESCHEDULER, DeschedulerController
from reconciler.control.descheduler import keys as descheduler_keys
from reconciler.control.desired import DesiredController
from reconciler.control.jobs import JOB, JobController
from reconciler.control.jobs import orphaned as orphaned_jobs
from reconciler.control.loop import Reconciler
from reconciler.control.nodes import NodeController
from reconciler.control.pods import PodController
from reconciler.control.pvcs import KINDS as PVC_KINDS
from reconciler.control.pvcs import PVC, ClaimManifestController
from reconciler.control.replication import ReplicationController
from reconciler.control.services import ServiceController
from reconciler.control.statefulsets import StatefulSetController

PodRoute = Literal["none", "owner", "namespace"]
Resync = Callable[[Context, bool], Iterable[Hashable]]


def _same(key: Key) -> Hashable:
    return key


def _service_of(key: Key) -> Hashable:
    # An Endpoints object is its Service's: the service controller writes both.
    return Key("Service", key.namespace, key.name)


def _desired(ctx: Context) -> Reconciler:
    return DesiredController(ctx, Path(ctx.settings.desired))


def _all(ctx: Context, all_pods: bool) -> Iterable[Hashable]:
    return ["all"]


# Seconds between lists of a host whose event stream ran unbroken meanwhile (`_gc_nodes`).
RELIST_EVERY = 300.0


def _node_names(ctx: Context, all_pods: bool) -> Iterable[Hashable]:
    return [n.name for n in ctx.list_nodes()]


def _gc_nodes(ctx: Context, all_pods: bool) -> Iterable[Hashable]:
    """The nodes whose hosts this resync lists again (the node gc).

    An informer relists only when its watch broke: a host whose event stream has run
    unbroken since its last list has told of every death, stop and removal since, and
    is listed again only every RELIST_EVERY seconds, or once another cluster's container
    started on it (its agent counts both in `relists_wanted`). Our own orphans, which
    make no event we follow, wait that long. Listing 1,000 pods' containers per
    host at every resync was a third of an idle service's CPU. At start (`all_pods`),
    with no watch, a broken one or a host never listed: every resync.
    """
    agents = ctx.agents()
    due = []
    for node in ctx.list_nodes():
        agent = agents.get(node.name)
        last = ctx.relists.get(node.name)
        if (all_pods or last is None or not getattr(agent, "watching", False)
                or getattr(agent, "relists_wanted", -1) != last[1]
                or time.monotonic() - last[0] >= RELIST_EVERY):
            due.append(node.name)
    return due


def _pods(ctx: Context, all_pods: bool) -> Iterable[Hashable]:
    # Not every pod (an inspect per container each): each node's GC requeues the pods
    # whose containers disagree with their records. At start every pod, which also
    # starts its probes in this process; at any time the pods not bound to a node yet.
    cache = ctx.cache
    if cache is not None and cache.synced:
        uids = set(cache.pod_uids())
        if not all_pods:
            for node in cache.pod_index_values(BY_NODE):
                uids -= cache.pod_index_keys(BY_NODE, node)
        return sorted(uids)
    return [p.uid for p in ctx.store.list_pods(containers=False)
            if all_pods or not p.node_name]


def _marked_claims(ctx: Context, all_pods: bool) -> Iterable[Hashable]:
    # A claim marked for deletion whose last pod went while no one listened (a restart).
    return [(c.namespace, c.name) for c in ctx.store.list_claims()
            if c.deletion_timestamp is not None]


@dataclass(frozen=True)
class Entry:
    """One controller: see the module docstring for what each field means."""

    name: str
    make: Callable[[Context], Reconciler]
    kinds: frozenset[str] = frozenset()
    # Other kinds whose change is routed here by `key` (Endpoints -> its Service),
    # and that the resync does not enqueue.
    related_kinds: frozenset[str] = frozenset()
    key: Callable[[Key], Hashable] = _same
    pods: PodRoute = "none"
    resync: Resync | None = None
    nodes: bool = False


ENTRIES: tuple[Entry, ...] = (
    Entry(DESIRED, _desired, resync=_all),
    Entry(POD, PodController, resync=_pods),
    Entry(REPLICATION, ReplicationController, kinds=REPLICATED_KINDS, pods="owner"),
    Entry(STATEFULSET, StatefulSetController, kinds=frozenset({"StatefulSet"}), pods="owner"),
    # Its pods are its ReplicaSets': the replication controller wakes it (see deployments.py).
    Entry(DEPLOYMENT, DeploymentController, kinds=frozenset({"Deployment"})),
    Entry(DAEMONSET, DaemonSetController, kinds=frozenset({"DaemonSet"}), pods="owner",
          nodes=True),
    Entry(JOB, JobController, kinds=frozenset({"Job"}), pods="owner", resync=orphaned_jobs),
    # Its Jobs are the Job controller's; it polls them while they run (see cronjobs.py).
    Entry(CRONJOB, CronJobController, kinds=frozenset({"CronJob"}), resync=orphaned),
    Entry(CLAIM, ClaimController, resync=_marked_claims),
    Entry(CONFIG, ConfigController, kinds=CONFIG_KINDS),
    Entry(PVC, ClaimManifestController, kinds=PVC_KINDS),
    Entry(SERVICE, ServiceController, kinds=frozenset({"Service"}),
          related_kinds=frozenset({"Endpoints"}), key=_service_of, pods="namespace"),
    Entry(NODE, NodeController, kinds=frozenset({"Node"}), key=lambda k: k.name,
          resync=_node_names),
    Entry(NODE_GC, NodeController, resync=_gc_nodes),
    # Opt-in (descheduler_interval): evictions that spread owners' replicas again.
    Entry(DESCHEDULER, DeschedulerController, resync=descheduler_keys),
)


class Registry:
    """The entries, indexed by name and by kind."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = tuple(entries)
        self.by_name = {e.name: e for e in self.entries}
        self._owner: dict[str, Entry] = {}  # kinds whose objects are its keys
        self._routed: dict[str, Entry] = {}  # those and the related kinds
        for e in self.entries:
            for kind in e.kinds:
                assert kind not in self._owner, f"{kind} registered twice"
                self._owner[kind] = e
            for kind in e.kinds | e.related_kinds:
                self._routed[kind] = e
        self.namespace_kinds = frozenset(
            k for e in self.entries if e.pods == "namespace" for k in e.kinds)

    def build(self, ctx: Context,
              overrides: Mapping[str, Reconciler] | None = None) -> dict[str, Reconciler]:
        """Every controller by name; one instance per class; `overrides` replace by name."""
        made: dict[Callable[[Context], Reconciler], Reconciler] = {}
        out: dict[str, Reconciler] = {}
        for e in self.entries:
            if overrides and e.name in overrides:
                out[e.name] = overrides[e.name]
                continue
            if e.make not in made:
                made[e.make] = e.make(ctx)
            out[e.name] = made[e.make]
        for name, controller in out.items():
            idle = getattr(controller, "idle", None)
            if callable(idle) and self.by_name[name].kinds:
                ctx.idle_checks[name] = idle
            else:
                ctx.idle_checks.pop(name, None)
            forget = getattr(controller, "forget_memos", None)
            if callable(forget):
                ctx.memo_resets[name] = forget
            else:
                ctx.memo_resets.pop(name, None)
        return out

    def owner(self, kind: str) -> Entry | None:
        """The controller whose keys are the objects of `kind`."""
        return self._owner.get(kind)

    def route(self, ctx: Context, key: Key) -> None:
        """A desired object changed: enqueue the controller it concerns, if any."""
        e = self._routed.get(key.kind)
        if e is not None:
            ctx.enqueue(e.name, e.key(key))

    def route_owner(self, ctx: Context, key: Key) -> None:
        """`key` owns or selects a changed pod: enqueue its controller if it owns pods."""
        e = self._owner.get(key.kind)
        if e is not None and e.pods == "owner":
            ctx.enqueue(e.name, e.key(key))

    def route_pod_uncached(self, ctx: Context, pod: PodRecord) -> None:
        """`enqueue_related` without a cache: one scan of the pod's namespace."""
        for obj in ctx.store.objects(namespace=pod.namespace):
            e = self._owner.get(obj.key.kind)
            if e is None:
                continue
            if e.pods == "namespace" or (
                    e.pods == "owner" and (pod.owner is None or obj.uid == pod.owner.uid)):
                ctx.enqueue(e.name, e.key(obj.key))

    def route_nodes(self, ctx: Context) -> None:
        """A node came, went or changed what decides placement: every object of the
        entries that place by node (DaemonSets)."""
        kinds = [k for e in self.entries if e.nodes for k in e.kinds]
        if not kinds:
            return
        cache = ctx.cache
        keys = [k for kind in kinds for k in cache.object_keys(kind=kind)] \
            if cache is not None and cache.synced \
            else [o.key for kind in kinds for o in ctx.store.objects(kind=kind)]
        for key in keys:
            self.route(ctx, key)

    def resync(self, ctx: Context, all_pods: bool = False, full: bool = False) -> None:
        """Every key: the objects of every registered kind, and each entry's own keys.

        `full` (`reconciler sync`): the controllers' memos forgotten first, so no key is
        left out as idle and every reconcile runs in full (control/unchanged.py).
        """
        if full:
            for forget in list(ctx.memo_resets.values()):
                forget()
            ctx.relists.clear()
        cache = ctx.cache
        keys = cache.object_keys() if cache is not None and cache.synced \
            else [o.key for o in ctx.store.objects()]
        for key in keys:
            e = self._owner.get(key.kind)
            if e is not None:
                id_ = e.key(key)
                # A key whose inputs did not change since a reconcile that did nothing
                # would do nothing again: not queued (principle 6; control/unchanged.py).
                idle = None if full else ctx.idle_checks.get(e.name)
                if idle is None or not idle(id_):
                    ctx.enqueue(e.name, id_)
        for e in self.entries:
            if e.resync is not None:
                for id_ in e.resync(ctx, all_pods):
                    ctx.enqueue(e.name, id_)


REGISTRY = Registry(ENTRIES)
