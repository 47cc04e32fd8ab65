"""Container names and labels: how everything the driver creates is named and found again.

Pure helpers under agent.py and sandbox.py. Names follow the seed
(`k8s_POD_<pod>_<ns>_<uid>_<n>`, `k8s_<container>_<pod>_<ns>_<uid>_<restarts>`) with
a configurable prefix; labels carry the same facts, and adoption after a restart
reads only the labels (a name is for people).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.api.records import PodRecord
from reconciler.runtime.types import CLUSTER_LABEL, ObservedContainer

L = "io.reconciler."
PREFIX = L + "prefix"  # every object the driver creates: the label it lists by
CLUSTER = CLUSTER_LABEL  # the store's id (RuntimeConfig.labels): whose objects these are
POD_UID = L + "pod.uid"
POD_NAME = L + "pod.name"
POD_NAMESPACE = L + "pod.namespace"
CONTAINER = L + "container.name"  # "POD" for the infrastructure container
INIT = L + "container.init"
RESTART = L + "container.restart"
BACKOFF = L + "container.backoff"  # crash-loop back-off step this instance was started at
HASH = L + "container.hash"
POD_HASH = L + "pod.spec-hash"
OWNER_KIND = L + "owner.kind"
OWNER_NAME = L + "owner.name"
VOLUME = L + "volume.name"
# A claim's volume carries these instead of the pod labels: removing a pod removes the
# volumes labelled with its uid, and a claim's volume must outlive every pod using it.
CLAIM_NAME = L + "claim.name"
CLAIM_NAMESPACE = L + "claim.namespace"
CLAIM_UID = L + "claim.uid"
INFRA = "POD"


def infra_name(prefix: str, pod: PodRecord, attempt: int) -> str:
    """`<prefix>_POD_<pod>_<ns>_<uid>_<n>`."""
    return f"{prefix}_{INFRA}_{pod.name}_{pod.namespace}_{pod.uid}_{attempt}"


def container_name(prefix: str, container: str, pod: PodRecord, restart: int) -> str:
    """`<prefix>_<container>_<pod>_<ns>_<uid>_<restarts>`."""
    return f"{prefix}_{container}_{pod.name}_{pod.namespace}_{pod.uid}_{restart}"


def volume_name(prefix: str, pod: PodRecord, volume: str) -> str:
    """The Docker volume backing one emptyDir of one pod."""
    return f"{prefix}_{pod.namespace}_{pod.name}_{pod.uid}_{volume}"


def claim_labels(
    prefix: str, namespace: str, claim: str, uid: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Labels of a claim's Docker volume: the prefix and the claim, never a pod uid."""
    labels = dict(extra or {})
    labels.update({PREFIX: prefix, CLAIM_NAMESPACE: namespace, CLAIM_NAME: claim})
    if uid:
        labels[CLAIM_UID] = uid
    return labels


def container_hash(spec: dict[str, Any]) -> str:
    """Hash of one container's spec: a changed hash means the container is replaced."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def pod_labels(
    prefix: str, pod: PodRecord, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Labels every object of this pod carries."""
    labels = dict(extra or {})
    labels.update({
        PREFIX: prefix,
        POD_UID: pod.uid,
        POD_NAME: pod.name,
        POD_NAMESPACE: pod.namespace,
        POD_HASH: pod.spec_hash,
    })
    if pod.owner is not None:
        labels[OWNER_KIND] = pod.owner.kind
        labels[OWNER_NAME] = pod.owner.name
    return labels


def container_labels(
    base: dict[str, str], container: str, *, init: bool, restart: int, spec_hash: str,
    backoff: int = 0,
) -> dict[str, str]:
    """The pod's labels plus this container's: name, init flag, restart count, hash."""
    return {
        **base,
        CONTAINER: container,
        INIT: "true" if init else "false",
        RESTART: str(restart),
        BACKOFF: str(backoff),
        HASH: spec_hash,
    }


def cluster_of(labels: dict[str, str]) -> str:
    """The cluster id an object carries; "" when it was made before cluster ids."""
    return labels.get(CLUSTER, "")


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def observed_from_list(entry: dict[str, Any]) -> ObservedContainer:
    """An `ObservedContainer` from one entry of Docker's container list (`/containers/json`)."""
    labels: dict[str, str] = entry.get("Labels") or {}
    names: list[str] = entry.get("Names") or [""]
    return ObservedContainer(
        id=entry["Id"],
        name=names[0].lstrip("/"),
        container=labels.get(CONTAINER, ""),
        state=entry.get("State", ""),
        status=entry.get("Status", ""),
        restart=_int(labels.get(RESTART)),
        init=labels.get(INIT) == "true",
        spec_hash=labels.get(HASH, ""),
        image=entry.get("Image", ""),
        created=float(entry.get("Created", 0)),
        labels=labels,
    )
