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
from reconciler.views.describe_statefulset import controlled_pods, pod_template_section
from reconciler.views.sections import (
    Describer,
    events_section,
    meta_section,
    pods_status,
    stale_line,
)


def describe_daemonset(store: ReadStore, key: Key, now: datetime) -> str | None:
    """The text of `kubectl describe daemonset`, or None when the set is not recorded."""
    o = store.get_object(key)
    if o is None:
        return None
    spec = o.body.get("spec") or {}
    meta = o.body.get("metadata") or {}
    status = o.status or {}
    selector = from_label_selector(spec.get("selector"))
    pods = controlled_pods(store, key.namespace, selector, o.uid)
    template = spec.get("template") or {}
    node_selector = (template.get("spec") or {}).get("nodeSelector") or {}
    d = Describer()
    d.pair(0, "Name", key.name)
    d.pair(0, "Namespace", key.namespace)
    d.pair(0, "Selector", str(selector) or output.NONE)
    d.pair(0, "Node-Selector",
           ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or output.NONE)
    meta_section(d, meta)
    for label, field in (
            ("Desired Number of Nodes Scheduled", "desiredNumberScheduled"),
            ("Current Number of Nodes Scheduled", "currentNumberScheduled"),
            ("Number of Nodes Scheduled with Up-to-date Pods", "updatedNumberScheduled"),
            ("Number of Nodes Scheduled with Available Pods", "numberAvailable"),
            ("Number of Nodes Misscheduled", "numberMisscheduled")):
        d.pair(0, label, status.get(field, 0))
    pods_status(d, pods)
    strategy = spec.get("updateStrategy") or {}
    d.pair(0, "Update Strategy", strategy.get("type", "RollingUpdate"))
    stale_line(d, o.stale, o.source_file)
    pod_template_section(d, template)
    events_section(d, store.list_events(key.namespace, key.kind, key.name), now)
    return d.render()
