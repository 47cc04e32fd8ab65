"""The peers the service is measured against: a bare docker SDK script, docker-compose, wrk.

Used by coldstart.py, scaling.py and proxy.py. Debian's docker-compose (1.29)
and wrk are installed with apt when missing (the only set-up a benchmark does
besides the images). Every container made here carries `reconciler.bench=1`.

On equal terms with the service: its app containers run under Docker's init
(runtime/sandbox.py), so every peer's app container does too (`init: true` in
compose, `init=True` in the SDK script); the texts below say so in the tables.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import docker

from bench.harness import BUSYBOX, LABEL, PAUSE, PodWatch

HTTP_PORT = 8080
SDK_FLOOR = "SDK floor: docker SDK script, pause + busybox httpd per pod, init=True"
COMPOSE_PODS = "docker-compose 1.29: pause + busybox httpd per pod, init: true, bridge"
COMPOSE_REPLICAS = ("docker-compose 1.29 `up -d --scale`: one busybox httpd per replica, "
                    "init: true, bridge")


def ensure_tool(binary: str, package: str) -> str:
    """The path of `binary`, installing Debian's `package` first when it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True,
                   capture_output=True, timeout=600)
    found = shutil.which(binary)
    if not found:
        raise RuntimeError(f"{package} installed but {binary} is not on PATH")
    return found


# -- the floor: a pod made directly with the docker SDK --

def sdk_pod(dc: docker.DockerClient, name: str, command: list[str] | None = None) -> str:
    """Infra (pause) + one busybox container joined to it, both started; the infra id."""
    api = dc.api
    labels = {LABEL: "1"}
    infra = api.create_container(PAUSE, name=f"{name}-POD", labels=labels,
                                 host_config=api.create_host_config(ipc_mode="shareable"))["Id"]
    api.start(infra)
    app = api.create_container(
        BUSYBOX, name=f"{name}-app", labels=labels,
        command=command or ["httpd", "-f", "-p", str(HTTP_PORT)],
        host_config=api.create_host_config(network_mode=f"container:{infra}",
                                           ipc_mode=f"container:{infra}", init=True))["Id"]
    api.start(app)
    return str(infra)


def container_ip(dc: docker.DockerClient, cid: str) -> str:
    nets = dc.api.inspect_container(cid)["NetworkSettings"]["Networks"]
    return next((n["IPAddress"] for n in nets.values() if n.get("IPAddress")), "")


# -- docker-compose --

# Compose's default is a project network with embedded DNS; on Docker 20.10.24 churn on such
# a network deadlocks the engine (moby/moby#46661). The default bridge is also what pods use.


INFRA_LABEL = "reconciler.bench.infra"  # a compose pod's pause service, for the observer


def compose_pods(n: int) -> dict[str, Any]:
    """A compose file with `n` pods made the same way: a pause service + an httpd joined to it."""
    services: dict[str, Any] = {}
    for i in range(n):
        services[f"infra{i}"] = {"image": PAUSE, "labels": {LABEL: "1", INFRA_LABEL: "1"},
                                 "ipc": "shareable", "network_mode": "bridge"}
        services[f"app{i}"] = {"image": BUSYBOX, "labels": {LABEL: "1"},
                               "command": ["httpd", "-f", "-p", str(HTTP_PORT)],
                               "network_mode": f"service:infra{i}", "init": True,
                               "ipc": f"service:infra{i}",
                               "depends_on": [f"infra{i}"]}
    return {"version": "2.4", "services": services}


def compose_replicas() -> dict[str, Any]:
    """One scalable service: a busybox httpd (as the RC's template runs it)."""
    return {"version": "2.4", "services": {"web": {
        "image": BUSYBOX, "labels": {LABEL: "1"}, "network_mode": "bridge", "init": True,
        "command": ["httpd", "-f", "-p", str(HTTP_PORT)]}}}


class Compose:
    """`docker-compose -p PROJECT -f FILE ...` on a file written into `directory`."""

    def __init__(self, directory: Path, project: str, spec: dict[str, Any]) -> None:
        self.binary = ensure_tool("docker-compose", "docker-compose")
        self.project = project
        self.file = directory / "docker-compose.json"
        self.file.write_text(json.dumps(spec))

    def run(self, *args: str, timeout: float = 300) -> float:
        """Run one command; the seconds it took."""
        started = time.monotonic()
        subprocess.run([self.binary, "-p", self.project, "-f", str(self.file), *args],
                       check=True, capture_output=True, timeout=timeout)
        return time.monotonic() - started

    def watch(self, dc: docker.DockerClient) -> PodWatch:
        """The pods' pause containers as they start, by service name (harness.PodWatch)."""
        return PodWatch(dc, [f"com.docker.compose.project={self.project}", f"{INFRA_LABEL}=1"],
                        "com.docker.compose.service")

    def containers(self, dc: docker.DockerClient, running: bool = True) -> list[dict[str, Any]]:
        filters: dict[str, Any] = {"label": f"com.docker.compose.project={self.project}"}
        if running:
            filters["status"] = "running"
        return list(dc.api.containers(all=not running, filters=filters))

    def down(self) -> None:
        subprocess.run([self.binary, "-p", self.project, "-f", str(self.file), "down", "-t", "0",
                        "--remove-orphans"], check=False, capture_output=True, timeout=300)
