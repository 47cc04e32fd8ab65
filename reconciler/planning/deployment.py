"""A Deployment and its ReplicaSets as the deployment planner sees them: parsing, hashes, numbers.

The model half of the pure Deployment planner: `deployment_rollout.plan_deployment`
decides with these, `deployment_status` computes the status, and the deployment
controller (`reconciler.control.deployments`) builds the inputs from the store.
Mirrors pkg/controller/deployment/util/deployment_util.go (ResolveFenceposts,
MaxSurge, MaxUnavailable, FindNewReplicaSet, EqualIgnoreHash, the revision and
replicas annotations) and pkg/util/hash + controller.ComputeHash for the
`pod-template-hash`. Documented difference: the hash is FNV-32a over the
template's canonical JSON (sorted keys), not over Go's spew dump of the struct,
so the same template hashes to another value than on a real cluster; it is just
as stable across restarts (the name of a template's ReplicaSet never changes).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.api.selectors import Selector, from_label_selector
from reconciler.api.types import JSON
from reconciler.planning.diff import OWNED_SOURCE_PREFIX

HASH_LABEL = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
# Ours: which source revision (git SHA or "folder") and manifest content made this RS the new one.
SOURCE_REVISION = "reconciler.dev/source-revision"
SOURCE_HASH = "reconciler.dev/source-hash"

# Annotations of the Deployment never copied onto its ReplicaSets (annotationsToSkip).
_SKIP_COPY = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
    DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to",
})
_REV_HISTORY_LIMIT_CHARS = 2000  # revHistoryLimitInChars
_MAX_INT32 = 2**31 - 1
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


def owned_source(namespace: str, name: str) -> str:
    """The source_file recorded for the ReplicaSets of Deployment namespace/name."""
    return f"{OWNED_SOURCE_PREFIX}Deployment/{namespace}/{name}"


@dataclass(frozen=True)
class DeploymentSpec:
    """The parts of a defaulted Deployment body the planner needs."""

    namespace: str
    name: str
    uid: str
    generation: int
    replicas: int
    selector: JSON  # the LabelSelector as written
    template: JSON
    strategy: str  # "RollingUpdate" or "Recreate"
    max_surge_value: int | str = "25%"
    max_unavailable_value: int | str = "25%"
    min_ready_seconds: int = 0
    revision_history_limit: int | None = 10
    progress_deadline_seconds: int | None = 600
    paused: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)
    api_version: str = "apps/v1"
    source_revision: str = ""  # the object's revision (git SHA or "folder")
    source_hash: str = ""  # the object's content hash

    @property
    def key(self) -> str:
        return f"Deployment/{self.namespace}/{self.name}"

    @property
    def label_selector(self) -> Selector:
        return from_label_selector(self.selector)

    @property
    def rolling(self) -> bool:
        return self.strategy != "Recreate"

    @property
    def has_progress_deadline(self) -> bool:
        """util.HasProgressDeadline: set and not MaxInt32."""
        return (self.progress_deadline_seconds is not None
                and self.progress_deadline_seconds != _MAX_INT32)

    @property
    def max_surge(self) -> int:
        """util.MaxSurge: 0 unless RollingUpdate."""
        if not self.rolling:
            return 0
        return resolve_fenceposts(self.max_surge_value, self.max_unavailable_value,
                                  self.replicas)[0]

    @property
    def max_unavailable(self) -> int:
        """util.MaxUnavailable: 0 unless RollingUpdate with replicas; never above replicas."""
        if not self.rolling or self.replicas == 0:
            return 0
        unavailable = resolve_fenceposts(self.max_surge_value, self.max_unavailable_value,
                                         self.replicas)[1]
        return min(unavailable, self.replicas)

    def owner_reference(self) -> JSON:
        """The controller reference its ReplicaSets carry."""
        return {"apiVersion": self.api_version, "kind": "Deployment", "name": self.name,
                "uid": self.uid, "controller": True, "blockOwnerDeletion": True}


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def deployment_from_body(body: JSON, uid: str, generation: int | None = None,
                         source_revision: str = "", source_hash: str = "") -> DeploymentSpec:
    """A DeploymentSpec from a defaulted body; `generation` from the store wins."""
    meta: dict[str, Any] = body.get("metadata") or {}
    spec: dict[str, Any] = body.get("spec") or {}
    strategy: dict[str, Any] = spec.get("strategy") or {}
    rolling: dict[str, Any] = strategy.get("rollingUpdate") or {}
    replicas = spec.get("replicas")
    return DeploymentSpec(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name", "")),
        uid=uid,
        generation=generation or int(meta.get("generation") or 1),
        replicas=1 if replicas is None else int(replicas),
        selector=dict(spec.get("selector") or {}),
        template=dict(spec.get("template") or {}),
        strategy=str(strategy.get("type") or "RollingUpdate"),
        max_surge_value=rolling.get("maxSurge", "25%"),
        max_unavailable_value=rolling.get("maxUnavailable", "25%"),
        min_ready_seconds=int(spec.get("minReadySeconds") or 0),
        revision_history_limit=_int_or_none(spec.get("revisionHistoryLimit", 10)),
        progress_deadline_seconds=_int_or_none(spec.get("progressDeadlineSeconds", 600)),
        paused=bool(spec.get("paused", False)),
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        api_version=str(body.get("apiVersion", "apps/v1")),
        source_revision=source_revision,
        source_hash=source_hash,
    )


# --- numbers ------------------------------------------------------------------------


def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: a number, or a percentage of `total`."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a "
                         f"percentage: {text!r}")
    percent = int(text[:-1])
    # Integer arithmetic: Go computes math.Ceil/Floor of a float64, exact at these sizes.
    return -(-percent * total // 100) if round_up else percent * total // 100


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """util.ResolveFenceposts: surge rounds up, unavailable rounds down; never both zero."""
    surge = scaled_value(0 if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        # Rounding down may give 0 for both; 1 unavailable lets the rollout move at all.
        unavailable = 1
    return surge, unavailable


# --- the pod-template-hash ----------------------------------------------------------


def _fnv32a(data: bytes, h: int = 0x811C9DC5) -> int:
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: digits to an alphabet without vowels (no words in names)."""
    return "".join(_SAFE_ALPHANUMS[ord(c) % len(_SAFE_ALPHANUMS)] for c in text)


def without_hash(template: JSON) -> JSON:
    """A copy of a pod template without the pod-template-hash label."""
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return out


def pod_template_hash(template: JSON, collision_count: int = 0) -> str:
    """controller.ComputeHash: FNV-32a of the template (plus the collision count), encoded."""
    text = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":"))
    h = _fnv32a(text.encode("utf-8"))
    if collision_count:
        h = _fnv32a(collision_count.to_bytes(4, "little"), h)
    return safe_encode(str(h))


def equal_ignore_hash(a: JSON, b: JSON) -> bool:
    """util.EqualIgnoreHash: equal pod templates once the hash label is dropped."""
    return without_hash(a) == without_hash(b)


# --- ReplicaSets --------------------------------------------------------------------


def controller_ref(body: JSON) -> JSON | None:
    """The ownerReferences entry marked controller, if any."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def owned_replica_sets(deployment_uid: str, objects: Iterable[Any]) -> list[Any]:
    """The ReplicaSet records (anything with `.key.kind` and `.body`) a Deployment controls."""
    out = []
    for obj in objects:
        if obj.key.kind != "ReplicaSet":
            continue
        ref = controller_ref(obj.body)
        if ref is not None and ref.get("kind") == "Deployment" and ref.get("uid") == deployment_uid:
            out.append(obj)
    return out


def new_replica_set(deployment_body: JSON, rs_bodies: Sequence[JSON]) -> JSON | None:
    """util.FindNewReplicaSet: the oldest RS whose template is the Deployment's (None if none).

    Several can match after a hash collision; the oldest (by creation, then name) wins.
    """
    template = (deployment_body.get("spec") or {}).get("template") or {}
    matches = [b for b in rs_bodies
               if equal_ignore_hash((b.get("spec") or {}).get("template") or {}, template)]
    matches.sort(key=lambda b: (str((b.get("metadata") or {}).get("creationTimestamp", "")),
                                str((b.get("metadata") or {}).get("name", ""))))
    return matches[0] if matches else None


def revision_of(body: JSON) -> int:
    """util.Revision: the RS's revision annotation as a number (0 when absent or bad)."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(REVISION, "")
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@dataclass
class ReplicaSetState:
    """One ReplicaSet of a Deployment: its body (changed in place by a plan) and its pods."""

    name: str
    body: JSON
    created_at: datetime
    actual: int = 0  # status.replicas: its active pods
    ready: int = 0
    available: int = 0
    present: int = 0  # pods not finished, including those being deleted (still running)
    uid: str = ""
    fresh: bool = False  # created by this plan

    @property
    def replicas(self) -> int:
        """spec.replicas."""
        value = (self.body.get("spec") or {}).get("replicas")
        return 1 if value is None else int(value)

    @replicas.setter
    def replicas(self, value: int) -> None:
        self.body.setdefault("spec", {})["replicas"] = value

    @property
    def staying(self) -> int:
        """Its available pods that its size keeps: a scale-down its pods have not followed
        yet is about to delete the rest, so they hold up no availability."""
        return min(self.available, self.replicas)

    @property
    def annotations(self) -> dict[str, str]:
        meta = self.body.setdefault("metadata", {})
        annotations: dict[str, str] = meta.setdefault("annotations", {})
        return annotations

    @property
    def template(self) -> JSON:
        return dict((self.body.get("spec") or {}).get("template") or {})

    @property
    def revision(self) -> int:
        return revision_of(self.body)

    def annotation_int(self, name: str) -> int | None:
        try:
            return int(self.annotations[name])
        except (KeyError, ValueError):
            return None

    def set_replicas_annotations(self, desired: int, max_replicas: int) -> bool:
        """util.SetReplicasAnnotations: True when either changed."""
        changed = False
        for name, value in ((DESIRED_REPLICAS, desired), (MAX_REPLICAS, max_replicas)):
            if self.annotations.get(name) != str(value):
                self.annotations[name] = str(value)
                changed = True
        return changed


def replica_set_body(d: DeploymentSpec, collision_count: int) -> tuple[str, JSON]:
    """getNewReplicaSet's new RS: `<deployment>-<hash>`; template and selector carry the hash."""
    hash_ = pod_template_hash(d.template, collision_count)
    template = copy.deepcopy(d.template)
    t_meta = template.setdefault("metadata", {})
    t_meta["labels"] = {**(t_meta.get("labels") or {}), HASH_LABEL: hash_}
    selector = copy.deepcopy(d.selector)
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hash_}
    name = f"{d.name}-{hash_}"
    body: JSON = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": d.namespace,
            "labels": dict(t_meta["labels"]),
            "annotations": {},
            "ownerReferences": [d.owner_reference()],
        },
        "spec": {"replicas": 0, "minReadySeconds": d.min_ready_seconds,
                 "selector": selector, "template": template},
    }
    return name, body


def copy_annotations(d: DeploymentSpec, rs: ReplicaSetState) -> bool:
    """copyDeploymentAnnotationsToReplicaSet: the Deployment's own annotations, but the skipped."""
    changed = False
    for k, v in d.annotations.items():
        if k in _SKIP_COPY or rs.annotations.get(k) == v:
            continue
        rs.annotations[k] = v
        changed = True
    return changed


def set_new_rs_annotations(d: DeploymentSpec, rs: ReplicaSetState, new_revision: int,
                           exists: bool) -> bool:
    """util.SetNewReplicaSetAnnotations: copy, raise the revision, keep the revision history."""
    changed = copy_annotations(d, rs)
    old_text = rs.annotations.get(REVISION)
    old = rs.revision
    if old < new_revision:
        rs.annotations[REVISION] = str(new_revision)
        # Ours: the source revision that (re)introduced this template.
        rs.annotations[SOURCE_REVISION] = d.source_revision
        rs.annotations[SOURCE_HASH] = d.source_hash
        changed = True
        if old_text is not None:
            # Rolled back to this ReplicaSet: keep its older revisions for history.
            history = [r for r in rs.annotations.get(REVISION_HISTORY, "").split(",") if r]
            history.append(old_text)
            while len(",".join(history)) > _REV_HISTORY_LIMIT_CHARS and len(history) > 1:
                history.pop(0)
            rs.annotations[REVISION_HISTORY] = ",".join(history)
    if not exists and rs.set_replicas_annotations(d.replicas, d.replicas + d.max_surge):
        changed = True
    return changed
