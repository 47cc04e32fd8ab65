"""`reconciler describe daemonset NAME`: kubectl's describeDaemonSet layout, from the store.

Part of the read side's presentation, called by `reconciler.views.describe`
(for the CLI and the dashboard). The node counts are the status the DaemonSet
controller (`reconciler.control.daemonsets`) writes; Pods Status counts the
set's own pods (selected and controlled by it), as kubectl's
getPodStatusForController does.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.api.selectors import from_label_selector
from reconciler.api.types import Key
from reconciler.store.reader import ReadStore
from reconciler.views import output
from reconciler.views.describe_statefulset import pod_template_section
from reconciler.views.sections import Describer, events_section


def describe_daemonset(store: ReadStore, key: Key, now: datetime) -> str | None:
    """The text of `kubectl describe daemonset`, or None when the set is not recorded."""
    o = store.get_object(key)
    if o is None:
        return None
    spec = o.body.get("spec") or {}
    meta = o.body.get("metadata") or {}
    status = o.status or {}
    selector = from_label_selector(spec.get("selector"))
    pods = [p for p in store.list_pods(key.namespace, selector.matches)
            if p.owner is not None and p.owner.uid == o.uid]
    template = spec.get("template") or {}
    node_selector = (template.get("spec") or {}).get("nodeSelector") or {}
    d = Describer()
    d.pair(0, "Name", key.name)
    d.pair(0, "Namespace", key.namespace)
    d.pair(0, "Selector", str(selector) or output.NONE)
    d.pair(0, "Node-Selector",
           ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or output.NONE)
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
    d.multi(0, "Annotations",
            [f"{k}: {v}" for k, v in sorted((meta.get("annotations") or {}).items())])
    for label, field in (
            ("Desired Number of Nodes Scheduled", "desiredNumberScheduled"),
            ("Current Number of Nodes Scheduled", "currentNumberScheduled"),
            ("Number of Nodes Scheduled with Up-to-date Pods", "updatedNumberScheduled"),
            ("Number of Nodes Scheduled with Available Pods", "numberAvailable"),
            ("Number of Nodes Misscheduled", "numberMisscheduled")):
        d.pair(0, label, status.get(field, 0))
    phases = [p.phase for p in pods]
    counts = [phases.count(x) for x in ("Running", "Pending", "Succeeded", "Failed")]
    d.pair(0, "Pods Status", "{} Running / {} Waiting / {} Succeeded / {} Failed".format(*counts))
    strategy = spec.get("updateStrategy") or {}
    d.pair(0, "Update Strategy", strategy.get("type", "RollingUpdate"))
    if o.stale:
        d.pair(0, "Stale", f"yes: {o.source_file} has errors; this is the last valid version")
    pod_template_section(d, template)
    events_section(d, store.list_events(key.namespace, key.kind, key.name), now)
    return d.render()
