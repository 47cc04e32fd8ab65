"""The one invariant checker of the fault suite: what must hold after any fault, once converged.

Every test under tests/faults injects a fault (an exception or a kill at a store
write or a Docker call, an engine restart, a full disk, a held lock, ...), lets a
fresh control plane adopt and converge, and then calls `check` (or
`assert_invariants`) with the store, a Docker client of the engine, the test's
container prefix and the desired folder. The invariants are the README's
promise, stated over the whole state rather than one return value (as etcd's
robustness tests and FoundationDB's simulation do):

- declared: every object the desired folder declares is recorded with its
  latest content (same content hash, not stale); every Pod manifest has a live
  pod record with that manifest's spec (unless its name is held by a controller's
  pod: a name collision, where the first holder keeps the name); every
  ReplicationController/ReplicaSet has `replicas` live pods and every StatefulSet
  has its ordinals `<name>-0..n-1`, owned by it (but an ordinal whose name
  another pod held first: a collision, which the set reports as FailedCreate);
  every Job is Complete with exactly `completions` succeeded pods of its own and
  no other live pod (a pod that ran twice, or one too many, breaks it).
- orphans: no live pod record without its declaration (a manifest Pod that is
  no longer declared) or without its owner (an owner no longer recorded, or
  recorded under another uid); no container of the prefix whose pod uid is not a
  live pod record.
- duplicates: per pod uid at most one running infra container and, per spec
  container, at most one running instance and never two instances with the same
  restart count (a double create); never two pod uids running under one
  namespace/name; every live, scheduled pod has its infra container and one
  container per spec container.
- volumes: every bound claim that is not marked for deletion has its Docker
  volume, and every volume named in `volumes` (taken before the fault) still exists.

Only containers and volumes labelled `io.reconciler.prefix=<prefix>` are
looked at, so tests sharing one engine do not see each other.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from reconciler.api.records import PodRecord
from reconciler.api.types import Key
from reconciler.control.desired import spec_hash
from reconciler.manifests.loader import load_folder
from reconciler.planning.deployment import equal_ignore_hash, owned_source
from reconciler.runtime import naming
from reconciler.store import Store

REPLICATED = ("ReplicationController", "ReplicaSet")
RUNNING_STATES = ("running", "restarting", "paused")


@dataclass(frozen=True)
class Violation:
    """One broken invariant: which (declared, orphan, duplicate, volume) and what was seen."""

    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.subject}: {self.detail}"


def check(
    store: Store,
    client: docker.DockerClient,
    prefix: str,
    desired_root: Path,
    *,
    volumes: Iterable[str] = (),
) -> list[Violation]:
    """Every violation of the invariants (module docstring); empty when all hold."""
    pods = store.list_pods()
    live = [p for p in pods if p.deletion_timestamp is None]
    containers = client.api.containers(
        all=True, filters={"label": f"{naming.PREFIX}={prefix}"})
    out: list[Violation] = []
    out += _declared(store, live, desired_root)
    out += _orphans(store, live, containers)
    out += _duplicates(live, containers)
    out += _volumes(store, client, prefix, volumes)
    return out


def assert_invariants(
    store: Store,
    client: docker.DockerClient,
    prefix: str,
    desired_root: Path,
    *,
    volumes: Iterable[str] = (),
    context: str = "",
) -> None:
    """`check`, failing with every violation listed (and `context`, e.g. the crash point)."""
    found = check(store, client, prefix, desired_root, volumes=volumes)
    if found:
        lines = "\n  ".join(str(v) for v in found)
        where = f" {context}" if context else ""
        raise AssertionError(f"{len(found)} invariant violation(s){where}:\n  {lines}")


def _declared(store: Store, live: list[PodRecord], root: Path) -> list[Violation]:
    out: list[Violation] = []
    result = load_folder(root)
    recorded = store.recorded()
    by_name = {(p.namespace, p.name): p for p in live}
    for obj in result.objects:
        k = obj.key
        subject = f"{k.kind} {k.namespace}/{k.name}"
        rec = recorded.get(k)
        if rec is None:
            out.append(Violation("declared", subject, "declared but not recorded"))
            continue
        if rec.content_hash != obj.content_hash:
            out.append(Violation("declared", subject, "recorded with an older spec"))
        if rec.stale:
            out.append(Violation("declared", subject, "recorded as stale"))
        if k.kind == "Pod":
            pod = by_name.get((k.namespace, k.name))
            if pod is None:
                out.append(Violation("declared", subject, "no live pod record"))
            elif pod.source == "manifest":
                if pod.spec_hash != spec_hash(obj.body.get("spec", {})):
                    out.append(Violation("declared", subject, "pod runs an older spec"))
            elif pod.owner is None:
                out.append(Violation("declared", subject,
                                     "name held by a controller pod without an owner"))
        elif k.kind in REPLICATED or k.kind == "StatefulSet":
            out += _replicas(store, live, k, obj.body)
        elif k.kind == "Deployment":
            out += _rolled_out(store, live, k, obj.body)
        elif k.kind == "Job":
            out += _job_ran(store, live, k, obj.body)
    return out


def _rolled_out(store: Store, live: list[PodRecord], k: Key, body: dict[str, Any],
                ) -> list[Violation]:
    """A Deployment at rest: `replicas` live pods, all of the ReplicaSet of its template."""
    stored = store.get_object(k)
    if stored is None:
        return []
    want = int((body.get("spec") or {}).get("replicas", 1))
    template = (stored.body.get("spec") or {}).get("template") or {}
    sets = [r for key in store.owned_objects(owned_source(k.namespace, k.name))
            if (r := store.get_object(key)) is not None]
    current = {r.uid for r in sets
               if equal_ignore_hash((r.body.get("spec") or {}).get("template") or {}, template)}
    owned = {r.uid for r in sets}
    pods = [p for p in live if p.owner is not None and p.owner.uid in owned]
    subject = f"{k.kind} {k.namespace}/{k.name}"
    out: list[Violation] = []
    if len(current) != 1:
        out.append(Violation("declared", subject, f"{len(current)} ReplicaSets of its template"))
    old = sorted(p.name for p in pods if p.owner is not None and p.owner.uid not in current)
    if len(pods) != want or old:
        out.append(Violation("declared", subject,
                             f"{len(pods)} live pods, want {want}; of old templates: {old}"))
    return out


def _job_ran(store: Store, live: list[PodRecord], k: Key, body: dict[str, Any],
             ) -> list[Violation]:
    stored = store.get_object(k)
    if stored is None:
        return []
    want = int((body.get("spec") or {}).get("completions") or 1)
    owned = [p for p in live if p.owner is not None and p.owner.uid == stored.uid]
    done = sorted(p.name for p in owned if p.phase == "Succeeded")
    others = sorted(p.name for p in owned if p.phase != "Succeeded")
    status = stored.status or {}
    complete = any(c.get("type") == "Complete" and c.get("status") == "True"
                   for c in status.get("conditions") or [])
    if complete and len(done) == want and not others and status.get("succeeded") == want:
        return []
    return [Violation("declared", f"Job {k.namespace}/{k.name}",
                      f"complete={complete}, succeeded pods {done}, others {others}, "
                      f"status.succeeded={status.get('succeeded')}, want {want}")]


def _replicas(store: Store, live: list[PodRecord], k: Key, body: dict[str, Any]) -> list[Violation]:
    stored = store.get_object(k)
    if stored is None:
        return []
    spec = body.get("spec") or {}
    want = int(spec.get("replicas", 1))
    owned = sorted(p.name for p in live if p.namespace == k.namespace
                   and p.owner is not None and p.owner.uid == stored.uid)
    subject = f"{k.kind} {k.namespace}/{k.name}"
    if k.kind == "StatefulSet":
        # An ordinal whose name another pod held first is a collision (reported to the
        # user as FailedCreate), not a missing member.
        held = {p.name for p in live if p.namespace == k.namespace
                and (p.owner is None or p.owner.uid != stored.uid)}
        names = [n for i in range(want) if (n := f"{k.name}-{i}") not in held]
        if owned != names:
            return [Violation("declared", subject, f"members {owned}, want {names}")]
    elif len(owned) != want:
        return [Violation("declared", subject, f"{len(owned)} live pods, want {want}: {owned}")]
    return []


def _orphans(store: Store, live: list[PodRecord], containers: list[dict[str, Any]],
             ) -> list[Violation]:
    out: list[Violation] = []
    objects = {o.key: o for o in store.objects()}
    for pod in live:
        subject = f"pod {pod.namespace}/{pod.name} ({pod.uid[:8]})"
        if pod.owner is not None:
            owner = objects.get(Key(pod.owner.kind, pod.namespace, pod.owner.name))
            if owner is None or owner.uid != pod.owner.uid:
                out.append(Violation("orphan", subject,
                                     f"owner {pod.owner.kind} {pod.owner.name} is gone"))
        elif pod.source == "manifest":
            if Key("Pod", pod.namespace, pod.name) not in objects:
                out.append(Violation("orphan", subject, "its manifest is no longer declared"))
        else:
            out.append(Violation("orphan", subject, "controller pod without an owner"))
    uids = {p.uid for p in live}
    for c in containers:
        labels = c.get("Labels") or {}
        uid = labels.get(naming.POD_UID, "")
        if uid and uid not in uids:
            out.append(Violation("orphan", f"container {_name(c)}",
                                 f"pod {labels.get(naming.POD_NAME)} ({uid[:8]}) is not live"))
    return out


def _duplicates(live: list[PodRecord], containers: list[dict[str, Any]]) -> list[Violation]:
    out: list[Violation] = []
    by_uid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in containers:
        uid = (c.get("Labels") or {}).get(naming.POD_UID, "")
        if uid:
            by_uid[uid].append(c)
    running_uids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for uid, group in by_uid.items():
        labels = group[0].get("Labels") or {}
        pod_name = f"{labels.get(naming.POD_NAMESPACE)}/{labels.get(naming.POD_NAME)}"
        running = Counter(_role(c) for c in group if c.get("State") in RUNNING_STATES)
        instances = Counter((_role(c), (c.get("Labels") or {}).get(naming.RESTART, ""))
                            for c in group)
        for role, n in running.items():
            if n > 1:
                out.append(Violation("duplicate", f"pod {pod_name} ({uid[:8]})",
                                     f"{n} running {role} containers"))
        for (role, restart), n in instances.items():
            if n > 1:
                out.append(Violation("duplicate", f"pod {pod_name} ({uid[:8]})",
                                     f"{n} {role} containers of restart {restart}"))
        if running:
            running_uids[(str(labels.get(naming.POD_NAMESPACE)),
                          str(labels.get(naming.POD_NAME)))].add(uid)
    for (ns, name), held in running_uids.items():
        if len(held) > 1:
            out.append(Violation("duplicate", f"pod {ns}/{name}",
                                 f"{len(held)} pod uids run under one name"))
    for pod in live:
        if not pod.node_name:
            continue
        roles = Counter(_role(c) for c in by_uid.get(pod.uid, []))
        wanted = [naming.INFRA] + [str(c.get("name")) for c in pod.spec.get("containers") or []]
        missing = [r for r in wanted if roles[r] == 0]
        if missing:
            out.append(Violation("duplicate", f"pod {pod.namespace}/{pod.name} ({pod.uid[:8]})",
                                 f"scheduled on {pod.node_name} but has no container {missing}"))
    return out


def _volumes(store: Store, client: docker.DockerClient, prefix: str,
             expected: Iterable[str]) -> list[Violation]:
    found = client.api.volumes(filters={"label": f"{naming.PREFIX}={prefix}"}).get("Volumes") or []
    names = {v["Name"] for v in found}
    out: list[Violation] = []
    for claim in store.list_claims():
        if claim.deletion_timestamp is None and claim.node_name and claim.volume not in names:
            out.append(Violation("volume", f"claim {claim.namespace}/{claim.name}",
                                 f"bound to {claim.node_name} but volume {claim.volume} is gone"))
    for name in expected:
        if name not in names:
            out.append(Violation("volume", f"volume {name}", "existed before the fault, gone"))
    return out


def _role(c: dict[str, Any]) -> str:
    labels = c.get("Labels") or {}
    role = str(labels.get(naming.CONTAINER, ""))
    return f"init:{role}" if labels.get(naming.INIT) == "true" else role


def _name(c: dict[str, Any]) -> str:
    names = c.get("Names") or [""]
    return str(names[0]).lstrip("/")
