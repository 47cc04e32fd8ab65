"""Helpers of the StatefulSet end-to-end tests: manifests, a store timeline, DNS and volumes.

Used by tests/e2e/test_statefulsets.py and test_statefulsets_dns.py: `web_service`
is their service on the website's example. `PodWatch` records, from the store the CLI
reads, when each member was created, ready and deleted, so the tests can check
Kubernetes' ordering rules; the rest runs busybox tools in pods through
`reconciler exec` and lists the Docker volumes a run made.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.service import ROOT, ServiceRun, remove_all
from tests.e2e.services_kit import HOSTB_URL, client_pod, exec_out, http_loop, pods_by_node, tally

NGINX_IMAGE = "reconciler/nginx-slim:1"
WEB_YAML = (ROOT.parent / "shared" / "k8s-corpus" / "real" / "kubernetes-website"
            / "application" / "web" / "web.yaml")

# A pod as a StatefulSet makes it: hostname and subdomain set, under the headless
# service `nginx`. READY decides whether its readiness probe can pass.
MEMBER = """\
apiVersion: v1
kind: Pod
metadata: {name: NAME, labels: {app: nginx}}
spec:
  hostname: NAME
  subdomain: nginx
  terminationGracePeriodSeconds: 0
  containers:
  - name: nginx
    image: reconciler/busybox:1
    command: ["sh", "-c", "READY hostname > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
    ports: [{containerPort: 80, name: web}]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
"""

HEADLESS = """\
apiVersion: v1
kind: Service
metadata: {name: nginx, labels: {app: nginx}}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{port: 80, name: web}]
"""


def member(name: str, ready: bool = True) -> str:
    return MEMBER.replace("NAME", name).replace(
        "READY", "touch /tmp/ready &&" if ready else "")


def nslookup(run: ServiceRun, pod: str, name: str, namespace: str = "default") -> set[str]:
    """The addresses busybox nslookup prints for `name` inside `pod` (server lines left out)."""
    # busybox nslookup exits 1 when any search-list candidate is NXDOMAIN.
    out = run.cli("exec", "-n", namespace, pod, "--", "sh", "-c",
                  f"nslookup {name} 2>&1; true").stdout
    answer = out.split("Name:", 1)[1] if "Name:" in out else ""
    return set(re.findall(r"Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)", answer))


class PodWatch:
    """Polls the store (the CLI's own reader) every 0.1 s in a thread: when each pod
    (by uid) was first seen, first ready, and first marked deleted or gone."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.seen: dict[str, tuple[str, float]] = {}  # uid -> (name, first seen)
        self.ready: dict[str, float] = {}
        self.deleted: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from reconciler.store.opener import open_reader

        while not self._stop.is_set():
            try:
                store = open_reader(str(self.state))
                try:
                    pods = store.list_pods()
                finally:
                    store.close()
            except Exception:  # the file appears when the service starts
                time.sleep(0.1)
                continue
            now = time.monotonic()
            alive = set()
            for p in pods:
                if p.owner is None or p.owner.kind != "StatefulSet":
                    continue
                self.seen.setdefault(p.uid, (p.name, now))
                if p.deletion_timestamp is not None:
                    self.deleted.setdefault(p.uid, now)
                else:
                    alive.add(p.uid)
                    if p.phase == "Running" and p.ready:
                        self.ready.setdefault(p.uid, now)
            for uid in self.seen:
                if uid not in alive:
                    self.deleted.setdefault(uid, now)
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def uids(self, name: str) -> list[str]:
        """The uids a pod name had, oldest first."""
        return sorted((u for u, (n, _) in self.seen.items() if n == name),
                      key=lambda u: self.seen[u][1])

    @staticmethod
    def _caught_up(read: Callable[[], float], timeout: float = 10) -> float:
        """`read()` once the watch has seen it: the store (read by the test) can be a few
        of the watch's samples ahead on a loaded machine."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return read()
            except (KeyError, IndexError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def created(self, name: str, nth: int = -1) -> float:
        return self._caught_up(lambda: self.seen[self.uids(name)[nth]][1])

    def ready_at(self, name: str, nth: int = -1) -> float:
        return self._caught_up(lambda: self.ready[self.uids(name)[nth]])

    def deleted_at(self, name: str, nth: int = -1) -> float:
        return self._caught_up(lambda: self.deleted[self.uids(name)[nth]])

    def timeline(self) -> str:
        rows = []
        for uid, (name, t) in self.seen.items():
            rows.append((t, f"{name} ({uid[:8]}) created"))
            if uid in self.ready:
                rows.append((self.ready[uid], f"{name} ({uid[:8]}) ready"))
            if uid in self.deleted:
                rows.append((self.deleted[uid], f"{name} ({uid[:8]}) deleted"))
        t0 = min((t for t, _ in rows), default=0.0)
        return "\n".join(f"  {t - t0:6.2f}s {what}" for t, what in sorted(rows))


def volumes(prefix: str, host: str = "") -> set[str]:
    """Names of the Docker volumes a service with `prefix` made for claims on an engine."""
    base = ["docker", *(["-H", host] if host else [])]
    out = subprocess.run([*base, "volume", "ls", "-q", "--filter",
                          f"label=io.reconciler.prefix={prefix}"],
                         capture_output=True, text=True, check=False).stdout
    return {v for v in out.split() if v.startswith("www-")}


def remove_volumes(prefix: str, host: str = "") -> None:
    """Remove the claims' volumes a service with `prefix` made on an engine."""
    left = volumes(prefix, host)
    if left:
        subprocess.run(["docker", *(["-H", host] if host else []), "volume", "rm", "-f", *left],
                       capture_output=True, check=False)


def http_get(run: ServiceRun, pod: str, host: str) -> str:
    """The body's last line of GET / on HOST:80, from inside `pod` ('' on failure)."""
    got = tally(exec_out(run, pod, http_loop(f"{host} 80", 1)))
    return next(iter(got)) if got and "FAIL" not in got else ""


def running_members(run: ServiceRun) -> list[str]:
    return sorted(n for n in pods_by_node(run, "web-"))


def set_events(run: ServiceRun, verb: str) -> list[str]:
    """Pods named in the StatefulSet's `create Pod` / `delete Pod` events, oldest first."""
    from reconciler.store.opener import open_reader

    store = open_reader(str(run.state))
    try:
        events = store.list_events("default", kind="StatefulSet", name="web")
    finally:
        store.close()
    found = (re.match(rf"{verb} Pod (\S+) in StatefulSet web successful", e.message)
             for e in events)
    return [m.group(1) for m in found if m]


def web_yaml(**fields: str) -> str:
    """web.yaml with spec fields (YAML flow text) added after serviceName."""
    extra = "".join(f"  {k}: {v}\n" for k, v in fields.items())
    return WEB_YAML.read_text().replace('  serviceName: "nginx"\n',
                                        '  serviceName: "nginx"\n' + extra, 1)


def set_replicas(run: ServiceRun, n: int) -> None:
    """Edit `replicas:` of the StatefulSet in web.yaml, as a user would."""
    path = run.desired / "web.yaml"
    text, count = re.subn(r"(?m)^  replicas: \d+$", f"  replicas: {n}", path.read_text())
    assert count == 1
    run.write("web.yaml", text)


def members_are(run: ServiceRun, names: list[str]) -> bool:
    """Exactly `names` run and are ready, and no other member of the set exists."""
    return running_members(run) == names and sorted(
        p["metadata"]["name"] for p in run.pods() if p["metadata"]["name"].startswith("web-")
    ) == names


# The claims' volumes are named as Kubernetes names PVCs (www-web-0), not by a run's
# prefix, so two runs of the example on one engine would share them: every test on the
# example holds this lock (the two test files run on parallel workers).
WEB_VOLUMES_LOCK = "/tmp/reconciler-e2e-statefulset-web.lock"


@contextlib.contextmanager
def web_service(svc_factory: list[ServiceRun], tmp_path: Path,
                proxy: bool) -> Iterator[tuple[ServiceRun, PodWatch]]:
    """The service (not started yet), with or without its proxy, on a folder holding
    web.yaml as published and a client pod, under WEB_VOLUMES_LOCK; afterwards it is
    stopped, its containers and its claims' volumes removed."""
    if not WEB_YAML.exists():
        pytest.skip(f"{WEB_YAML} not found (the shared Kubernetes corpus)")
    build = subprocess.run([str(ROOT / "scripts" / "build-images.sh")], capture_output=True,
                           text=True, timeout=120, check=False)
    present = subprocess.run(["docker", "image", "inspect", NGINX_IMAGE], capture_output=True,
                             check=False).returncode == 0
    if build.returncode != 0 or not present:
        pytest.skip(f"cannot build {NGINX_IMAGE}: {build.stderr}")
    env = {"RECONCILER_RUNTIME_IMAGE_MAP": f"registry.k8s.io/nginx-slim:0.8={NGINX_IMAGE}"}
    if not proxy:
        env["RECONCILER_NETWORK_PROXY_MODE"] = "off"
    run = ServiceRun(tmp_path, extra_env=env)
    svc_factory.append(run)
    fd = os.open(WEB_VOLUMES_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    watch: PodWatch | None = None
    try:
        # A volume a crashed run left behind would be adopted: those no container uses are
        # removed (another checkout running these tests keeps a scaled-down member's
        # volume unused but not stale).
        stale = [f"www-web-{i}" for i in range(5)]
        hostb_up = Path(HOSTB_URL[len("unix://"):]).exists()
        for host in (["-H", HOSTB_URL], []) if hostb_up else ([],):
            subprocess.run(["docker", *host, "volume", "rm", *stale], capture_output=True,
                           check=False)
        shutil.copyfile(WEB_YAML, run.desired / "web.yaml")
        run.write("client.yaml", client_pod("client"))
        watch = PodWatch(run.state)
        yield run, watch
    finally:
        if watch is not None:
            watch.stop()
            print("\npods of the StatefulSet:\n" + watch.timeline())
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        remove_all(run.prefix)
        remove_volumes(run.prefix)
        if Path(HOSTB_URL[len("unix://"):]).exists():  # the hostb fixture may start it later
            remove_all(run.prefix, HOSTB_URL)
            remove_volumes(run.prefix, HOSTB_URL)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
