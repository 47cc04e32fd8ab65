"""Helpers of the service-process end-to-end tests (test_service_process.py).

Beside tests/e2e/service.py (the service as a subprocess): manifests as text,
the containers of a prefix with their ids, a recorder of Docker's event
stream (to time an edit against the first Docker call it causes), a local
bare git repository with a working clone to commit from, and a metrics
scrape.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.service import ServiceRun

POD_UID = "io.reconciler.pod.uid"
CONTAINER = "io.reconciler.container.name"


def _argv(command: str | list[str]) -> str:
    """A command's JSON argv: text split on spaces, a list (["sh", "-c", ...]) as it is."""
    return json.dumps(command.split() if isinstance(command, str) else command)


def pod_yaml(name: str, command: str | list[str] = "sleep 3600", labels: str = "app: sleeper",
             image: str = "reconciler/busybox:1", namespace: str = "default") -> str:
    """A one-container busybox pod that stops within a second."""
    argv = _argv(command)
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{{labels}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {image}
    command: {argv}
"""


def rc_yaml(name: str, replicas: int, command: str | list[str] = "sleep 3600",
            annotations: str = "{}", namespace: str = "default") -> str:
    """A replication controller of busybox sleepers labelled app=<name>."""
    argv = _argv(command)
    return f"""\
apiVersion: v1
kind: ReplicationController
metadata:
  name: {name}
  namespace: {namespace}
  annotations: {annotations}
spec:
  replicas: {replicas}
  selector: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: reconciler/busybox:1
        command: {argv}
"""


@dataclass(frozen=True)
class Ctr:
    """One container of a prefix as `docker ps -a` shows it."""

    id: str
    name: str
    running: bool
    pod_uid: str
    container: str


def engine_containers(prefix: str, docker_host: str | None = None) -> list[Ctr]:
    """Every container (running or not) a service with `prefix` created on an engine."""
    base = ["docker"] + (["-H", docker_host] if docker_host else [])
    ids = subprocess.run([*base, "ps", "-aq", "--no-trunc", "--filter",
                                f"label=io.reconciler.prefix={prefix}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return []
    raw = subprocess.run([*base, "container", "inspect", *ids], capture_output=True, text=True,
                         check=False).stdout
    out = []
    for c in json.loads(raw or "[]"):
        labels = c["Config"]["Labels"] or {}
        out.append(Ctr(c["Id"], c["Name"].lstrip("/"), bool(c["State"]["Running"]),
                       labels.get(POD_UID, ""), labels.get(CONTAINER, "")))
    return out


def running_ids(prefix: str) -> dict[str, str]:
    """name -> id of the running containers of `prefix`."""
    return {c.name: c.id for c in engine_containers(prefix) if c.running}


def status_ids(run: ServiceRun) -> dict[str, tuple[str, int]]:
    """pod name -> (container id, restart count) of each pod's first container, from the store."""
    out: dict[str, tuple[str, int]] = {}
    for pod in run.pods():
        statuses = pod["status"].get("containerStatuses") or []
        if statuses:
            cid = statuses[0].get("containerID", "").removeprefix("docker://")
            out[pod["metadata"]["name"]] = (cid, int(statuses[0].get("restartCount", 0)))
    return out


@dataclass
class DockerEvents:
    """`docker events` for one prefix, recorded in the background with nanosecond times."""

    prefix: str
    events: list[tuple[float, str, str]] = field(default_factory=list)  # (epoch s, action, name)
    _proc: subprocess.Popen[str] | None = None

    def start(self) -> DockerEvents:
        self._proc = subprocess.Popen(
            ["docker", "events", "--filter", f"label=io.reconciler.prefix={self.prefix}",
             "--filter", "type=container", "--format", "{{json .}}"],
            stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)  # the stream is live once the CLI has connected
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            name = e.get("Actor", {}).get("Attributes", {}).get("name", "")
            self.events.append((e["timeNano"] / 1e9, e.get("Action", ""), name))

    def first_after(self, t: float, actions: tuple[str, ...] = ()) -> float | None:
        """Epoch time of the first event at or after `t` (optionally of given actions)."""
        times = [ts for ts, action, _ in list(self.events)
                 if ts >= t and (not actions or action.split(":")[0] in actions)]
        return min(times) if times else None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(5)


@dataclass
class GitRepo:
    """A bare repository (what the service fetches) and a clone the test commits from."""

    root: Path

    @property
    def bare(self) -> Path:
        return self.root / "desired.git"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        run = subprocess.run(["git", *args], cwd=cwd or self.work, capture_output=True,
                             text=True, check=True,
                             env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                                  "GIT_COMMITTER_NAME": "t",
                                  "GIT_COMMITTER_EMAIL": "t@example.invalid",
                                  "HOME": str(self.root), "PATH": "/usr/bin:/bin"})
        return run.stdout.strip()

    def init(self) -> GitRepo:
        self.root.mkdir(parents=True, exist_ok=True)
        self.git("init", "--bare", "-b", "main", str(self.bare), cwd=self.root)
        self.git("clone", str(self.bare), str(self.work), cwd=self.root)
        self.git("checkout", "-b", "main")
        return self

    def commit(self, files: dict[str, str | None], message: str) -> str:
        """Write (or, for None, delete) files, commit, push to the bare repo; the new SHA."""
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
            else:
                path.write_text(text)
        self.git("add", "-A", ".")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", "main")
        return self.git("rev-parse", "HEAD")


def scrape(address: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of a /metrics endpoint: sample name -> [(labels, value)]."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def metric(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
           **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(v for lab, v in samples.get(name, [])
               if all(lab.get(k) == want for k, want in labels.items()))


def events_text(run: ServiceRun) -> str:
    """`reconciler get events -A` output (revision and node events have no namespace)."""
    return run.cli("get", "events", "-A").stdout


def json_items(text: str) -> list[dict[str, Any]]:
    data = json.loads(text)
    items: list[dict[str, Any]] = data.get("items", [data]) if isinstance(data, dict) else data
    return items
