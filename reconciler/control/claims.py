"""The claim controller: removes a claim marked for deletion, its Docker volume first.

Keyed by (namespace, name) under CLAIM. Claims are made by the StatefulSet
controller and kept when their pods and even their set go, as Kubernetes keeps
PVCs; when a set's persistentVolumeClaimRetentionPolicy says Delete, that
controller marks them (`store.mark_claims_deleted`) and enqueues them here, as
does `reconciler delete pvc`. Like Kubernetes' pvc-protection finalizer, a
marked claim stays while a scheduled pod record mounts it (a pod not placed yet
never mounted it); then its volume is removed from the host that holds it and
the record deleted. A Ready host that fails the call is retried later; a host
that is NotReady or no longer registered cannot be asked, so only the record
goes and the volume stays on that machine (a warning event says so). The pod
controller enqueues a pod's marked claims when it deletes the pod record.
"""

from __future__ import annotations

import logging

from reconciler.api.records import ClaimRecord
from reconciler.control.context import Context
from reconciler.control.loop import Result, WorkKey
from reconciler.runtime.types import HostUnreachable
from reconciler.scheduling.volume_binding import claim_names

log = logging.getLogger(__name__)

CLAIM = "claim"
SOURCE = "persistentvolumeclaim-protection-controller"
# A marked claim still mounted is looked at again after this long, in case the
# pod controller's enqueue was missed (level-based: the re-read decides).
IN_USE_RETRY = 5.0


class ClaimController:
    """Reconciles one claim by (namespace, name); see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def reconcile(self, key: WorkKey) -> Result:
        if not isinstance(key.id, tuple) or len(key.id) != 2:
            return Result.done()
        ctx = self.ctx
        claim = ctx.store.get_claim(str(key.id[0]), str(key.id[1]))
        if claim is None or claim.deletion_timestamp is None:
            return Result.done()
        if self._in_use(claim):
            return Result.after(IN_USE_RETRY)
        if claim.node_name:
            node = ctx.store.get_node(claim.node_name)
            if node is not None and not node.ready:
                # Asked to go while its host is down (the way to let a member whose host is
                # lost start elsewhere): the record goes now, the volume stays on that host.
                ctx.event("PersistentVolumeClaim", claim.namespace, claim.name, "Warning",
                          "VolumeLeftOnNode", f"node {node.name} is not ready: Docker volume "
                          f"{claim.volume} is left on it", SOURCE, uid=claim.uid)
            elif node is not None:
                try:
                    ctx.agent(node).remove_volume(claim.volume)
                except HostUnreachable as e:
                    log.info("claim %s/%s: node %s unreachable, retrying: %s",
                             claim.namespace, claim.name, node.name, e)
                    return Result.after(ctx.settings.heartbeat_interval)
            else:
                log.warning("claim %s/%s: node %s is no longer registered; volume %s is left"
                            " on it", claim.namespace, claim.name, claim.node_name, claim.volume)
        ctx.store.delete_claim(claim.namespace, claim.name)
        return Result.done()

    def _in_use(self, claim: ClaimRecord) -> bool:
        """Used by a scheduled pod: one not placed yet never mounted it (as pvc-protection)."""
        return any(p.node_name and claim.name in claim_names(p.spec)
                   for p in self.ctx.store.list_pods(claim.namespace))
