"""The service controller: cluster IP and node ports allocated, endpoints computed and stored.

Keyed by the Service's Key. Sits after pod status: the pod controller wakes it
whenever a pod's readiness, address or labels change. The decision is pure
(`compute_endpoints`); this module only allocates in the store and writes. The
proxies and DNS servers of every host read what it writes (see
`reconciler.network.feed`).

A Service's status JSON holds what Kubernetes would have filled into its spec:
`{"clusterIP": "10.96.0.23" | "None" | "", "ports": [<spec port with nodePort>],
"type": ..., "error": "<allocation error>"}`.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

from reconciler.api.selectors import from_map
from reconciler.api.types import JSON, Key
from reconciler.control.cache import Cache
from reconciler.control.context import Context
from reconciler.control.loop import Result, WorkKey
from reconciler.control.unchanged import Unchanged, inputs
from reconciler.planning.allocation import AllocationError
from reconciler.planning.endpoints import compute_endpoints, endpoints_from_object

log = logging.getLogger(__name__)

SOURCE = "service-controller"


def owner_id(key: Key) -> str:
    return f"{key.namespace}/{key.name}"


def _inputs(cache: Cache, key: Key) -> Hashable:
    """What a Service's reconcile reads: it and its selected pods, or its manual Endpoints."""
    return (inputs(cache, key, cache.selector_of(key)),
            cache.version(Key("Endpoints", key.namespace, key.name)))


class ServiceController:
    """Reconciles one Service; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # What this process last allocated and wrote per Service: allocations and
        # Endpoints rows are written by this controller alone (one active instance per
        # store), so a resync whose Service and pods did not change writes and reads
        # nothing. A restart or a takeover starts empty and checks the store once.
        self._allocated: dict[Key, tuple[str, int, JSON]] = {}  # content hash, generation
        self._subsets: dict[Key, list[JSON]] = {}
        # Services whose last reconcile wrote nothing, with the inputs it read: the
        # Service's and its selected pods' cache versions (or the manual Endpoints').
        self._idle = Unchanged()

    def idle(self, id_: Hashable) -> bool:
        """True when reconciling `id_` now would do nothing (the resync then leaves it out)."""
        cache = self.ctx.cache
        if cache is None or not cache.synced or not isinstance(id_, Key):
            return False
        at = cache.resource_version  # before the inputs are read: see Unchanged.same
        if self._idle.unchanged_since(id_, at):
            return True
        return self._idle.same(id_, _inputs(cache, id_), at)

    def forget_memos(self) -> None:
        """`reconciler sync`: every next reconcile runs in full and reads the store's
        allocations and Endpoints again, as after a restart (see unchanged.py)."""
        self._idle.forget_all()
        self._allocated.clear()
        self._subsets.clear()

    def reconcile(self, key: WorkKey) -> Result:
        assert isinstance(key.id, Key)
        svc_key = key.id
        store = self.ctx.store
        cache = self.ctx.cache
        synced = cache if cache is not None and cache.synced else None
        seen = None
        epoch = self._idle.begin()
        at = synced.resource_version if synced is not None else None
        if synced is not None:
            seen = _inputs(synced, svc_key)
            if self._idle.same(svc_key, seen):
                return Result.done()
            self._idle.forget(svc_key)
        # Read only, never changed here: the cache's own record, not a copy.
        obj = synced.object(svc_key, copy=False) if synced is not None \
            else store.get_object(svc_key)
        if obj is None:
            self._idle.forget(svc_key)
            self._allocated.pop(svc_key, None)
            self._subsets.pop(svc_key, None)
            store.release_allocations(owner_id(svc_key))
            store.delete_endpoints(svc_key.namespace, svc_key.name)
            return Result.done()
        done = self._allocated.get(svc_key)
        if done is not None and done[:2] == (obj.content_hash, obj.generation) \
                and done[2] == (obj.status or {}):
            status = done[2]
        else:
            status = self._allocate(svc_key, obj.body)
            if status != (obj.status or {}):
                store.set_status(svc_key, status)
            if "error" not in status:
                self._allocated[svc_key] = (obj.content_hash, obj.generation, status)
        wrote = self._endpoints(svc_key, obj.body)
        if seen is not None and not wrote and svc_key in self._allocated:
            self._idle.remember(svc_key, seen, epoch, at)
        return Result.done()

    def _allocate(self, key: Key, body: JSON) -> JSON:
        spec = body.get("spec", {})
        type_ = spec.get("type", "ClusterIP")
        owner = owner_id(key)
        status: JSON = {"type": type_, "ports": []}
        store = self.ctx.store
        try:
            if type_ == "ExternalName":
                store.release_allocations(owner)
                status["clusterIP"] = ""
                return status
            requested = spec.get("clusterIP") or None
            if requested == "None":
                status["clusterIP"] = "None"
                store.release_allocations(owner, kind="cluster-ip")
            else:
                status["clusterIP"] = store.allocate_cluster_ip(
                    owner, self.ctx.settings.service_cidr, requested
                )
            wants_node_ports = type_ in ("NodePort", "LoadBalancer")
            held = store.allocations(owner)
            for i, port in enumerate(spec.get("ports", [])):
                port = dict(port)
                slot = str(port.get("name") or i)
                if wants_node_ports:
                    port["nodePort"] = store.allocate_node_port(
                        owner, slot, port.get("nodePort"), self.ctx.settings.node_port_range
                    )
                status["ports"].append(port)
            if not wants_node_ports and any(k.startswith("node-port/") for k in held):
                store.release_allocations(owner, kind="node-port")
        except AllocationError as e:
            status["error"] = str(e)
            self.ctx.event(
                "Service", key.namespace, key.name, "Warning", "FailedAllocation", str(e), SOURCE
            )
        return status

    def _endpoints(self, key: Key, body: JSON) -> bool:
        """Compute and store the Service's endpoints; False when nothing was written."""
        store = self.ctx.store
        spec = body.get("spec", {})
        if spec.get("type") == "ExternalName":
            store.delete_endpoints(key.namespace, key.name)
            return True
        cache = self.ctx.cache
        cached = cache is not None and cache.synced
        if spec.get("selector"):
            # Only the selected pods are loaded: a Service that selects a few of many pods
            # should not read every pod's containers on each reconcile.
            selector = from_map({str(k): str(v) for k, v in spec["selector"].items()})
            pods = (cache.pods(key.namespace, selector) if cache is not None and cached
                    else store.list_pods(namespace=key.namespace, selector=selector.matches))
            subsets = compute_endpoints(body, pods).to_subsets()
        else:
            # No selector: the Endpoints object of the same name from the folder, the
            # seed's "non-Kubernetes endpoints".
            manual_key = Key("Endpoints", key.namespace, key.name)
            manual = (cache.object(manual_key, copy=False) if cache is not None and cached
                      else store.get_object(manual_key))
            subsets = endpoints_from_object(manual.body).to_subsets() if manual else []
        if self._subsets.get(key) == subsets:
            return False
        current = store.get_endpoints(key.namespace, key.name)
        if current is None or current.subsets != subsets:
            store.set_endpoints(key.namespace, key.name, subsets, self.ctx.clock())
            for listener in self.ctx.endpoints_listeners:
                listener()
        self._subsets[key] = subsets
        return True
