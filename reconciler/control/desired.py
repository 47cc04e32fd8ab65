"""The desired-state controller: folder -> validated objects -> store, then wake what changed.

First stage of the control flow. One key (`desired`) stands for the whole
folder: a burst of file events, a new git revision or the periodic resync all
enqueue it, and the queue coalesces them into one pass. A pass loads the folder
(re-parsing only changed files), diffs it with what the store recorded, applies
the plan in one transaction, turns Pod manifests into pod records, and enqueues
the controllers of every object that changed. Objects of a file that fails to
load stay as they were (marked stale): a typo never prunes a running workload.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from pathlib import Path

from reconciler.api.records import PodRecord
from reconciler.api.types import JSON, DesiredObject, Key, LoadResult
from reconciler.control.context import (
    DESIRED,
    NODE,
    REPLICATED_KINDS,
    REPLICATION,
    SERVICE,
    STATEFULSET,
    Context,
)
from reconciler.control.loop import Result, WorkKey
from reconciler.manifests.loader import FolderLoader
from reconciler.planning.diff import Plan, diff
from reconciler.runtime.naming import container_hash

log = logging.getLogger(__name__)

DESIRED_KEY = WorkKey(DESIRED, "all")


def spec_hash(spec: JSON) -> str:
    """The hash that, when it changes, means the pod's containers must be replaced."""
    return container_hash(spec)


def pod_from_manifest(
    obj: DesiredObject, uid: str, revision: str, now_: datetime
) -> PodRecord:
    meta = obj.body.get("metadata", {})
    spec = obj.body.get("spec", {})
    return PodRecord(
        uid=uid,
        namespace=obj.key.namespace,
        name=obj.key.name,
        spec=spec,
        spec_hash=spec_hash(spec),
        created_at=now_,
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        source="manifest",
        revision=revision,
    )


class DesiredController:
    """Reconciles the folder as a whole; see the module docstring."""

    def __init__(self, ctx: Context, root: Path) -> None:
        self.ctx = ctx
        self.loader = FolderLoader(root)
        self.last: LoadResult | None = None

    def set_root(self, root: Path) -> None:
        """Point at another folder (a new git checkout, a reloaded configuration)."""
        self.loader = FolderLoader(root)

    def reconcile(self, key: WorkKey) -> Result:
        result = self.loader.load()
        self.last = result
        return self.apply(result)

    def apply(self, result: LoadResult) -> Result:
        ctx = self.ctx
        for d in result.diagnostics:
            if d.severity == "error":
                log.error("%s", d.render())
        plan = diff(result, ctx.store.recorded(), result.failed_files)
        ctx.store.apply_plan(plan, revision=ctx.revision or "folder", now=ctx.clock())
        self._report_failures(result)
        self._sync_manifest_pods(plan)
        self._wake(plan)
        return Result.done()

    def _report_failures(self, result: LoadResult) -> None:
        """An event per invalid file, on each object it last declared, so `describe` says why."""
        if not result.failed_files:
            return
        by_file: dict[str, list[str]] = {}
        for d in result.errors:
            by_file.setdefault(d.position.file, []).append(d.render())
        for obj in self.ctx.store.objects():
            if obj.source_file in by_file:
                uid = obj.uid
                if obj.key.kind == "Pod":
                    # `describe pod` matches events by the pod's uid, not the manifest's.
                    pod = self.ctx.store.get_pod(obj.key.namespace, obj.key.name)
                    uid = pod.uid if pod is not None else ""
                self.ctx.event(
                    obj.key.kind,
                    obj.key.namespace,
                    obj.key.name,
                    "Warning",
                    "InvalidManifest",
                    "last valid version kept: " + "; ".join(by_file[obj.source_file][:3]),
                    "reconciler",
                    uid=uid,
                )

    def _sync_manifest_pods(self, plan: Plan) -> None:
        """Pod manifests become pod records; labels change in place, a new spec replaces containers.

        Unchanged manifests are looked at too: a pod record that is gone (evicted,
        removed by hand from the store) is declared again.
        """
        ctx = self.ctx
        changes = [c for c in plan.changes if c.key.kind == "Pod"]
        if not changes:
            return
        now_ = ctx.clock()
        pods = {(p.namespace, p.name): p for p in ctx.store.list_pods() if p.source == "manifest"}
        for change in changes:
            existing = pods.get((change.key.namespace, change.key.name))
            if change.action == "delete":
                if existing is not None and existing.deletion_timestamp is None:
                    existing.deletion_timestamp = now_
                    ctx.store.patch_pod(existing, "deletion")
                    ctx.enqueue_pod(existing.uid)
                continue
            if change.action == "unchanged" and existing is not None:
                continue
            assert change.desired is not None
            if existing is not None and existing.deletion_timestamp is not None:
                continue  # declared again once the old one is gone
            fresh = pod_from_manifest(
                change.desired,
                existing.uid if existing else str(uuid.uuid4()),
                ctx.revision,
                existing.created_at if existing else now_,
            )
            if existing is None:
                ctx.store.upsert_pod(fresh)
                ctx.enqueue_pod(fresh.uid)
                ctx.enqueue_related(fresh)
                continue
            existing.labels = fresh.labels
            existing.annotations = fresh.annotations
            existing.revision = fresh.revision
            if existing.spec_hash != fresh.spec_hash:
                existing.spec = fresh.spec
                existing.spec_hash = fresh.spec_hash
            ctx.store.patch_pod(existing, "metadata", "spec")
            ctx.enqueue_pod(existing.uid)
            ctx.enqueue_related(existing)

    def _wake(self, plan: Plan) -> None:
        ctx = self.ctx
        for change in plan.changes:
            if change.action == "unchanged":
                continue
            k = change.key
            if k.kind in REPLICATED_KINDS:
                ctx.enqueue(REPLICATION, k)
            elif k.kind == "StatefulSet":
                ctx.enqueue(STATEFULSET, k)
            elif k.kind in ("Service", "Endpoints"):
                ctx.enqueue(SERVICE, Key("Service", k.namespace, k.name))
            elif k.kind == "Node":
                ctx.enqueue(NODE, k.name)
