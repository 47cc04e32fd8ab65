"""What every benchmark drives: the real service, the Docker engines, HTTP probes, clean-up.

Sits under the benchmark modules. The service is `reconciler run` as a
subprocess (tests/e2e/service.py's `ServiceRun`, with its own container-name
prefix and state); everything a benchmark creates carries the label
`reconciler.bench=1` or the service's prefix label and is removed by `cleanup`.
Only loopback, the project's own containers and the hostb namespace are contacted.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, NotFound

from tests.e2e.service import ServiceRun
from tests.support.fluent_receiver import free_port

LOCAL = "unix:///var/run/docker.sock"
HOSTB = "unix:///var/run/docker-hostb.sock"
HOSTD = "unix:///var/run/docker-hostd.sock"  # the scale benchmark's own second host
ROOT = Path(__file__).resolve().parents[1]
LABEL = "reconciler.bench"
BUSYBOX = "reconciler/busybox:1"
PAUSE = "reconciler/pause:1"
PREFIX_LABEL = "io.reconciler.prefix"


def client(url: str = LOCAL) -> docker.DockerClient:
    return docker.DockerClient(base_url=url, version="1.41", timeout=120, max_pool_size=32)


def new_prefix(name: str) -> str:
    return f"b{name[:4]}{uuid.uuid4().hex[:5]}"


@contextlib.contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A scratch folder for one benchmark, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as d:
        yield Path(d)


# What ServiceRun (a test harness) sets that a user's service does not: removed so the
# service's own defaults apply (resync 30 s, heartbeat 5 s, info logging).
TEST_SETTINGS = ("RECONCILER_RESYNC_INTERVAL", "RECONCILER_HEARTBEAT_INTERVAL",
                 "RECONCILER_LOG_LEVEL")
DEFAULTS = "default configuration: iptables proxy, DNS, metrics, dashboard, info log, " \
    "resync 30 s, heartbeat 5 s"


@contextlib.contextmanager
def service(tmp: Path, *, proxy: str = "iptables", extra_env: dict[str, str] | None = None,
            start: bool = True, hosts: tuple[str, ...] = (LOCAL,)) -> Iterator[ServiceRun]:
    """The real service on tmp/desired, as a user runs it (DEFAULTS); stopped, and its
    containers removed, afterwards.

    Only the dashboard's and the metrics' ports differ from the defaults (8080 and
    9464 may be taken on a shared machine): free ports, both features on. A proxy
    takes the machine-wide proxy lock (tests/support/machine_lock.py) while it runs.
    """
    run = ServiceRun(tmp, prefix=new_prefix(tmp.name.split("-")[1]),
                     args=("--proxy-mode", proxy),
                     extra_env={"RECONCILER_UI_ADDRESS": f"127.0.0.1:{free_port()}",
                                "RECONCILER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"})
    for key in TEST_SETTINGS:
        run.env.pop(key, None)
    run.env.update(extra_env or {})
    try:
        if start:
            run.start(timeout=120)
        yield run
    finally:
        if run.proc is not None:
            run.stop()
        for url in hosts:
            remove_prefix(url, run.prefix)


def remove_prefix(url: str, prefix: str, attempts: int = 3) -> None:
    """Force-remove a service's containers on one engine, 8 at a time, until none is left
    (a busy engine sometimes drops a remove: `docker rm` then says EOF)."""
    with contextlib.closing(client(url)) as dc:
        for _ in range(attempts):
            try:
                ids = [c["Id"] for c in dc.api.containers(
                    all=True, filters={"label": f"{PREFIX_LABEL}={prefix}"})]
            except requests.exceptions.Timeout:
                continue  # a saturated engine, not a gone one: ask again
            except OSError:  # the engine is gone (hostb stopped): nothing to remove there
                return
            if not ids:
                return

            def rm(cid: str) -> None:
                with contextlib.suppress(NotFound, APIError, OSError):
                    dc.api.remove_container(cid, force=True, v=True)
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(rm, ids))


class PodWatch:
    """Pod name -> pod IP as the pods' sandboxes start, from the engine's event stream: one
    inspect per sandbox, as the SDK floor inspects each of its own, and no list of the
    engine while it starts the very pods being timed (a list every 20 ms of a burst was
    dockerd CPU the floor's side never paid). Open it before the pods are written;
    `close` ends the stream. `labels` select the sandboxes; `name_label` names the pod
    (`of_service`: a service's pods)."""

    def __init__(self, dc: docker.DockerClient, labels: list[str], name_label: str) -> None:
        self.known: dict[str, str] = {}
        self._dc = dc
        self._name_label = name_label
        self._stream = dc.api.events(
            since=int(time.time()) - 1, decode=True,
            filters={"type": "container", "event": "start", "label": labels})
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        with contextlib.suppress(Exception):  # the stream closed
            for ev in self._stream:
                attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                try:
                    nets = self._dc.api.inspect_container(ev["id"])["NetworkSettings"]
                except NotFound:
                    continue  # gone already: a later start of its pod says where it is
                ip = next((n["IPAddress"] for n in (nets["Networks"] or {}).values()
                           if n.get("IPAddress")), "")
                if ip:
                    self.known[attrs.get(self._name_label, ev["id"])] = ip

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()
        self._thread.join(5)

    @classmethod
    def of_service(cls, dc: docker.DockerClient, prefix: str) -> PodWatch:
        """The sandboxes of the service with `prefix`, by pod name."""
        return cls(dc, [f"{PREFIX_LABEL}={prefix}", "io.reconciler.container.name=POD"],
                   "io.reconciler.pod.name")


def app_containers(dc: docker.DockerClient, prefix: str,
                   running: bool = True) -> list[dict[str, Any]]:
    """The app (non-infra) containers of a service, running ones only unless told."""
    filters: dict[str, Any] = {"label": [f"{PREFIX_LABEL}={prefix}"]}
    if running:
        filters["status"] = "running"
    return [c for c in dc.api.containers(all=not running, filters=filters)
            if c["Labels"].get("io.reconciler.container.name") != "POD"]


def http_answers(ip: str, port: int, timeout: float = 0.5) -> bool:
    """One HTTP/1.0 GET: True when anything that looks like an HTTP response comes back."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def wait_for(pred: Callable[[], Any], timeout: float, interval: float = 0.02,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def cleanup_label(url: str = LOCAL) -> None:
    """Remove every container a benchmark created directly (label reconciler.bench=1)."""
    with contextlib.closing(client(url)) as dc:
        for c in dc.api.containers(all=True, filters={"label": f"{LABEL}=1"}):
            with contextlib.suppress(NotFound):
                dc.api.remove_container(c["Id"], force=True, v=True)


def hostb_up() -> bool:
    """Start the second engine (scripts/hostb.sh) if it is not; False when this machine cannot."""
    return host_script("hostb", "start")


def leftovers(url: str, prefix: str) -> int:
    """How many containers of a service are still on an engine (-1: it does not answer)."""
    try:
        with contextlib.closing(client(url)) as dc:
            return len(dc.api.containers(all=True,
                                         filters={"label": f"{PREFIX_LABEL}={prefix}"}))
    except OSError:
        return -1


def host_script(host: str, action: str) -> bool:
    """scripts/<host>.sh start|stop (a Docker host in a network namespace); True on success."""
    run = subprocess.run([str(ROOT / "scripts" / f"{host}.sh"), action], capture_output=True,
                         text=True, timeout=120, check=False)
    return run.returncode == 0


def bridge_subnet(url: str) -> str:
    """The subnet of an engine's default bridge (where pods get their addresses), or ""."""
    with contextlib.closing(client(url)) as dc:
        configs = (dc.api.inspect_network("bridge").get("IPAM") or {}).get("Config") or []
    return str(configs[0].get("Subnet", "")) if configs else ""


def status_kb(pid: int, field: str = "VmHWM") -> int:
    """A memory figure of a process from /proc (VmHWM: peak RSS; VmRSS: now), in KiB."""
    with contextlib.suppress(OSError):
        for text in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text.startswith(field + ":"):
                return int(text.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def wait_quiet(pid: int, limit: float = 90.0, busy: float = 0.05) -> float:
    """Wait until the service used under `busy` CPU seconds per second for 1 s; the wait."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - c0 < busy:
            break
    return time.monotonic() - t0
