"""Filter: a pod whose persistentVolumeClaims are bound to a node fits only that node.

Runs last in `scheduler.py`, as kube-scheduler's VolumeBinding plugin runs after
NodeResourcesFit. A claim here is a Docker named volume, and a Docker volume is
local to one host: once a claim is bound (the first pod using it was placed), its
pods can only run where the volume is, so a pod whose host is NotReady or gone
stays Pending with this filter's reason until the host returns or the claim is
deleted. The pod controller looks the claims up and passes them in, which keeps
this module pure. `prefilter` mirrors the plugin's PreFilter: a claim that does
not exist, or is being deleted, makes the pod unschedulable on every node.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.api.records import ClaimRecord, PodRecord
from reconciler.api.types import JSON
from reconciler.scheduling.nodeinfo import NodeInfo

REASON_CONFLICT = "node(s) had volume node affinity conflict"

# The pod's claims by claim name, all in the pod's namespace; a missing name: no such claim.
Claims = Mapping[str, ClaimRecord]


def claim_names(spec: JSON) -> list[str]:
    """The claim names of a pod spec's persistentVolumeClaim volumes, in volume order."""
    names: list[str] = []
    for vol in spec.get("volumes") or []:
        name = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if name and name not in names:
            names.append(str(name))
    return names


def prefilter(pod: PodRecord, claims: Claims) -> str:
    """Why no node can take the pod because of its claims; "" when the filter may run."""
    for name in claim_names(pod.spec):
        claim = claims.get(name)
        if claim is None:
            return f'persistentvolumeclaim "{name}" not found'
        if claim.deletion_timestamp is not None:
            return f'persistentvolumeclaim "{name}" is being deleted'
    return ""


def fits(pod: PodRecord, info: NodeInfo, claims: Claims) -> list[str]:
    """Every bound claim of the pod must be bound to this node."""
    for name in claim_names(pod.spec):
        claim = claims.get(name)
        if claim is not None and claim.node_name and claim.node_name != info.node.name:
            return [REASON_CONFLICT]
    return []
