"""The desired-state controller: folder -> validated objects -> store, then wake what changed.

First stage of the control flow. One key (`desired`) stands for the whole
folder: a burst of file events, a new git revision or the periodic resync all
enqueue it, and the queue coalesces them into one pass. A pass loads the folder
(re-parsing only changed files), diffs it with what the store recorded, applies
the plan and turns Pod manifests into pod records in one transaction (a pass
killed half-way leaves nothing behind), and then enqueues the controllers of
every object that changed. Objects of a file that fails to
load stay as they were (marked stale): a typo never prunes a running workload.
What a pass applies that has no effect here (reconciler.manifests.effects) is an
event on its object, and a count in the desired-source component (`get cs`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from reconciler.api.records import PodRecord
from reconciler.api.types import JSON, DesiredObject, Key, LoadResult
from reconciler.control.cache import Cache
from reconciler.control.cache_records import copy_pod
from reconciler.control.context import DESIRED, Context
from reconciler.control.loop import Result, WorkKey
from reconciler.control.sourceguard import COMPONENT, emptied_elsewhere, hold_partial
from reconciler.manifests.loader import FolderLoader
from reconciler.planning.diff import Plan, diff
from reconciler.planning.immutable import hold_immutable
from reconciler.runtime.naming import container_hash
from reconciler.sources.folder import load_revision
from reconciler.sources.sops import SopsDecryptor

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


@dataclass
class _Wake:
    """What a pass wakes once its transaction has committed."""

    pods: list[str] = field(default_factory=list)
    # Each with the labels it had before the pass (a new pod: its own).
    related: list[tuple[PodRecord, dict[str, str]]] = field(default_factory=list)


class DesiredController:
    """Reconciles the folder as a whole; see the module docstring."""

    def __init__(self, ctx: Context, root: Path) -> None:
        self.ctx = ctx
        self.loader = FolderLoader(root, decrypt=self._decrypt())
        self.last: LoadResult | None = None
        # The folder revision recorded last and its st_dev; None: not read yet.
        self._folder_revision: tuple[str, int | None] | None = None
        # Per unchanged Pod manifest found in line with its pod record: (the manifest's
        # content hash, the record's uid and cache version). Equal again: nothing of
        # either changed, so the check would again find nothing to do.
        self._pods_checked: dict[Key, tuple[str, str, int]] = {}
        self._recheck = False  # forget_memos: the next pass checks every Pod manifest
        # The last pass that found nothing to do: the load it applied (the loader hands
        # back the same result while no file changed), the cache's resource version and
        # the source revision it saw. All three the same again: so is the pass's outcome.
        self._quiet: tuple[LoadResult, int, str] | None = None

    def _decrypt(self) -> SopsDecryptor:
        """Opens SOPS-encrypted files of the folder or git checkout (secrets.sops_age_key_file)."""
        return SopsDecryptor(self.ctx.settings.sops_age_key_file)

    def forget_memos(self) -> None:
        """`reconciler sync`: the next pass reads every file again and checks every Pod
        manifest's record, whatever the stats and versions say."""
        self._recheck = True
        self._quiet = None
        self.loader.forget_stats()

    def set_root(self, root: Path) -> None:
        """Point at another folder (a new git checkout, a reloaded configuration)."""
        self.loader = FolderLoader(root, decrypt=self._decrypt())

    def reconcile(self, key: WorkKey) -> Result:
        result = self.loader.load()
        self.last = result
        return self.apply(result)

    def apply(self, result: LoadResult) -> Result:
        ctx = self.ctx
        cache = ctx.synced_cache
        quiet = self._quiet
        if (quiet is not None and quiet[0] is result and cache is not None
                and quiet[1:] == (cache.resource_version, ctx.revision) and not self._recheck):
            # No file, no recorded object or pod changed since a pass that did nothing:
            # the diff, the Pod-manifest check and the transaction would do nothing again.
            return Result.done()
        self._quiet = None
        at = cache.resource_version if cache is not None else 0
        # A partial read (folder gone, EIO, a file vanished) applies nothing, nor does a
        # folder emptied by its mount going: see sourceguard. (A commit that empties the
        # tree is deliberate: git revisions are not held for it.)
        emptied = (self._emptied(result.device, cache)
                   if not ctx.revision and result.complete and not result.files else None)
        if (held := hold_partial(ctx, result, emptied=emptied)) is not None:
            return held
        for d in result.diagnostics:
            if d.severity == "error":
                log.error("%s", d.render())
        # One transaction for the objects and the pod records derived from them: a pass
        # that fails or is killed half-way leaves the store as it was, and the next pass
        # sees the same changes again (never "unchanged" with the pods not yet written).
        wake = _Wake()
        with ctx.store.batch():
            # The recorded objects from the cache when there is one (decoding every body
            # from SQL was half of a no-op desired pass): every own write is in it once
            # committed, and passes run one at a time. Another process's write not yet
            # relisted makes this pass plan from the older view; the relist then enqueues
            # another pass.
            recorded = cache.recorded(copy=False) if cache is not None else ctx.store.recorded()
            plan, refused = hold_immutable(diff(result, recorded, result.failed_files))
            for key, why in refused:
                ctx.event(key.kind, key.namespace, key.name, "Warning", "Immutable", why,
                          "reconciler")
            ctx.store.apply_plan(plan, revision=ctx.revision or "folder", now=ctx.clock())
            if not ctx.revision:  # a folder source; the git gate records its SHA itself
                self._record_folder_revision(result)
            self._report_failures(result)
            self._sync_manifest_pods(plan, wake)
            self._report_no_effect(plan)
        # Only once committed: a worker woken earlier would read the store without the pass.
        for uid in wake.pods:
            ctx.enqueue_pod(uid)
        for pod, previous in wake.related:
            ctx.enqueue_related(pod, previous)
        self._wake(plan)
        if (cache is not None and cache.resource_version == at and not refused
                and not wake.pods and not wake.related and not result.failed_files
                and not result.errors
                and all(c.action == "unchanged" for c in plan.changes)):
            # Clean and idle (a folder with errors is logged and reported on every pass).
            self._quiet = (result, at, ctx.revision)
        noted = sum(1 for obj in result.objects if obj.notes)
        if noted:
            # Healthy, and never silent: `get cs` says how much of the folder nothing acts on.
            ctx.components[COMPONENT] = (True, f"read whole: {len(result.objects)} objects, "
                                         f"{noted} with something that has no effect here "
                                         "(see `reconciler validate`)")
        return Result.done()

    def _record_folder_revision(self, result: LoadResult) -> None:
        """Record the folder's content hash as the applied revision when it changed (in the
        pass's transaction), so `get revision` and the metrics are not git-only; a restart
        on the same folder adds no row, and the age keeps counting from the real change.
        The row keeps the folder's device, which the emptied-folder guard compares."""
        revision, device = load_revision(result), result.device
        recorded, recorded_device = self._applied()
        if revision != recorded:
            self.ctx.store.set_revision(revision, str(self.loader.root), self.ctx.clock(),
                                        device)
        elif device is not None and device != recorded_device:
            self.ctx.store.set_revision_device(device)  # the same files, moved or upgraded
        self._folder_revision = (revision, device if device is not None else recorded_device)

    def _applied(self) -> tuple[str, int | None]:
        """The folder revision recorded last and its device: read from the store once, then
        kept as this controller records them (it is the folder's only writer of them)."""
        if self._folder_revision is None:
            applied = self.ctx.store.revision()
            self._folder_revision = ((applied.revision, applied.device) if applied is not None
                                     else ("", None))
        return self._folder_revision

    def _emptied(self, device: int | None, cache: Cache | None) -> str | None:
        """`emptied_elsewhere`'s verdict on a folder with no manifest file (a rare pass)."""
        recorded = cache.recorded(copy=False) if cache is not None else self.ctx.store.recorded()
        return emptied_elsewhere(bool(recorded), device, self._applied()[1])

    def _report_no_effect(self, plan: Plan) -> None:
        """A NoEffect event on each created or changed object that holds something inert."""
        for change in plan.changes:
            obj = change.desired
            if obj is None or not obj.notes or change.action not in ("create", "update"):
                continue
            more = len(obj.notes) - 3
            self.ctx.event(obj.key.kind, obj.key.namespace, obj.key.name, "Warning", "NoEffect",
                           "; ".join(obj.notes[:3]) + (f" (+{more} more)" if more > 0 else ""),
                           "reconciler", uid=self._event_uid(obj.key))

    def _event_uid(self, key: Key) -> str:
        """The uid events of this object carry: a Pod's is its pod record's, as `describe
        pod` matches events by the pod's uid, not the manifest's; others match by name."""
        if key.kind != "Pod":
            return ""
        pod = self.ctx.store.get_pod(key.namespace, key.name)
        return pod.uid if pod is not None else ""

    def _report_failures(self, result: LoadResult) -> None:
        """An event per invalid file, on each object it last declared, so `describe` says why."""
        if not result.failed_files:
            return
        by_file: dict[str, list[str]] = {}
        for d in result.errors:
            by_file.setdefault(d.position.file, []).append(d.render())
        for obj in self.ctx.store.objects():
            if obj.source_file in by_file:
                uid = self._event_uid(obj.key) if obj.key.kind == "Pod" else obj.uid
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

    def _sync_manifest_pods(self, plan: Plan, wake: _Wake) -> None:
        """Pod manifests become pod records; labels change in place, a new spec replaces containers.

        Idempotent by construction: every declared Pod is compared with its pod record
        on every pass, not only the changed ones, so a record that is missing (evicted,
        removed from the store), behind its manifest, or left undeleted is put right by
        the next pass whatever happened before. A name held by another pod (a
        controller's) is not taken over: the first holder keeps it, and the manifest
        gets a FailedCreate event, as the API server answers AlreadyExists.
        """
        ctx = self.ctx
        now_ = ctx.clock()
        declared = {c.key: c for c in plan.changes if c.key.kind == "Pod" and c.action != "delete"}
        kept = {r.key for r in plan.stale if r.key.kind == "Pod"}  # a failed file keeps its pods
        # From the cache when synced, as `recorded` above (decoding every pod row from SQL
        # was a fifth of a no-op pass): its own records, so copied before being changed.
        cache = ctx.synced_cache
        # A pod changed after this mark is not the record compared below: not remembered.
        mark = cache.resource_version if cache is not None else 0
        pods = (cache.pods(copy=False) if cache is not None
                else ctx.store.list_pods(containers=False))
        by_name = {(p.namespace, p.name): p for p in pods}
        recheck, self._recheck = self._recheck, False
        checked = {} if recheck else self._pods_checked
        self._pods_checked = {}
        for pod in pods:
            key = Key("Pod", pod.namespace, pod.name)
            if (pod.source == "manifest" and pod.deletion_timestamp is None
                    and key not in declared and key not in kept):
                pod = copy_pod(pod)
                pod.deletion_timestamp = now_
                ctx.store.patch_pod(pod, "deletion")
                wake.pods.append(pod.uid)
        for key, change in declared.items():
            assert change.desired is not None
            existing = by_name.get((key.namespace, key.name))
            if existing is not None and existing.source != "manifest":
                if existing.deletion_timestamp is None:
                    self._name_taken(change.desired, existing)
                continue
            if existing is not None and existing.deletion_timestamp is not None:
                continue  # declared again once the old one is gone
            seen = None
            version = cache.version(existing.uid) if existing and cache is not None else 0
            if existing is not None and change.action == "unchanged" and 0 < version <= mark:
                seen = (change.desired.content_hash, existing.uid, version)
                if checked.get(key) == seen:
                    self._pods_checked[key] = seen
                    continue
            fresh = pod_from_manifest(
                change.desired,
                existing.uid if existing else str(uuid.uuid4()),
                ctx.revision,
                existing.created_at if existing else now_,
            )
            if existing is None:
                for holder in ctx.store.create_pods([fresh]):
                    self._name_taken(change.desired, holder)
                    break
                else:
                    wake.pods.append(fresh.uid)
                    wake.related.append((fresh, fresh.labels))
                continue
            meta = (existing.labels == fresh.labels and existing.annotations == fresh.annotations)
            if change.action == "unchanged":
                # An adopted Pod's labels are its owner's to keep (a StatefulSet adds the
                # pod-name label): compared only when its manifest changed.
                same = existing.spec_hash == fresh.spec_hash and (
                    meta or existing.owner is not None)
            else:
                same = (meta and existing.spec_hash == fresh.spec_hash
                        and existing.revision == fresh.revision)
            if same:
                if seen is not None:
                    self._pods_checked[key] = seen
                continue
            existing = copy_pod(existing)
            previous = existing.labels
            existing.labels = fresh.labels
            existing.annotations = fresh.annotations
            existing.revision = fresh.revision
            if existing.spec_hash != fresh.spec_hash:
                existing.spec = fresh.spec
                existing.spec_hash = fresh.spec_hash
            ctx.store.patch_pod(existing, "metadata", "spec")
            wake.pods.append(existing.uid)
            wake.related.append((existing, previous))

    def _name_taken(self, obj: DesiredObject, holder: PodRecord) -> None:
        """A Pod manifest whose name another pod holds: an error, never a replacement."""
        by = f" by {holder.owner.kind} {holder.owner.name}" if holder.owner else ""
        self.ctx.event(
            "Pod", obj.key.namespace, obj.key.name, "Warning", "FailedCreate",
            f"create Pod {obj.key.name} from {obj.position.file} failed error: "
            f'pods "{obj.key.name}" already exists (held{by})',
            "reconciler",
        )

    def _wake(self, plan: Plan) -> None:
        # The registry imports this module: imported here, not at the top.
        from reconciler.control.registry import REGISTRY

        for change in plan.changes:
            if change.action != "unchanged":
                REGISTRY.route(self.ctx, change.key)
