"""A StatefulSet's identity rules: its spec as the planner reads it, pod names, new pods, claims.

The pure helpers of `reconciler.planning.statefulset.plan_statefulset`, as
stateful_set_utils.go is to stateful_set_control.go in Kubernetes: the set's
fields from its defaulted body (`set_from_body`), `<set>-<ordinal>` names and
their parsing, a new pod from the template with its hostname, subdomain,
identity labels, revision and one persistentVolumeClaim volume per claim
template (`<template>-<set>-<ordinal>`), and the claims each ordinal needs.
The revision is `<set>-<hash of the template>`, not a stored ControllerRevision.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from reconciler.api.records import ClaimRecord, OwnerRef, PodRecord
from reconciler.api.selectors import Selector, from_label_selector
from reconciler.api.types import JSON

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
ORDERED_READY = "OrderedReady"
PARALLEL = "Parallel"
ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"
RETAIN = "Retain"
DELETE = "Delete"


@dataclass(frozen=True)
class ClaimTemplate:
    """One volumeClaimTemplates entry: the claim every ordinal gets."""

    name: str
    storage: str = ""
    access_modes: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StatefulSetSpec:
    """The parts of a StatefulSet the planner needs, from its defaulted body and status."""

    namespace: str
    name: str
    uid: str
    selector: Selector
    replicas: int
    template: JSON
    service_name: str = ""
    pod_management: str = ORDERED_READY
    update_type: str = ROLLING_UPDATE
    partition: int = 0
    min_ready_seconds: int = 0
    claim_templates: tuple[ClaimTemplate, ...] = ()
    when_deleted: str = RETAIN
    when_scaled: str = RETAIN
    start: int = 0  # spec.ordinals.start: the first ordinal
    generation: int = 1
    current_revision: str = ""  # status.currentRevision of the last sync; "" before the first
    api_version: str = "apps/v1"

    @property
    def owner_ref(self) -> OwnerRef:
        """The controller reference its pods and claims carry."""
        return OwnerRef("StatefulSet", self.name, self.uid, self.api_version, controller=True)

    @property
    def claim_owner(self) -> OwnerRef | None:
        """Who owns its claims: the set under whenDeleted Delete (they go with it), else none.

        As Kubernetes' updateClaimOwnerRefForSetAndPod: the owner reference is what
        collects the claims when the set is deleted, so the policy survives the set's
        body (a manifest removed while the service was down).
        """
        return self.owner_ref if self.when_deleted == DELETE else None

    @property
    def update_revision(self) -> str:
        """`<set>-<hash of the template>`: the revision new pods are made at."""
        text = json.dumps(self.template, sort_keys=True, separators=(",", ":"))
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    @property
    def monotonic(self) -> bool:
        """OrderedReady: one pod at a time, each after its predecessors are Running and Ready."""
        return self.pod_management != PARALLEL

    @property
    def ordinals(self) -> range:
        """The ordinals the set wants: [start, start + replicas)."""
        return range(self.start, self.start + self.replicas)

    def pod_name(self, ordinal: int) -> str:
        return f"{self.name}-{ordinal}"

    def claim_name(self, template: str, ordinal: int) -> str:
        """getPersistentVolumeClaimName: `<template>-<set>-<ordinal>`."""
        return f"{template}-{self.name}-{ordinal}"


def set_from_body(
    body: JSON, uid: str, generation: int | None = None, status: JSON | None = None
) -> StatefulSetSpec:
    """A StatefulSetSpec from a defaulted body; `generation` from the store wins."""
    meta: dict[str, Any] = body.get("metadata") or {}
    spec: dict[str, Any] = body.get("spec") or {}
    strategy: dict[str, Any] = spec.get("updateStrategy") or {}
    retention: dict[str, Any] = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    templates: list[ClaimTemplate] = []
    for t in spec.get("volumeClaimTemplates") or []:
        tmeta = t.get("metadata") or {}
        tspec = t.get("spec") or {}
        # Claims carry the template's labels and the set's matchLabels (updateClaimLabels).
        labels = {**(tmeta.get("labels") or {}), **match_labels}
        templates.append(ClaimTemplate(
            name=str(tmeta.get("name", "")),
            storage=str(((tspec.get("resources") or {}).get("requests") or {})
                        .get("storage", "")),
            access_modes=tuple(str(m) for m in tspec.get("accessModes") or ()),
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        ))
    replicas = spec.get("replicas")
    return StatefulSetSpec(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name", "")),
        uid=uid,
        selector=from_label_selector(spec.get("selector")),
        replicas=1 if replicas is None else int(replicas),
        template=spec.get("template") or {},
        service_name=str(spec.get("serviceName") or ""),
        pod_management=str(spec.get("podManagementPolicy") or ORDERED_READY),
        update_type=str(strategy.get("type") or ROLLING_UPDATE),
        partition=int((strategy.get("rollingUpdate") or {}).get("partition") or 0),
        min_ready_seconds=int(spec.get("minReadySeconds") or 0),
        claim_templates=tuple(templates),
        when_deleted=str(retention.get("whenDeleted") or RETAIN),
        when_scaled=str(retention.get("whenScaled") or RETAIN),
        start=int((spec.get("ordinals") or {}).get("start") or 0),
        generation=generation or int(meta.get("generation") or 1),
        current_revision=str((status or {}).get("currentRevision") or ""),
        api_version=str(body.get("apiVersion", "apps/v1")),
    )


@dataclass(frozen=True)
class NewPod:
    """A pod to create: everything but its uid and creation time (the controller's)."""

    ordinal: int
    name: str
    spec: JSON
    labels: dict[str, str]
    annotations: dict[str, str]
    revision: str  # the controller-revision-hash it is made at


def ordinal_of(set_: StatefulSetSpec, pod_name: str) -> int | None:
    """getParentNameAndOrdinal: N for `<set>-N`, None for a name that is not a member's."""
    m = re.fullmatch(re.escape(set_.name) + r"-(0|[1-9][0-9]*)", pod_name)
    return int(m.group(1)) if m else None



def pod_revision(pod: PodRecord) -> str:
    return pod.labels.get(REVISION_LABEL, "")


def new_pod(set_: StatefulSetSpec, ordinal: int, template: JSON, revision: str) -> NewPod:
    """newStatefulSetPod: the template with the ordinal's identity and storage."""
    name = set_.pod_name(ordinal)
    spec: JSON = copy.deepcopy(template.get("spec") or {})
    spec["hostname"] = name
    if set_.service_name:
        spec["subdomain"] = set_.service_name
    claimed = {t.name for t in set_.claim_templates}
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in claimed]
    volumes += [
        {"name": t.name, "persistentVolumeClaim": {"claimName": set_.claim_name(t.name, ordinal)}}
        for t in set_.claim_templates
    ]
    if volumes:
        spec["volumes"] = volumes
    meta = template.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    labels.update({
        POD_NAME_LABEL: name,
        POD_INDEX_LABEL: str(ordinal),
        REVISION_LABEL: revision,
    })
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    return NewPod(ordinal, name, spec, labels, annotations, revision)


def template_of(pod: PodRecord) -> JSON:
    """The template a member was made from: its spec and labels without the identity."""
    labels = {k: v for k, v in pod.labels.items()
              if k not in (POD_NAME_LABEL, POD_INDEX_LABEL, REVISION_LABEL)}
    return {"metadata": {"labels": labels, "annotations": dict(pod.annotations)},
            "spec": copy.deepcopy(pod.spec)}


def versioned_pod(
    set_: StatefulSetSpec, ordinal: int, current: str, update: str,
    members: dict[int, PodRecord],
) -> NewPod:
    """newVersionedStatefulSetPod: below the partition a pod is made at the current revision."""
    below = ordinal < set_.start + set_.partition
    if set_.update_type == ROLLING_UPDATE and below and current != update:
        for pod in members.values():
            if pod_revision(pod) == current:
                return new_pod(set_, ordinal, template_of(pod), current)
    return new_pod(set_, ordinal, set_.template, update)


def claims_for(set_: StatefulSetSpec, ordinal: int) -> list[ClaimRecord]:
    """The claims of one ordinal, as the store should hold them (uid and volume left to it)."""
    return [
        ClaimRecord(
            namespace=set_.namespace,
            name=set_.claim_name(t.name, ordinal),
            uid="",
            owner=set_.claim_owner,
            storage=t.storage,
            access_modes=list(t.access_modes),
            labels=dict(t.labels),
        )
        for t in set_.claim_templates
    ]



def claims_to_reown(set_: StatefulSetSpec, claims: list[ClaimRecord]) -> list[ClaimRecord]:
    """The claims of the set's ordinals whose owner disagrees with its whenDeleted policy."""
    wanted = set_.claim_owner
    names = {set_.claim_name(t.name, i) for i in set_.ordinals for t in set_.claim_templates}
    return [
        dataclasses.replace(c, owner=wanted)
        for c in claims
        if c.name in names and c.deletion_timestamp is None
        and (c.owner.uid if c.owner else None) != (wanted.uid if wanted else None)
    ]


def missing_member_claims(set_: StatefulSetSpec, pods: list[PodRecord],
                          claims: list[ClaimRecord]) -> list[ClaimRecord]:
    """createMissingPersistentVolumeClaims for members that exist: a claim deleted under a
    member (`reconciler delete pvc`, its host lost) is made again, new and empty."""
    have = {c.name for c in claims}  # one still being removed counts: wait for it to go
    out: list[ClaimRecord] = []
    for pod in pods:
        ordinal = ordinal_of(set_, pod.name)
        if pod.deletion_timestamp is None and ordinal is not None and ordinal in set_.ordinals:
            out += [c for c in claims_for(set_, ordinal) if c.name not in have]
    return out
