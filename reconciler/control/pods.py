"""The pod controller: schedule a pod, then have its node's agent converge it, and record status.

Keyed by pod uid. Sits between the pod records (written by the desired and
replication controllers) and the node agents: it asks the pure scheduler for a
node, hands the pod to that node's `NodeAgent.sync_pod` (one idempotent step),
and copies the outcome into the store. Pods being deleted are stopped with
their grace period and their record removed. Owners and services are woken
whenever a pod's phase, readiness or address changes.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from reconciler.api.records import ClaimRecord, Condition, ContainerStatus, NodeRecord, PodRecord
from reconciler.control.cache import Cache
from reconciler.control.cache_records import BY_INTER_POD
from reconciler.control.claims import CLAIM
from reconciler.control.configmaps import config_objects
from reconciler.control.context import Context
from reconciler.control.loop import Result, WorkKey
from reconciler.control.nodes import NODE_LOST
from reconciler.control.pod_failures import NodeFailureFeedback
from reconciler.network.feed import ACK_EVERY
from reconciler.planning.service_env import ServiceSource, service_env, services_for_env
from reconciler.runtime import spans
from reconciler.runtime.agent_node import by_agent, stopped_by_agent
from reconciler.runtime.configfiles import ConfigVolumes
from reconciler.runtime.types import HostUnreachable, PodEnv, PodSync
from reconciler.scheduling.scheduler import Inputs, bound_pods_for, place, place_on
from reconciler.scheduling.volume_binding import claim_names
from reconciler.store.records import ObjectRecord

log = logging.getLogger(__name__)

SCHEDULER = "default-scheduler"
# A deleted pod keeps serving after it left its services' Endpoints until every live
# host's proxy acknowledged rules without it (Store.proxies_behind), at most this long:
# a proxy that died without a word must not hold a deletion up for longer.
PROXY_ACK_TIMEOUT = 5.0
# A proxy that has not acknowledged for this long is taken for gone (a running one does
# every ACK_EVERY seconds): it is not waited for at all.
PROXY_FRESH = 3 * ACK_EVERY
KUBELET = "kubelet"


def _visible(pod: PodRecord) -> tuple[object, ...]:
    """What others depend on: owners count phases and readiness, services need IPs and ports."""
    return (
        pod.phase,
        pod.ready,
        pod.pod_ip,
        pod.host_ip,
        tuple(sorted(pod.ports.items())),
        pod.node_name,
        pod.restarts,
    )


def set_condition(
    pod: PodRecord,
    type_: str,
    status: bool,
    reason: str = "",
    message: str = "",
    at: datetime | None = None,
) -> None:
    for c in pod.conditions:
        if c.type == type_:
            if c.status != status:
                c.last_transition = at
            c.status, c.reason, c.message = status, reason, message
            return
    pod.conditions.append(Condition(type_, status, reason, message, at))


def _set_creating(pod: PodRecord) -> None:
    """The containers shown waiting before the first sync starts them (ContainerCreating)."""
    inits = pod.spec.get("initContainers") or []
    first = "PodInitializing" if inits else "ContainerCreating"
    pod.init_containers = [
        ContainerStatus(str(c["name"]), str(c.get("image", "")), reason="PodInitializing",
                        init=True)
        for c in inits
    ]
    pod.containers = [
        ContainerStatus(str(c["name"]), str(c.get("image", "")), reason=first)
        for c in pod.spec.get("containers") or []
    ]


class _CachedServices:
    """`services_for_env`'s reads: the Services from the cache (its own records: only read;
    copying 450 bodies was 30 ms of CPU per pod start), and their cluster IPs from the
    statuses the service controller wrote, or from the store while one has none yet."""

    def __init__(self, cache: Cache, store: ServiceSource) -> None:
        self._cache = cache
        self._store = store

    def objects(self, kind: str | None = None,
                namespace: str | None = None) -> list[ObjectRecord]:
        return self._cache.objects(kind, namespace, copy=False)

    def cluster_ips(self) -> dict[str, str]:
        # Every namespace's, as the store's: asked for while only the pod's own namespace
        # was read, the `default` master services would be missing.
        ips: dict[str, str] = {}
        for obj in self._cache.objects("Service", copy=False):
            spec = obj.body.get("spec") or {}
            if spec.get("clusterIP") or spec.get("type") == "ExternalName":
                continue  # never looked up (services_for_env)
            status = obj.status or {}
            ip = status.get("clusterIP")
            if not isinstance(ip, str) or not ip or ip == "None" or "error" in status:
                # Not allocated yet (or failed): the allocations decide.
                return self._store.cluster_ips()
            ips[f"{obj.key.namespace}/{obj.key.name}"] = ip
        return ips


class PodController:
    """Reconciles one pod by uid; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # uid -> (monotonic time a deleted pod was seen out of every Endpoints, the endpoints
        # revision the proxies must then reach); see _drain
        self._left_endpoints: dict[str, tuple[float, int]] = {}
        # Nodes whose unreachability was already logged: every pod on a host that went
        # away says so once, not each of them every heartbeat until the node is NotReady.
        self._unreachable: set[str] = set()
        # Sandbox failures that belong to a node, per pod: after a few, the pod is given
        # back to the scheduler, which avoids that node for a while (issue 20).
        self.feedback = NodeFailureFeedback(ctx)

    def _pod(self, uid: str) -> PodRecord | None:
        # The cache has every pod of this process's writes once they committed (before
        # their keys are enqueued) and others' within a relist.
        cache = self.ctx.cache
        if cache is not None and cache.synced:
            return cache.pod(uid)
        return self.ctx.store.get_pod_by_uid(uid)

    def reconcile(self, key: WorkKey) -> Result:
        uid = str(key.id)
        pod = self._pod(uid)
        if pod is None:
            return Result.done()
        if pod.deletion_timestamp is not None:
            return self._delete(pod)
        if not pod.containers and not pod.init_containers:
            # A first start: its spans (runtime/spans.py) run from here to the status write.
            spans.begin(uid, (self.ctx.clock() - pod.created_at).total_seconds())
        node: NodeRecord | None = None
        if not pod.node_name:
            placed = self._schedule(pod)
            if placed is None:
                spans.cancel(uid)
                return Result.after(self.ctx.settings.scheduling_retry)
            pod, node = placed
            spans.mark(uid, "schedule")
        if node is None:
            node = self.ctx.get_node(pod.node_name)
        if node is None or not node.ready:
            spans.cancel(uid)
        if node is None:
            # The node was removed from the folder: the pod goes with it, as Kubernetes'
            # pod garbage collector deletes pods bound to nodes that no longer exist.
            pod.deletion_timestamp = self.ctx.clock()
            self.ctx.store.patch_pod(pod, "deletion")
            return Result.after(0)
        if not node.ready:
            return Result.after(self.ctx.settings.heartbeat_interval)
        if by_agent(node):
            spans.cancel(uid)
            return Result.done()  # its agent runs it and records its status
        return self._sync(pod, node)

    # -- scheduling --
    def _schedule(self, pod: PodRecord) -> tuple[PodRecord, NodeRecord | None] | None:
        """The pod bound, with its node when this call bound it; None: not placed."""
        ctx = self.ctx
        with ctx.schedule_lock:
            current = self._pod(pod.uid)
            if current is None:
                return None
            if current.node_name:
                return current, None
            nodes = ctx.list_nodes()
            claims = self._claims(current)
            avoid = self.feedback.avoided(current.uid)
            cache = ctx.cache
            if cache is not None and cache.synced:
                # The per-node totals the cache keeps as pods come and go. Every
                # placement of this process is written through before the lock is let go.
                # The bound pods are listed only when some rule counts them: the pod's
                # own, or a bound pod's (an index, not a scan of every pod).
                bound = bound_pods_for(current, cache.pods,
                                       bool(cache.pod_index_keys(BY_INTER_POD, "bound")))
                placement = place_on(current, {n.name: cache.node_info(n) for n in nodes},
                                     Inputs(claims, avoid, bound))
            else:
                placement = place(current, nodes, ctx.store.list_pods(), claims, avoid)
            now_ = ctx.clock()
            if placement.node is None:
                set_condition(
                    current, "PodScheduled", False, "Unschedulable", placement.message, now_
                )
                current.phase = "Pending"
                ctx.store.patch_pod(current, "schedule")
                ctx.event(
                    "Pod",
                    current.namespace,
                    current.name,
                    "Warning",
                    "FailedScheduling",
                    placement.message,
                    SCHEDULER,
                    uid=current.uid,
                )
                return None
            chosen = next(n for n in nodes if n.name == placement.node)
            current.node_name = chosen.name
            current.host_ip = chosen.address
            set_condition(current, "PodScheduled", True, at=now_)
            groups = ["schedule"]
            if not current.containers and not current.init_containers:
                # Shown waiting by the placement's own write: one store transaction less
                # before the pod's first Docker call (_sync then has nothing to show).
                _set_creating(current)
                groups.append("status")
            with ctx.store.batch():
                # The claims' volumes are created on the chosen host, so they stay there.
                for claim in claims.values():
                    if not claim.node_name:
                        ctx.store.bind_claim(claim.namespace, claim.name, chosen.name)
                ctx.store.patch_pod(current, *groups)
                # In the bind's transaction: one commit (and fsync) less per placement.
                ctx.event(
                    "Pod",
                    current.namespace,
                    current.name,
                    "Normal",
                    "Scheduled",
                    f"Successfully assigned {current.namespace}/{current.name} to {chosen.name}",
                    SCHEDULER,
                    uid=current.uid,
                )
        return current, chosen

    def _claims(self, pod: PodRecord) -> dict[str, ClaimRecord]:
        """The pod's persistentVolumeClaims that exist, by claim name."""
        found = (self.ctx.store.get_claim(pod.namespace, n) for n in claim_names(pod.spec))
        return {c.name: c for c in found if c is not None}

    # -- running --
    def _env(self, pod: PodRecord) -> PodEnv:
        s = self.ctx.settings
        env: tuple[tuple[str, str], ...] = ()
        if pod.spec.get("enableServiceLinks", True):
            cache = self.ctx.cache
            source: ServiceSource = self.ctx.store
            if cache is not None and cache.synced:
                source = _CachedServices(cache, self.ctx.store)
            services = services_for_env(source, pod.namespace)
            env = tuple(service_env(services, pod.namespace))
        claim_uids = tuple((c.name, c.uid) for c in self._claims(pod).values())
        configs = config_objects(self.ctx, pod)
        dns_policy = pod.spec.get("dnsPolicy", "ClusterFirst")
        if dns_policy in ("ClusterFirst", "ClusterFirstWithHostNet") and s.dns_ip:
            search = (
                f"{pod.namespace}.svc.{s.cluster_domain}",
                f"svc.{s.cluster_domain}",
                s.cluster_domain,
            )
            return PodEnv(env=env, dns_servers=(s.dns_ip,), dns_search=search,
                          claim_uids=claim_uids, configs=configs)
        return PodEnv(env=env, claim_uids=claim_uids, configs=configs)

    def _sync(self, pod: PodRecord, node: NodeRecord) -> Result:
        ctx = self.ctx
        agent = ctx.agent(node)
        if not pod.containers and not pod.init_containers:
            # As kubelet does, the containers are shown waiting before the first sync starts
            # them: `get pods` says ContainerCreating, not Pending, while images and
            # containers are being set up.
            self._creating(pod)
            spans.mark(pod.uid, "status_creating")
        try:
            env = self._env(pod)
            spans.mark(pod.uid, "env")
            sync = agent.sync_pod(pod, env)
        except HostUnreachable as e:
            spans.cancel(pod.uid)
            level = logging.DEBUG if node.name in self._unreachable else logging.WARNING
            self._unreachable.add(node.name)
            log.log(level, "pod %s/%s: node %s unreachable: %s", pod.namespace, pod.name,
                    node.name, e)
            ctx.enqueue("node", node.name)
            return Result.after(ctx.settings.heartbeat_interval)
        self._unreachable.discard(node.name)
        given_back = self.feedback.after_sync(pod, node, sync, self._claims(pod).values())
        if given_back is not None:
            return given_back
        before = _visible(pod)
        self._apply(pod, sync)
        # The sync's events and its status in one transaction: a first start records
        # three or four events, each its own commit before.
        with ctx.store.batch():
            for ev in sync.events:
                ctx.event(
                    "Pod",
                    pod.namespace,
                    pod.name,
                    ev.type,
                    ev.reason,
                    ev.message,
                    KUBELET,
                    uid=pod.uid,
                    host=node.name,
                )
            # Only the status is ours: labels, owner or deletion may have changed meanwhile.
            patched = ctx.store.patch_pod(pod, "status")
        spans.end(pod.uid, "status_write")
        if not patched:
            return Result.done()
        if _visible(pod) != before:
            ctx.enqueue_related(pod, pod.labels)  # a status write: the labels are as read
        return Result(requeue_after=sync.requeue_after)

    def _creating(self, pod: PodRecord) -> None:
        _set_creating(pod)
        self.ctx.store.patch_pod(pod, "status")

    def _apply(self, pod: PodRecord, sync: PodSync) -> None:
        pod.phase = sync.phase
        pod.reason, pod.message = sync.reason, sync.message
        pod.pod_ip = sync.pod_ip or pod.pod_ip
        pod.host_ip = sync.host_ip or pod.host_ip
        pod.ports = dict(sync.ports) or pod.ports
        pod.start_time = pod.start_time or sync.start_time
        pod.containers = sync.containers
        pod.init_containers = sync.init_containers
        scheduled = [c for c in pod.conditions if c.type == "PodScheduled"]
        pod.conditions = scheduled + [c for c in sync.conditions if c.type != "PodScheduled"]

    # -- deleting --
    def _delete(self, pod: PodRecord) -> Result:
        ctx = self.ctx
        node = ctx.get_node(pod.node_name) if pod.node_name else None
        if node is not None:
            grace = int(pod.spec.get("terminationGracePeriodSeconds", 30))
            wait = self._drain(pod, grace)
            if wait > 0:
                return Result.after(wait)
            agent_run = by_agent(node)  # its agent stops it, then says so (runtime/agent_node)
            for c in pod.containers:
                if c.state == "running" and not agent_run:
                    ctx.event(
                        "Pod",
                        pod.namespace,
                        pod.name,
                        "Normal",
                        "Killing",
                        f"Stopping container {c.name}",
                        KUBELET,
                        uid=pod.uid,
                        host=node.name,
                    )
            try:
                if not agent_run or not stopped_by_agent(pod):
                    ctx.agent(node).kill_pod(pod.uid, grace)  # an agent's node: unreachable
            except HostUnreachable:
                # Only the node controller's NodeLost lets the record go without the host's
                # word: it judged the host silent for the eviction timeout, from what this
                # process knows (its own last answer, its first look since a restart; an
                # agent's stamp is the database's clock, never compared with ours). The
                # record's stamp alone may be up to a report period old.
                if node.ready or pod.reason != NODE_LOST:
                    # An agent's report does not wake this key; an eviction does.
                    return Result.after(0.5 if agent_run else ctx.settings.heartbeat_interval)
                # The host is gone for good as far as we know; its containers are removed
                # as orphans when it comes back (node-gc).
        ctx.store.delete_pod(pod.uid)
        self.feedback.forget(pod.uid)
        # Also when its host could not be asked: the folders are this machine's.
        ConfigVolumes(ctx.runtime.volumes_dir).remove_pod(pod.uid)
        for claim in self._claims(pod).values():
            if claim.deletion_timestamp is not None:
                ctx.enqueue(CLAIM, (claim.namespace, claim.name))
        if pod.owner is not None:
            ctx.expectations.deletion_observed(self._owner_key(pod), pod.name)
        ctx.enqueue_related(pod, pod.labels)
        return Result.done()

    def _drain(self, pod: PodRecord, grace: int) -> float:
        """Seconds to wait before stopping a deleted pod that a service still routes to.

        Stopping a pod the moment it is marked fails every request the proxies send
        it until they apply the new Endpoints. So a serving pod is first taken out of
        its services' Endpoints (terminating pods are not endpoints), then keeps
        running until every live host's proxy acknowledged an endpoints revision
        without it (at most PROXY_ACK_TIMEOUT); all within the grace period, and not
        at all with grace 0.
        """
        uid = pod.uid
        running = pod.pod_ip and any(c.state == "running" for c in pod.containers)
        marked = pod.deletion_timestamp
        overdue = marked is None or self.ctx.clock() - marked >= timedelta(seconds=grace)
        if not running or grace <= 0 or overdue:
            self._left_endpoints.pop(uid, None)
            return 0.0
        if self._routed(pod):
            self.ctx.enqueue_related(pod, pod.labels)  # the service controller drops it
            return 0.1
        # Not routed now, but the service controller may have dropped it before this
        # first look (both hear of the deletion at once; `drain` marks pods from another
        # process): the proxies may still send it connections, so wait for their ack
        # either way. A pod no proxy knew of costs one read: they are not behind.
        if uid not in self._left_endpoints:
            # Read after the Endpoints without the pod: every revision from this one on
            # lacks it.
            self._left_endpoints[uid] = (time.monotonic(), self.ctx.store.endpoints_revision())
        since, revision = self._left_endpoints[uid]
        behind = self.ctx.store.proxies_behind(revision, PROXY_FRESH)
        if behind and time.monotonic() - since < PROXY_ACK_TIMEOUT:
            return 0.05
        if behind:
            log.warning("pod %s/%s: stopped although the proxies of %s did not acknowledge "
                        "endpoints revision %d within %.0f s", pod.namespace, pod.name,
                        ", ".join(behind), revision, PROXY_ACK_TIMEOUT)
        self._left_endpoints.pop(uid, None)
        return 0.0

    def _routed(self, pod: PodRecord) -> bool:
        """Whether any Endpoints of the pod's namespace lists the pod as ready."""
        for eps in self.ctx.store.list_endpoints(pod.namespace):
            for subset in eps.subsets:
                for addr in subset.get("addresses") or []:
                    ref = addr.get("targetRef") or {}
                    if ref.get("name") == pod.name or (
                        not ref and addr.get("ip") == pod.pod_ip
                    ):
                        return True
        return False

    @staticmethod
    def _owner_key(pod: PodRecord) -> str:
        assert pod.owner is not None
        return f"{pod.owner.kind}/{pod.namespace}/{pod.owner.name}"
