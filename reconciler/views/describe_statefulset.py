"""`reconciler describe statefulset NAME`: kubectl's describeStatefulSet layout, from the store.

Part of the read side's presentation, called by `reconciler.views.describe`
(for the CLI and the dashboard); its own module because a StatefulSet adds an
update strategy and volume claim templates to what `describe rc` prints. Pods
Status counts the set's own pods (selected and controlled by it), as kubectl's
getPodStatusForController does.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.api.records import PodRecord
from reconciler.api.selectors import Selector, from_label_selector
from reconciler.api.types import JSON, Key
from reconciler.store.reader import ReadStore
from reconciler.views import output
from reconciler.views.sections import (
    Describer,
    env_section,
    events_section,
    meta_section,
    mounts_section,
    pods_status,
    ports_text,
    stale_line,
    volumes_section,
    when,
)


def describe_statefulset(store: ReadStore, key: Key, now: datetime) -> str | None:
    """The text of `kubectl describe statefulset`, or None when the set is not recorded."""
    o = store.get_object(key)
    if o is None:
        return None
    spec = o.body.get("spec") or {}
    meta = o.body.get("metadata") or {}
    status = o.status or {}
    selector = from_label_selector(spec.get("selector"))
    pods = controlled_pods(store, key.namespace, selector, o.uid)
    d = Describer()
    d.pair(0, "Name", key.name)
    d.pair(0, "Namespace", key.namespace)
    d.pair(0, "CreationTimestamp", when(o.created_at))
    d.pair(0, "Selector", str(selector) or output.NONE)
    meta_section(d, meta)
    d.pair(0, "Replicas", f"{spec.get('replicas', 1)} desired | {status.get('replicas', 0)} total")
    strategy = spec.get("updateStrategy") or {}
    d.pair(0, "Update Strategy", strategy.get("type", "RollingUpdate"))
    rolling = strategy.get("rollingUpdate")
    if rolling is not None and "partition" in rolling:
        d.pair(1, "Partition", rolling["partition"])
    pods_status(d, pods)
    stale_line(d, o.stale, o.source_file)
    pod_template_section(d, spec.get("template") or {})
    _claim_templates(d, spec.get("volumeClaimTemplates") or [])
    events_section(d, store.list_events(key.namespace, key.kind, key.name), now)
    return d.render()


def controlled_pods(store: ReadStore, namespace: str, selector: Selector,
                    owner_uid: str) -> list[PodRecord]:
    """The set's own pods: selected and controlled by it (kubectl's
    getPodStatusForController)."""
    return [p for p in store.list_pods(namespace, selector.matches)
            if p.owner is not None and p.owner.uid == owner_uid]


def pod_template_section(d: Describer, template: JSON) -> None:
    """DescribePodTemplate: labels, containers with their mounts, volumes."""
    d.line(0, "Pod Template:")
    labels = (template.get("metadata") or {}).get("labels") or {}
    d.multi(1, "Labels", [f"{k}={v}" for k, v in sorted(labels.items())])
    pod = template.get("spec") or {}
    d.line(1, "Containers:")
    for c in pod.get("containers") or []:
        d.line(2, f"{c.get('name')}:")
        d.pair(3, "Image", c.get("image", ""))
        d.pair(3, "Port", ports_text(c))
        env_section(d, 3, c)
        mounts_section(d, 3, c)
    volumes_section(d, 1, pod.get("volumes") or [])


def _claim_templates(d: Describer, templates: list[JSON]) -> None:
    """describeVolumeClaimTemplates: one block per template."""
    if not templates:
        d.pair(0, "Volume Claims", output.NONE)
        return
    d.line(0, "Volume Claims:")
    for t in templates:
        meta = t.get("metadata") or {}
        tspec = t.get("spec") or {}
        d.pair(1, "Name", meta.get("name", ""))
        d.pair(1, "StorageClass", tspec.get("storageClassName", ""))
        d.multi(1, "Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
        d.multi(1, "Annotations",
                [f"{k}: {v}" for k, v in sorted((meta.get("annotations") or {}).items())])
        storage = ((tspec.get("resources") or {}).get("requests") or {}).get("storage")
        d.pair(1, "Capacity", storage if storage is not None else "<default>")
        d.pair(1, "Access Modes", "[" + " ".join(tspec.get("accessModes") or []) + "]")
