"""Deployments on the read side: their ReplicaSets, revisions, rollout progress and describe text.

Part of the read side's presentation (`reconciler.views`), shared by `reconciler
get deploy`, `describe deployment`, `rollout status|history|undo` and the
dashboard. The deployment controller writes the Deployment's status
(Kubernetes' DeploymentStatus) and owns ReplicaSets named
`<deployment>-<pod-template-hash>`, stored as objects with an ownerReference
to the Deployment's uid and Kubernetes' revision annotation; everything here
reads those records and never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reconciler.api.selectors import from_label_selector
from reconciler.api.types import JSON, Key
from reconciler.planning import deployment as plan
from reconciler.store.reader import ReadStore
from reconciler.store.records import ObjectRecord
from reconciler.views import output
from reconciler.views.describe_statefulset import pod_template_section
from reconciler.views.sections import Describer, events_section, when

TIMED_OUT = "ProgressDeadlineExceeded"


def annotations_of(o: ObjectRecord) -> dict[str, str]:
    return dict((o.body.get("metadata") or {}).get("annotations") or {})


def replica_sets(store: ReadStore, deployment: ObjectRecord) -> list[ObjectRecord]:
    """The ReplicaSets the Deployment controls (ownerReference by uid), oldest revision first."""
    owned: list[ObjectRecord] = plan.owned_replica_sets(
        deployment.uid, store.objects("ReplicaSet", deployment.key.namespace))
    return sorted(owned, key=lambda rs: (plan.revision_of(rs.body), rs.key.name))


def split_new_old(deployment: ObjectRecord,
                  owned: list[ObjectRecord]) -> tuple[ObjectRecord | None, list[ObjectRecord]]:
    """The new ReplicaSet (its template is the Deployment's) and the old ones."""
    body = plan.new_replica_set(deployment.body, [rs.body for rs in owned])
    new = next((rs for rs in owned if rs.body is body), None)
    return new, [rs for rs in owned if rs is not new]


def replica_sets_text(rss: list[ObjectRecord]) -> str:
    """kubectl's printReplicaSetsByLabels: `name (current/desired replicas created)`."""
    if not rss:
        return output.NONE
    return ", ".join(
        f"{rs.key.name} ({(rs.status or {}).get('replicas', 0)}/"
        f"{(rs.body.get('spec') or {}).get('replicas', 1)} replicas created)" for rs in rss)


@dataclass(frozen=True)
class Rollout:
    """Where a rollout stands, in kubectl's `rollout status` words."""

    message: str
    done: bool
    failed: bool


def rollout_state(o: ObjectRecord) -> Rollout:
    """kubectl's DeploymentStatusViewer over the recorded generation and status."""
    name = o.key.name
    spec, status = o.body.get("spec") or {}, o.status or {}
    if o.generation > int(status.get("observedGeneration", 0)):
        return Rollout("Waiting for deployment spec update to be observed...", False, False)
    for c in status.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == TIMED_OUT:
            return Rollout(f'deployment "{name}" exceeded its progress deadline', False, True)
    want = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    total = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0))
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < want:
        return Rollout(f"{waiting}{updated} out of {want} new replicas have been updated...",
                       False, False)
    if total > updated:
        return Rollout(f"{waiting}{total - updated} old replicas are pending termination...",
                       False, False)
    if available < updated:
        return Rollout(f"{waiting}{available} of {updated} updated replicas are available...",
                       False, False)
    return Rollout(f'deployment "{name}" successfully rolled out', True, False)


def strategy_text(spec: JSON) -> tuple[str, str | None]:
    """StrategyType and kubectl's RollingUpdateStrategy line (None for Recreate)."""
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type", "RollingUpdate")
    if kind != "RollingUpdate":
        return kind, None
    ru = strategy.get("rollingUpdate") or {}
    return kind, (f"{ru.get('maxUnavailable', '25%')} max unavailable, "
                  f"{ru.get('maxSurge', '25%')} max surge")


def describe_deployment(store: ReadStore, key: Key, now: datetime) -> str | None:
    """The text of `kubectl describe deployment`, or None when it is not recorded."""
    o = store.get_object(key)
    if o is None:
        return None
    spec, status = o.body.get("spec") or {}, o.status or {}
    meta = o.body.get("metadata") or {}
    new, old = split_new_old(o, replica_sets(store, o))
    notes = dict(meta.get("annotations") or {})
    if new is not None and plan.REVISION in annotations_of(new):
        # Kubernetes keeps the revision on the Deployment too; here the manifest is
        # never written, so it is shown from the new ReplicaSet.
        notes[plan.REVISION] = annotations_of(new)[plan.REVISION]
    d = Describer()
    d.pair(0, "Name", key.name)
    d.pair(0, "Namespace", key.namespace)
    d.pair(0, "CreationTimestamp", when(o.created_at))
    d.multi(0, "Labels", [f"{k}={v}" for k, v in sorted((meta.get("labels") or {}).items())])
    d.multi(0, "Annotations", [f"{k}: {v}" for k, v in sorted(notes.items())])
    d.pair(0, "Selector", str(from_label_selector(spec.get("selector"))) or output.NONE)
    d.pair(0, "Replicas", "{} desired | {} updated | {} total | {} available | {} unavailable"
           .format(spec.get("replicas", 1), status.get("updatedReplicas", 0),
                   status.get("replicas", 0), status.get("availableReplicas", 0),
                   status.get("unavailableReplicas", 0)))
    kind, rolling = strategy_text(spec)
    d.pair(0, "StrategyType", kind)
    d.pair(0, "MinReadySeconds", spec.get("minReadySeconds", 0))
    if rolling is not None:
        d.pair(0, "RollingUpdateStrategy", rolling)
    if o.stale:
        d.pair(0, "Stale", f"yes: {o.source_file} has errors; this is the last valid version")
    pod_template_section(d, spec.get("template") or {})
    conditions = status.get("conditions") or []
    if conditions:
        d.line(0, "Conditions:")
        d.table(1, ("Type", "Status", "Reason"),
                [[c.get("type", ""), c.get("status", ""), c.get("reason", "")]
                 for c in conditions])
    # As kubectl (FindOldReplicaSets' required ones): old sets still asked for replicas.
    d.pair(0, "OldReplicaSets", replica_sets_text(
        [rs for rs in old if (rs.body.get("spec") or {}).get("replicas", 1)]))
    d.pair(0, "NewReplicaSet", replica_sets_text([new] if new is not None else []))
    events_section(d, store.list_events(key.namespace, "Deployment", key.name), now)
    return d.render()
