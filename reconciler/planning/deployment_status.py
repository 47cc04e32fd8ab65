"""A Deployment's status and its Available and Progressing conditions, as plain JSON.

Part of the pure Deployment planner (`deployment_rollout.plan_deployment` calls
these after deciding the scale of each ReplicaSet). Mirrors
pkg/controller/deployment: calculateStatus (sync.go), syncRolloutStatus and
requeueStuckDeployment (progress.go), and util's DeploymentComplete,
DeploymentProgressing, DeploymentTimedOut, SetDeploymentCondition, with
Kubernetes' reasons and messages, so `describe` and `rollout status` read as
kubectl's do. Counts come from the ReplicaSets' pods as the planner counted them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.api.types import JSON
from reconciler.planning.deployment import DeploymentSpec, ReplicaSetState

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

# Reasons (deployment_util.go).
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
RS_UPDATED_REASON = "ReplicaSetUpdated"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"


def timestamp(t: datetime) -> str:
    """metav1.Time's JSON form: RFC 3339 in UTC, whole seconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: Any) -> datetime | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def condition(type_: str, status: str, reason: str, message: str, now: datetime) -> JSON:
    """util.NewDeploymentCondition."""
    t = timestamp(now)
    return {"type": type_, "status": status, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def get_condition(status: JSON, type_: str) -> JSON | None:
    for c in status.get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def remove_condition(status: JSON, type_: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != type_]


def set_condition(status: JSON, cond: JSON) -> None:
    """util.SetDeploymentCondition: same status and reason is no change; a kept status keeps
    its lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] \
            and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status["conditions"].append(cond)


def calculate_status(d: DeploymentSpec, all_rs: Sequence[ReplicaSetState],
                     new_rs: ReplicaSetState | None, old_status: JSON, now: datetime) -> JSON:
    """calculateStatus: counts over every ReplicaSet, conditions carried over, Available set."""
    available = sum(rs.available for rs in all_rs)
    total = sum(rs.replicas for rs in all_rs)
    status: JSON = {
        "observedGeneration": d.generation,
        "replicas": sum(rs.actual for rs in all_rs),
        "updatedReplicas": new_rs.actual if new_rs is not None else 0,
        "readyReplicas": sum(rs.ready for rs in all_rs),
        "availableReplicas": available,
        # More available than desired (scaling down) is not negative unavailability.
        "unavailableReplicas": max(0, total - available),
        "conditions": copy.deepcopy(list(old_status.get("conditions") or [])),
    }
    if old_status.get("collisionCount"):
        status["collisionCount"] = int(old_status["collisionCount"])
    if available >= d.replicas - d.max_unavailable:
        set_condition(status, condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE,
                                        "Deployment has minimum availability.", now))
    else:
        set_condition(status, condition(AVAILABLE, "False", MINIMUM_REPLICAS_UNAVAILABLE,
                                        "Deployment does not have minimum availability.", now))
    return status


def complete(d: DeploymentSpec, status: JSON) -> bool:
    """util.DeploymentComplete: every replica updated and available, the latest generation seen."""
    return (status.get("updatedReplicas") == d.replicas
            and status.get("replicas") == d.replicas
            and status.get("availableReplicas") == d.replicas
            and int(status.get("observedGeneration") or 0) >= d.generation)


def progressing(old: JSON, new: JSON) -> bool:
    """util.DeploymentProgressing: more updated, fewer old, more ready or more available."""
    def n(s: JSON, k: str) -> int:
        return int(s.get(k) or 0)

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(new, "replicas") - n(new, "updatedReplicas")
    return (n(new, "updatedReplicas") > n(old, "updatedReplicas") or new_old < old_old
            or n(new, "readyReplicas") > n(old, "readyReplicas")
            or n(new, "availableReplicas") > n(old, "availableReplicas"))


def timed_out(d: DeploymentSpec, status: JSON, now: datetime) -> bool:
    """util.DeploymentTimedOut: no progress recorded for progressDeadlineSeconds."""
    if not d.has_progress_deadline:
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    since = parse_timestamp(cond.get("lastUpdateTime"))
    assert d.progress_deadline_seconds is not None
    return since is not None and since + timedelta(seconds=d.progress_deadline_seconds) < now


def rollout_status(d: DeploymentSpec, all_rs: Sequence[ReplicaSetState],
                   new_rs: ReplicaSetState | None, old_status: JSON, now: datetime) -> JSON:
    """syncRolloutStatus: the status plus Progressing as Kubernetes moves it."""
    status = calculate_status(d, all_rs, new_rs, old_status, now)
    if not d.has_progress_deadline:
        remove_condition(status, PROGRESSING)
    current = get_condition(old_status, PROGRESSING)
    done = (status["replicas"] == status["updatedReplicas"] and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE_REASON)
    if d.has_progress_deadline and not done:
        subject = (f'ReplicaSet "{new_rs.name}"' if new_rs is not None
                   else f'Deployment "{d.name}"')
        if complete(d, status):
            set_condition(status, condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON,
                                            f"{subject} has successfully progressed.", now))
        elif progressing(old_status, status):
            cond = condition(PROGRESSING, "True", RS_UPDATED_REASON,
                             f"{subject} is progressing.", now)
            # Progress moves lastUpdateTime even when the reason stays (the deadline counts
            # from the last progress), so the condition is replaced, not merged.
            now_cond = get_condition(status, PROGRESSING)
            if now_cond is not None:
                if now_cond.get("status") == "True":
                    cond["lastTransitionTime"] = now_cond.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, cond)
        elif timed_out(d, status, now):
            set_condition(status, condition(PROGRESSING, "False", TIMED_OUT_REASON,
                                            f"{subject} has timed out progressing.", now))
    return status


def requeue_stuck(d: DeploymentSpec, status: JSON, now: datetime) -> timedelta | None:
    """requeueStuckDeployment: when to look again so the deadline is noticed on time."""
    cond = get_condition(status, PROGRESSING)
    if not d.has_progress_deadline or cond is None:
        return None
    if complete(d, status) or cond.get("reason") == TIMED_OUT_REASON:
        return None
    since = parse_timestamp(cond.get("lastUpdateTime"))
    if since is None:
        return None
    assert d.progress_deadline_seconds is not None
    after = since + timedelta(seconds=d.progress_deadline_seconds) - now
    if after < timedelta(seconds=1):
        return timedelta(0)
    return after + timedelta(seconds=1)


def paused_condition(d: DeploymentSpec, status: JSON, now: datetime) -> None:
    """checkPausedConditions: Progressing Unknown while paused, DeploymentResumed after."""
    if not d.has_progress_deadline:
        return
    cond = get_condition(status, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT_REASON:
        return  # a reported lack of progress is not hidden by a pause
    paused_exists = cond is not None and cond.get("reason") == PAUSED_REASON
    if d.paused and not paused_exists:
        set_condition(status, condition(PROGRESSING, "Unknown", PAUSED_REASON,
                                        "Deployment is paused", now))
    elif not d.paused and paused_exists:
        set_condition(status, condition(PROGRESSING, "Unknown", RESUMED_REASON,
                                        "Deployment is resumed", now))
