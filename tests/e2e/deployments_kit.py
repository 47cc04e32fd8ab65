"""Helpers of the Deployment end-to-end tests: manifests, a store watch, a request stream.

Used by tests/e2e/test_deployments.py. `RolloutWatch` samples the store (the
CLI's own reader) every 0.1 s in a thread: how many of a Deployment's pods are
live and ready at each moment, and every ReplicaSet it ever had, so a test can
check the rollout's bounds afterwards (per node too, for a host lost mid-rollout).
`Hammer` sends HTTP GETs to a cluster IP
from the test process (the address the service put on `lo`) until stopped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.api.types import Key
from reconciler.planning.deployment import owned_source
from tests.e2e.service import ServiceRun
from tests.e2e.services_kit import pods_by_node, tcp_get

NGINX_IMAGE = "reconciler/nginx-slim:1"
NGINX_YAML = (Path(__file__).resolve().parents[3] / "shared" / "k8s-corpus" / "real"
              / "kubernetes-website" / "controllers" / "nginx-deployment.yaml")
# The website's images, run as the busybox httpd the StatefulSet example uses.
NGINX_MAP = f"nginx:1.14.2={NGINX_IMAGE},nginx:1.16.1={NGINX_IMAGE}"

# Each replica serves "VERSION <its hostname>"; READY is the readiness probe's path.
WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: REPLICAS
  progressDeadlineSeconds: DEADLINE
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: reconciler/busybox:1
        command:
        - sh
        - -c
        - mkdir -p /www && echo VERSION $(hostname) > /www/index.html
          && exec httpd -f -p 8080 -h /www
        ports: [{containerPort: 8080, name: http}]
        readinessProbe:
          httpGet: {path: READY, port: http}
          initialDelaySeconds: DELAY
          periodSeconds: 1
          # A loaded machine may time a probe out: one miss must not unready a pod.
          timeoutSeconds: 3
          failureThreshold: 5
"""

WEB_SVC = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"""


def web(version: str, replicas: int = 4, *, ready: bool = True, deadline: int = 600,
        delay: int = 0) -> str:
    """The `web` Deployment; `ready=False` gives a template whose pods never become ready."""
    # An HTTP probe: no `docker exec` per probe (cheap on a loaded engine); /never is a 404.
    probe = "/index.html" if ready else "/never"
    return (WEB.replace("REPLICAS", str(replicas)).replace("VERSION", version)
            .replace("READY", probe).replace("DEADLINE", str(deadline))
            .replace("DELAY", str(delay)))


def _reader(run: ServiceRun) -> Any:
    from reconciler.store.opener import open_reader

    return open_reader(str(run.state))


def status(run: ServiceRun, name: str = "web") -> dict[str, Any]:
    """The Deployment's status as the controller wrote it ({} before the first)."""
    store = _reader(run)
    try:
        obj = store.get_object(Key("Deployment", "default", name))
    finally:
        store.close()
    return dict(obj.status or {}) if obj is not None else {}


def condition(run: ServiceRun, type_: str, name: str = "web") -> dict[str, Any]:
    for c in status(run, name).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return {}


def replica_sets(run: ServiceRun, name: str = "web") -> dict[str, Any]:
    """The Deployment's ReplicaSets by name: their store records."""
    store = _reader(run)
    try:
        objs = store.objects(kind="ReplicaSet", namespace="default")
    finally:
        store.close()
    return {o.key.name: o for o in objs if o.source_file == owned_source("default", name)}


def sizes(run: ServiceRun, name: str = "web") -> dict[str, int]:
    return {n: int(o.body["spec"]["replicas"]) for n, o in replica_sets(run, name).items()}


def complete(run: ServiceRun, replicas: int, name: str = "web") -> bool:
    """kubectl rollout status's "successfully rolled out", from the store: the status is of
    the Deployment's latest generation, every replica updated and available."""
    store = _reader(run)
    try:
        obj = store.get_object(Key("Deployment", "default", name))
    finally:
        store.close()
    if obj is None or not obj.status:
        return False
    s = obj.status
    progressing = [c for c in s.get("conditions") or [] if c.get("type") == "Progressing"]
    return (int(s.get("observedGeneration") or 0) >= obj.generation
            and s.get("updatedReplicas") == replicas == s.get("replicas")
            == s.get("availableReplicas")
            and bool(progressing) and progressing[0].get("reason") == "NewReplicaSetAvailable")


def node_ready(run: ServiceRun, node: str) -> bool | None:
    """The node's Ready as the node controller last wrote it (None: not registered yet)."""
    store = _reader(run)
    try:
        record = store.get_node(node)
    finally:
        store.close()
    return None if record is None else record.ready


def deployment_pods(run: ServiceRun, name: str = "web") -> list[Any]:
    """The Deployment's pod records (being deleted or not), from the store."""
    store = _reader(run)
    try:
        pods = store.list_pods(namespace="default")
    finally:
        store.close()
    return [p for p in pods if p.owner is not None and p.owner.kind == "ReplicaSet"
            and p.owner.name.startswith(f"{name}-")]


def events_of(run: ServiceRun, kind: str, reason: str) -> list[Any]:
    """Events of `kind` objects with `reason`, oldest first."""
    store = _reader(run)
    try:
        events = store.list_events(kind=kind)
    finally:
        store.close()
    found = [e for e in events if e.reason == reason]
    found.sort(key=lambda e: (e.first_seen is None, e.first_seen))
    return found


def scaling_events(run: ServiceRun, name: str = "web") -> list[str]:
    """The Deployment's ScalingReplicaSet messages, oldest first."""
    store = _reader(run)
    try:
        events = store.list_events(namespace="default", kind="Deployment", name=name)
    finally:
        store.close()
    events = [e for e in events if e.reason == "ScalingReplicaSet"]
    events.sort(key=lambda e: (e.first_seen is None, e.first_seen))
    return [e.message for e in events]


@dataclass
class Sample:
    at: float
    live: int  # the Deployment's pods not being deleted
    ready: int
    by_rs: dict[str, int] = field(default_factory=dict)
    on: dict[str, set[str]] = field(default_factory=dict)  # node -> its live pods' names


class RolloutWatch:
    """Samples a Deployment's pods from the store every 0.1 s in a thread."""

    def __init__(self, run: ServiceRun, name: str = "web") -> None:
        self.run = run
        self.name = name
        self.samples: list[Sample] = []
        self.rs_uids: dict[str, set[str]] = {}  # RS name -> every uid it had
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                store = _reader(self.run)
                try:
                    pods = store.list_pods(namespace="default")
                    objs = store.objects(kind="ReplicaSet", namespace="default")
                finally:
                    store.close()
            except Exception:  # the state file appears when the service starts
                time.sleep(0.1)
                continue
            for o in objs:
                if o.source_file == owned_source("default", self.name):
                    self.rs_uids.setdefault(o.key.name, set()).add(o.uid)
            ours = [p for p in pods if p.owner is not None and p.owner.kind == "ReplicaSet"
                    and p.owner.name.startswith(f"{self.name}-")
                    and p.deletion_timestamp is None
                    and p.phase not in ("Succeeded", "Failed")]
            by_rs = Counter(p.owner.name for p in ours if p.owner is not None)
            on: dict[str, set[str]] = {}
            for p in ours:
                on.setdefault(p.node_name, set()).add(p.name)
            self.samples.append(Sample(time.monotonic(), len(ours),
                                       sum(1 for p in ours if p.ready), dict(by_rs), on))
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def max_live(self, since: float = 0.0) -> int:
        return max((s.live for s in self.samples if s.at >= since), default=0)

    def min_ready(self, since: float = 0.0) -> int:
        return min((s.ready for s in self.samples if s.at >= since), default=0)

    def max_on(self, node: str, since: float = 0.0) -> int:
        """The most live pods `node` had at once."""
        return max((len(s.on.get(node, ())) for s in self.samples if s.at >= since),
                   default=0)


class Hammer:
    """GETs to HOST:PORT from the test process, one after another, until `stop()`."""

    def __init__(self, host: str, port: int = 80, pause: float = 0.02) -> None:
        self.host, self.port, self.pause = host, port, pause
        self.answers: Counter[str] = Counter()
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            got = tcp_get(self.host, self.port, timeout=5)
            if got:
                self.answers[got.split()[0]] += 1
            else:
                self.failures += 1
            time.sleep(self.pause)

    def stop_after(self, seconds: float) -> Counter[str]:
        time.sleep(seconds)
        return self.stop()

    def stop(self) -> Counter[str]:
        """Stop; the answers by version, with failures under "FAIL"."""
        self._stop.set()
        self._thread.join(10)
        out = Counter(self.answers)
        if self.failures:
            out["FAIL"] = self.failures
        return out


def start(svc_factory: list[ServiceRun], tmp_path: Path, proxy: bool = False,
          **kwargs: object) -> ServiceRun:
    args = () if proxy else ("--proxy-mode", "off")
    run = ServiceRun(tmp_path, args=args, **kwargs)  # type: ignore[arg-type]
    svc_factory.append(run)
    return run


def rolled(run: ServiceRun, replicas: int, name: str = "web") -> bool:
    """Complete, and every live pod of the Deployment is of the new ReplicaSet."""
    if not complete(run, replicas, name):
        return False
    new = [n for n, size in sizes(run, name).items() if size == replicas]
    return len(new) == 1 and len(pods_by_node(run, new[0] + "-")) == replicas
