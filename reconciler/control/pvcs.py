"""The claim manifest controller: a declared PersistentVolumeClaim becomes a claim record.

Keyed by the PersistentVolumeClaim object's Key (routed by
reconciler.control.registry). A standalone claim is then what a StatefulSet's
claims already are (docs/statefulsets.md): a Docker named volume, bound to the
host of the first pod that mounts it by `persistentVolumeClaim.claimName`,
after which the scheduler's volume binding keeps that pod (and any other using
the claim) on that host. Pods that waited for the claim (Pending with
`persistentvolumeclaim "x" not found`) are woken once it exists.

Removing the manifest keeps the claim and its data: a claim is deleted only by
`reconciler delete pvc NAME` (the claim controller then removes the volume when
no pod mounts it). Kubernetes would delete it with its volume; here a file
removed by mistake must not take data with it (docs/config.md).
"""

from __future__ import annotations

from reconciler.api.records import ClaimRecord
from reconciler.api.types import Key
from reconciler.control.context import Context
from reconciler.control.loop import Result, WorkKey
from reconciler.scheduling.volume_binding import claim_names

PVC = "persistentvolumeclaim"
KINDS = frozenset({"PersistentVolumeClaim"})
SOURCE = "persistentvolume-controller"


def claim_of(namespace: str, name: str, uid: str, body: dict[str, object]) -> ClaimRecord:
    """The claim record a PersistentVolumeClaim manifest declares."""
    spec = body.get("spec") or {}
    assert isinstance(spec, dict)
    meta = body.get("metadata") or {}
    assert isinstance(meta, dict)
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "")
    return ClaimRecord(namespace=namespace, name=name, uid=uid, owner=None,
                       storage=str(storage or ""),
                       access_modes=[str(m) for m in spec.get("accessModes") or []],
                       labels=dict(meta.get("labels") or {}))


class ClaimManifestController:
    """Reconciles one PersistentVolumeClaim manifest; see the module docstring."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def reconcile(self, key: WorkKey) -> Result:
        if not isinstance(key.id, Key) or key.id.kind not in KINDS:
            return Result.done()
        ctx, k = self.ctx, key.id
        obj = ctx.store.get_object(k)
        if obj is None:
            return Result.done()  # kept with its data; see the module docstring
        existing = ctx.store.get_claim(k.namespace, k.name)
        if existing is not None and existing.owner is not None:
            ctx.event("PersistentVolumeClaim", k.namespace, k.name, "Warning", "ClaimTaken",
                      f"claim {k.name} belongs to {existing.owner.kind} {existing.owner.name}; "
                      "the manifest is not applied to it", SOURCE, uid=obj.uid)
            return Result.done()
        if existing is None:
            ctx.store.ensure_claims([claim_of(k.namespace, k.name, obj.uid, obj.body)])
        for pod in ctx.store.list_pods(namespace=k.namespace, containers=False):
            if not pod.node_name and k.name in claim_names(pod.spec):
                ctx.enqueue_pod(pod.uid)
        return Result.done()
