"""The node controller: registered Docker hosts, their heartbeat, NotReady, eviction, orphans.

Keyed by node name (`node`), plus `node-gc` per node for adoption. Node
records come from the `Node` objects of the desired folder (kind Node,
apiVersion reconciler.dev/v1); when none is declared, the local engine is
registered as node `local` (the embedded default). A heartbeat asks the
engine for its facts; a host that does not answer is NotReady with the reason,
and after the eviction timeout its pods are deleted so their owners replace
them elsewhere (manifest pods are declared again and rescheduled).

`node-gc` lists a host's containers in one call and compares them with the
pod records: containers of pods that no longer exist (or that now live on
another node) are removed; pods whose containers vanished are requeued. Only
containers of this store's cluster id are ever removed: another cluster's on
the same engine (another service with its own state file and the same name
prefix) are left alone and reported by the node's `ForeignContainers`
condition and a Warning event. Containers made before cluster ids carry none:
they are adopted when their pod uid is one of this store's, and otherwise
left alone and reported too (see docs/runtime.md).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from reconciler.api.quantity import parse_cpu, parse_memory
from reconciler.api.records import (
    DEFAULT_MAX_PODS,
    Condition,
    NodeRecord,
    PodRecord,
    Resources,
)
from reconciler.api.taints import NOT_READY_TAINT, node_taints, tolerates
from reconciler.api.types import JSON
from reconciler.control.context import NODE_GC, Context
from reconciler.control.loop import Result, WorkKey
from reconciler.runtime.agent_node import AgentOnlyHost, by_agent, record_url
from reconciler.runtime.types import HostUnreachable, ObservedPod
from reconciler.scheduling.taint_toleration import eviction_delay

log = logging.getLogger(__name__)

SOURCE = "node-controller"
DEFAULT_NODE = "local"
FOREIGN = "ForeignContainers"  # the node condition's type, and its event's reason
NODE_LOST = "NodeLost"  # the reason of a pod evicted from a silent node
# Seconds between writes of a node record whose heartbeat changed nothing but its stamp.
REPORT_EVERY = 30.0
# The well-known labels a kubelet sets about its node, here from the engine's /info;
# the engine's word wins over a manifest's, as kubelet's own labels do.
OBSERVED_LABELS = ("kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch",
                   "beta.kubernetes.io/os", "beta.kubernetes.io/arch")
# uname's machine names (Docker's Architecture) as Go's GOARCH, which the labels use.
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def observed_labels(name: str, os_type: str, arch: str) -> dict[str, str]:
    """kubernetes.io/hostname, os and arch (and their beta aliases) of a node's engine."""
    labels = {"kubernetes.io/hostname": name}
    if os_type:
        labels["kubernetes.io/os"] = labels["beta.kubernetes.io/os"] = os_type.lower()
    if arch:
        goarch = _GOARCH.get(arch.lower(), arch.lower())
        labels["kubernetes.io/arch"] = labels["beta.kubernetes.io/arch"] = goarch
    return labels


def placement_facts(node: NodeRecord | None) -> tuple[object, ...] | None:
    """What decides where per-node pods go (DaemonSets): presence, labels, cordon, readiness,
    taints."""
    if node is None:
        return None
    taints = tuple(tuple(sorted(t.items())) for t in node.taints)
    return (tuple(sorted(node.labels.items())), node.unschedulable, node.ready, taints)


def nodes_changed(ctx: Context) -> None:
    """Enqueue the controllers that place a pod per node (the registry imports this module)."""
    from reconciler.control.registry import REGISTRY

    REGISTRY.route_nodes(ctx)


def node_from_object(body: JSON, existing: NodeRecord | None, now_: datetime) -> NodeRecord:
    """A node record from a `Node` manifest, keeping what was observed."""
    meta, spec = body.get("metadata", {}), body.get("spec", {})
    override = None
    cap = spec.get("capacity") or {}
    if cap:
        override = Resources(
            parse_cpu(cap["cpu"]) if "cpu" in cap else 0,
            parse_memory(cap["memory"]) if "memory" in cap else 0,
        )
    # A copy: the caller compares the result with what the store holds.
    node = (
        dataclasses.replace(existing)
        if existing is not None
        else NodeRecord(name=meta["name"], engine_url="", created_at=now_)
    )
    node.engine_url = record_url(spec["engine"], bool(spec.get("agent", False)))
    seen = {k: v for k, v in (existing.labels if existing else {}).items()
            if k in OBSERVED_LABELS}
    node.labels = {**dict(meta.get("labels") or {}), **seen}
    node.address = spec.get("address", "")
    node.tls = dict(spec.get("tls") or {})
    node.capacity_override = override
    node.unschedulable = bool(spec.get("unschedulable", False))
    node.max_pods = int(spec.get("maxPods", DEFAULT_MAX_PODS))
    node.taints = [{k: str(v) for k, v in t.items()} for t in spec.get("taints") or []]
    node.declared = True
    return node


def foreign_condition(
    foreign: dict[str, int], unclaimed: int, since: datetime
) -> Condition | None:
    """The `ForeignContainers` condition for what a gc pass left alone, or None when nothing.

    `foreign`: container counts by the other cluster's id; `unclaimed`: containers with
    no cluster id whose pod this store does not know.
    """
    parts = []
    if foreign:
        ids = ", ".join(sorted(foreign))
        count = sum(foreign.values())
        which = "another cluster" if len(foreign) == 1 else "other clusters"
        parts.append(f"{count} containers of {which} (id {ids}) on this engine are left alone")
    if unclaimed:
        parts.append(f"{unclaimed} containers with no cluster id and no pod in this store "
                     "are left alone (remove them by hand if no other service runs them)")
    if not parts:
        return None
    return Condition(FOREIGN, True, FOREIGN, "; ".join(parts), since)


def needs_sync(record: PodRecord, seen: ObservedPod | None) -> bool:
    """Whether one list call's view of a pod disagrees with its record.

    The periodic resync looks at every pod through this instead of syncing each
    one (an inspect per container): a pod whose containers all run as recorded
    costs nothing. Pods being deleted, waiting, or with a due probe or back-off
    come back through their own requeue.
    """
    if record.deletion_timestamp is not None or record.phase not in ("Running",):
        return True
    if seen is None:
        return True
    running = {c.container for c in seen.containers if c.state == "running"}
    if "POD" not in running:
        return True
    for status in record.containers:
        if (status.state == "running") != (status.name in running):
            return True
    return len(record.containers) != len(record.spec.get("containers", []))


def _only_beat(recorded: NodeRecord, node: NodeRecord, interval: float) -> bool:
    """Whether writing `node` would change only the record's heartbeat stamp, and that stamp is
    younger than REPORT_EVERY: the write is then left out (the kubelet's node status is
    written when it changed, or every nodeStatusReportFrequency). Every heartbeat's write
    woke every reader of the store; liveness is judged here from `_answered`."""
    if recorded.last_heartbeat is None or node.last_heartbeat is None:
        return False
    if node.last_heartbeat - recorded.last_heartbeat >= timedelta(
            seconds=max(REPORT_EVERY, interval)):
        return False
    return dataclasses.replace(recorded, last_heartbeat=None) == \
        dataclasses.replace(node, last_heartbeat=None)


def _not_bound(ctx: Context, uid: str, node: str) -> bool:
    """No pod record binds `uid` to `node`, asked of the store itself (the truth)."""
    record = ctx.store.get_pod_by_uid(uid)
    return record is None or record.node_name != node


class NodeController:
    """Keeps node records in line with the folder and the engines; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # Per node, what its last gc pass left alone: the heartbeat, which rewrites the
        # node record, carries it over, so the two never undo each other's writes.
        self._conditions: dict[str, list[Condition]] = {}
        # (node, pod uid) -> when a NoExecute taint the pod tolerates for a while was first
        # seen with the pod on the node (the taint manager's clock).
        self._tainted_since: dict[tuple[str, str], datetime] = {}
        # Per node its agent runs (spec.agent): whether its record was last seen Ready.
        self._agent_ready: dict[str, bool] = {}
        # Per node this process dials: when its engine last answered (this process's clock).
        # The record's `last_heartbeat` is rewritten only every REPORT_EVERY when nothing
        # else changed; the decisions read the later of the two (`_last_answer`).
        self._answered: dict[str, datetime] = {}
        # Per such node, this process's first heartbeat of it: a record's stamp may be up to
        # REPORT_EVERY old when this process starts, so silence that leads to eviction is
        # counted from no earlier than here (Kubernetes' node controller gives the same
        # grace at its start).
        self._first_look: dict[str, datetime] = {}
        # Per node its agent runs: the `last_heartbeat` value last read, and when (by this
        # process's monotonic clock) it was first read. The stamp is the agent's (the
        # database's clock); it is only ever compared with itself, never with this
        # machine's clock (Kubernetes' node lifecycle controller keeps the same record).
        self._agent_stamps: dict[str, tuple[datetime | None, float]] = {}
        self.monotonic: Callable[[], float] = time.monotonic

    def sync_registrations(self) -> list[str]:
        """Node records for every declared Node (or the local default); returns their names."""
        ctx = self.ctx
        store = ctx.store
        declared = {o.key.name: o for o in ctx.list_objects("Node")}
        existing = {n.name: n for n in store.list_nodes()}
        now_ = ctx.clock()
        wanted: list[NodeRecord] = []
        for name, obj in declared.items():
            wanted.append(node_from_object(obj.body, existing.get(name), now_))
        if not declared:
            found = existing.get(DEFAULT_NODE)
            local = (
                dataclasses.replace(found)
                if found is not None
                else NodeRecord(
                    name=DEFAULT_NODE,
                    engine_url=ctx.settings.default_engine,
                    created_at=now_,
                    declared=False,
                    labels={"kubernetes.io/hostname": DEFAULT_NODE},
                )
            )
            local.engine_url = ctx.settings.default_engine
            wanted.append(local)
        names = {n.name for n in wanted}
        moved = False
        for n in wanted:
            if n.name not in existing or existing[n.name] != n:
                store.upsert_node(n)
                moved = moved or placement_facts(existing.get(n.name)) != placement_facts(n)
        for name in existing.keys() - names:
            store.delete_node(name)
            ctx.drop_agent(name)
            moved = True
            for pod in store.list_pods(node=name):
                ctx.enqueue_pod(pod.uid)  # the pod controller deletes pods of removed nodes
        if moved:
            nodes_changed(ctx)
        return sorted(names)

    def reconcile(self, key: WorkKey) -> Result:
        if key.controller == NODE_GC:
            return self._gc(str(key.id))
        self.sync_registrations()
        node = self.ctx.store.get_node(str(key.id))
        if node is None:
            return Result.done()
        self._heartbeat(node)
        return Result.after(self.ctx.settings.heartbeat_interval)

    def _heartbeat(self, node: NodeRecord) -> None:
        if by_agent(node):
            self._agent_heartbeat(node)
        else:
            self.heartbeat(node)

    def heartbeat(self, node: NodeRecord) -> None:
        """Ask the node's engine for its facts and record them; NotReady when it does not
        answer. (A node its agent runs posts its own: reconciler/service/agent_node.py.)"""
        ctx = self.ctx
        was_ready = node.ready
        now_ = ctx.clock()
        self._first_look.setdefault(node.name, now_)
        try:
            info = ctx.agent(node).heartbeat()
        except HostUnreachable as e:
            since = self._last_answer(node)
            grace = timedelta(seconds=ctx.settings.not_ready_timeout)
            if was_ready and since is not None and now_ - since < grace:
                return  # one missed heartbeat is not a dead host
            self._not_ready(node, "NodeUnreachable", e.reason)
            return
        self._answered[node.name] = now_
        recorded = dataclasses.replace(node)
        node.capacity = Resources(info.cpus * 1000, info.memory)
        node.pod_addresses = info.pod_addresses
        node.engine_version, node.os_image, node.kernel_version = (
            info.engine_version,
            info.os,
            info.kernel,
        )
        before = placement_facts(node)
        node.labels = {**node.labels, **observed_labels(node.name, info.os_type, info.arch)}
        node.ready, node.reason = True, "KubeletReady"
        node.message = "Docker engine is answering"
        node.last_heartbeat = now_
        node.conditions = self._conditions.get(node.name, node.conditions)
        if not _only_beat(recorded, node, ctx.settings.heartbeat_interval):
            ctx.store.upsert_node(node)
        if placement_facts(node) != before:
            nodes_changed(ctx)
        self._evict_by_taints(node)
        if not was_ready:
            ctx.event(
                "Node",
                "",
                node.name,
                "Normal",
                "NodeReady",
                f"Node {node.name} status is now: NodeReady",
                SOURCE,
            )
            # Pending pods may fit now; the host's containers need adopting or cleaning.
            for pod in ctx.store.list_pods():
                if not pod.node_name or pod.node_name == node.name:
                    ctx.enqueue_pod(pod.uid)
            ctx.enqueue(NODE_GC, node.name)

    def _last_answer(self, node: NodeRecord) -> datetime | None:
        """When the node's engine last answered: the record's stamp or, later, this process's."""
        stamps = [t for t in (node.last_heartbeat, self._answered.get(node.name)) if t]
        return max(stamps) if stamps else None

    def _not_ready(self, node: NodeRecord, reason: str, message: str) -> None:
        """Record the node NotReady (an event, its pods not ready, when it was Ready), and
        evict its pods once it has been silent for the eviction timeout."""
        ctx = self.ctx
        was_ready = node.ready
        node.ready, node.reason, node.message = False, reason, message
        # The record's stamp may be up to REPORT_EVERY old: the eviction and the pods'
        # records count from the last answer, so it is written exact now.
        node.last_heartbeat = self._last_answer(node)
        ctx.store.upsert_node(node)
        if was_ready:
            self._went_not_ready(node)
        self._evict_if_due(node)

    def _went_not_ready(self, node: NodeRecord) -> None:
        """A Ready node is NotReady now: its event, and its pods not ready."""
        ctx = self.ctx
        nodes_changed(ctx)
        ctx.event("Node", "", node.name, "Warning", "NodeNotReady",
                  f"Node {node.name} status is now: NodeNotReady ({node.message})", SOURCE)
        self._mark_pods_not_ready(node)

    def agent_silence(self, node: NodeRecord) -> float:
        """Seconds since this process saw the agent's `last_heartbeat` of `node` change.

        A value first read (this process started, or took over the lease) counts from
        now: a grace period, as Kubernetes gives its nodes at a controller's start.
        """
        now_ = self.monotonic()
        seen = self._agent_stamps.get(node.name)
        if seen is None or seen[0] != node.last_heartbeat:
            self._agent_stamps[node.name] = (node.last_heartbeat, now_)
            return 0.0
        return now_ - seen[1]

    def _agent_heartbeat(self, node: NodeRecord) -> None:
        """A node its agent runs: the agent records its heartbeat; here only its silence is
        judged (NotReady after `not_ready_timeout`, eviction after `eviction_timeout`), by
        how long its stamp has not changed as seen here, and its coming Ready wakes the pods
        waiting for a node, as a heartbeat here would. The decisions are all made here:
        its pods marked not ready, their eviction, its NoExecute taints' evictions."""
        ctx = self.ctx
        silent = self.agent_silence(node)
        fresh = node.last_heartbeat is not None and silent < ctx.settings.not_ready_timeout
        seen = self._agent_ready.get(node.name)
        self._agent_ready[node.name] = node.ready and fresh
        self._evict_by_taints(node)
        if node.ready and fresh:
            if seen is not True:
                nodes_changed(ctx)
                for pod in ctx.store.list_pods():
                    if not pod.node_name or pod.node_name == node.name:
                        ctx.enqueue_pod(pod.uid)
            return
        if node.ready:
            node.ready, node.reason = False, "NodeStatusUnknown"
            node.message = f"the agent of node {node.name} stopped posting its status"
            if not ctx.store.report_node(node, ("ready", "reason", "message"),
                                         if_silent=True):
                # Removed, no longer agent-run, or its agent beat since the read: judged
                # again at its next read.
                return
            self._went_not_ready(node)
        elif seen:  # its agent reported it NotReady (its engine stopped answering)
            self._went_not_ready(node)
        self._evict_if_due(node, silent)

    def _evict_by_taints(self, node: NodeRecord) -> None:
        """The taint manager: pods not tolerating a NoExecute taint of the Node manifest go,
        at once or after their tolerationSeconds (counted from when this service saw both)."""
        ctx = self.ctx
        taints = [t for t in node_taints(node) if t.effect == "NoExecute"
                  and t.key != NOT_READY_TAINT]
        if not taints:
            self._tainted_since = {k: v for k, v in self._tainted_since.items()
                                   if k[0] != node.name}
            return
        now_ = ctx.clock()
        for pod in ctx.store.list_pods(node=node.name):
            delay = eviction_delay(pod.spec, taints)
            if delay is None or pod.deletion_timestamp is not None:
                continue
            since = self._tainted_since.setdefault((node.name, pod.uid), now_)
            if now_ - since < timedelta(seconds=delay):
                continue
            self._tainted_since.pop((node.name, pod.uid), None)
            pod.deletion_timestamp = now_
            pod.reason = "TaintManagerEviction"
            pod.message = f"Marking for deletion Pod {pod.namespace}/{pod.name}"
            if ctx.store.patch_pod(pod, "deletion"):
                ctx.event("Pod", pod.namespace, pod.name, "Normal", "TaintManagerEviction",
                          pod.message, "taint-eviction-controller", uid=pod.uid)
                ctx.enqueue_pod(pod.uid)

    def _mark_pods_not_ready(self, node: NodeRecord) -> None:
        """Kubernetes' MarkPodsNotReady: a silent host's pods stop counting as ready now, not
        at their eviction, so Services stop sending them requests and their owners count
        them unavailable (a rollout does not complete on them). Their probes set Ready
        again once the host answers (the pods are requeued then)."""
        ctx = self.ctx
        now_ = ctx.clock()
        marked = []
        for pod in ctx.store.list_pods(node=node.name):
            if pod.deletion_timestamp is not None or not pod.ready:
                continue
            pod.conditions = [dataclasses.replace(c, status=False, last_transition=now_)
                              if c.type == "Ready" else c for c in pod.conditions]
            marked.append(pod)
        if marked:
            ctx.store.patch_pods(marked, ["status"])
            for pod in marked:
                ctx.enqueue_related(pod, pod.labels)

    def _evict_if_due(self, node: NodeRecord, silent: float | None = None) -> None:
        """Delete the node's pods once it has been silent for the eviction timeout.

        `silent`: for a node its agent runs, how long its stamp has not changed as seen
        here (`agent_silence`). Otherwise the time since the engine last answered
        (`_last_answer`), and at least since this process first asked it (`_first_look`).
        Its pods already being deleted are marked NodeLost too: the pod controller removes
        their records only then, without waiting for the host."""
        ctx = self.ctx
        since = node.last_heartbeat if silent is not None else self._last_answer(node)
        timeout = ctx.settings.eviction_timeout
        if since is None:
            return
        if silent is None and node.name in self._first_look:
            since = max(since, self._first_look[node.name])
        if silent is not None:
            if silent < timeout:
                return
        elif ctx.clock() - since < timedelta(seconds=timeout):
            return
        for pod in ctx.store.list_pods(node=node.name):
            if tolerates(pod.spec, NOT_READY_TAINT, "", "NoExecute"):
                continue  # a daemon pod stays with its node (the taint manager's rule)
            if pod.deletion_timestamp is None or pod.reason != NODE_LOST:
                pod.deletion_timestamp = pod.deletion_timestamp or ctx.clock()
                pod.reason = NODE_LOST
                pod.message = f"Node {node.name} which was running pod {pod.name} is unresponsive"
                ctx.store.patch_pod(pod, "deletion")
                ctx.event(
                    "Pod",
                    pod.namespace,
                    pod.name,
                    "Warning",
                    "NodeNotReady",
                    pod.message,
                    SOURCE,
                    uid=pod.uid,
                )
            ctx.enqueue_pod(pod.uid)

    def _gc(self, name: str) -> Result:
        """Adopt what the host runs, remove what nobody owns, requeue pods that lost containers."""
        ctx = self.ctx
        node = ctx.get_node(name)
        if node is None:
            return Result.done()
        agent = ctx.agent(node)
        if isinstance(agent, AgentOnlyHost):
            return Result.done()  # its agent collects its own host's containers
        # Taken before the list: a break during it makes the next resync list again.
        listed = (time.monotonic(), getattr(agent, "relists_wanted", -1))
        try:
            observed = agent.list_pods(foreign=True)
        except HostUnreachable:
            # Unreachable is not empty: never treat a silent host as having no containers.
            return Result.after(ctx.settings.heartbeat_interval)
        # Read only: from the cache when synced (no row decoding per resync); a pod the
        # cache does not hold yet is looked up in the store before its containers go.
        cache = ctx.synced_cache
        records = {p.uid: p for p in (cache.pods(node=name, copy=False) if cache is not None
                                      else ctx.store.list_pods(node=name))}
        own = ctx.runtime.cluster_id
        foreign: dict[str, int] = {}
        unclaimed = 0
        for uid, pod in list(observed.items()):
            if own and pod.cluster and pod.cluster != own:
                foreign[pod.cluster] = foreign.get(pod.cluster, 0) + len(pod.containers)
                del observed[uid]
            elif own and not pod.cluster and uid not in records \
                    and ctx.store.get_pod_by_uid(uid) is None:
                # Made before cluster ids, and not a pod of ours: perhaps another
                # service's of the same age. Deleting it could not be undone.
                unclaimed += len(pod.containers)
                del observed[uid]
        for uid, pod in observed.items():
            if uid not in records and (cache is None or _not_bound(ctx, uid, name)):
                log.info("removing orphan pod %s/%s (%s) on %s", pod.namespace, pod.name, uid, name)
                agent.kill_pod(uid, 0)
        for uid, record in records.items():
            if needs_sync(record, observed.get(uid)):
                ctx.enqueue_pod(uid)
        self._report(name, foreign, unclaimed)
        ctx.relists[name] = listed
        return Result.done()

    def _report(self, name: str, foreign: dict[str, int], unclaimed: int) -> None:
        """Set the node's ForeignContainers condition; a Warning event when it changes."""
        ctx = self.ctx
        node = ctx.get_node(name)
        if node is None:
            return
        before = next((c for c in node.conditions if c.type == FOREIGN), None)
        cond = foreign_condition(foreign, unclaimed, ctx.clock())
        if cond is not None and before is not None and before.message == cond.message:
            cond = before  # unchanged: keep its transition time
        wanted = [c for c in node.conditions if c.type != FOREIGN] + ([cond] if cond else [])
        self._conditions[name] = wanted
        if wanted != node.conditions:
            node.conditions = wanted
            if by_agent(node):  # its agent's gc: the condition only, never the whole row
                ctx.store.report_node(node, ("conditions",))
            else:
                ctx.store.upsert_node(node)
        if cond is not None and cond is not before:
            ctx.event("Node", "", name, "Warning", FOREIGN, cond.message, SOURCE)
