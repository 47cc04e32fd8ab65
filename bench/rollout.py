"""Benchmark rollout: a 20-replica rolling update beside docker-compose and Docker Swarm (issue 16).

Three runs in one go, each with a client sending HTTP GETs the whole time and
counting the ones that fail:
- the service (default configuration): the `web` Deployment of
  tests/e2e/deployments_kit.py (busybox httpd, readiness probe every 1 s,
  maxSurge 25%, maxUnavailable 25%) behind a Service; the client asks its
  cluster IP. Timed from the manifest's new template to the Deployment's
  status saying every replica is updated and available (the new pods Ready).
- docker-compose 1.29: one service of 20 replicas (`up -d --scale web=20`);
  a changed environment, `up -d` again, timed until 20 new containers answer.
  Compose has no load balancer on the default bridge: the client asks the
  running containers' addresses round robin, listed again every 0.5 s.
- Docker Swarm on this one engine (`docker swarm init` here only when the
  engine is in no swarm, `docker swarm leave --force` after): a service of 20
  replicas, health check as the readiness probe, `--update-parallelism 5
  --update-order start-first` (the same 25% surge); `docker service update`
  timed until it returns converged. The client asks the published port on
  127.0.0.1 (the routing mesh).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.harness import (
    BUSYBOX,
    DEFAULTS,
    LABEL,
    LOCAL,
    client,
    http_answers,
    service,
    wait_for,
    workdir,
    write_atomic,
)
from bench.peers import HTTP_PORT, Compose
from bench.report import Goal, Row
from tests.e2e.deployments_kit import WEB_SVC, web
from tests.support.fluent_receiver import free_port

NAME = "rollout"
REPLICAS = 20
SERVE = (f"mkdir -p /www && echo $VERSION $(hostname) > /www/index.html "
         f"&& exec httpd -f -p {HTTP_PORT} -h /www")
SWARM_SERVICE = "rbench-web"


class Client:
    """GETs in a thread, round robin over `targets()` (listed again every 0.5 s)."""

    def __init__(self, targets: Callable[[], list[tuple[str, int]]]) -> None:
        self.targets = targets
        self.ok = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        listed, at = self.targets(), time.monotonic()
        cycle = itertools.cycle(listed)
        while not self._stop.is_set():
            if time.monotonic() - at > 0.5:
                listed, at = self.targets(), time.monotonic()
                cycle = itertools.cycle(listed)
            if not listed:
                self.failed += 1
                time.sleep(0.02)
                continue
            host, port = next(cycle)
            if http_answers(host, port, timeout=2.0):
                self.ok += 1
            else:
                self.failed += 1
            time.sleep(0.01)

    def stop(self) -> str:
        self._stop.set()
        self._thread.join(10)
        return f"{self.failed} failed of {self.ok + self.failed} requests"


def _reconciler(replicas: int) -> tuple[float, int, str]:
    with workdir("rollout") as tmp:
        (tmp / "desired").mkdir()
        write_atomic(tmp / "desired" / "web.yaml", web("v1", replicas))
        write_atomic(tmp / "desired" / "web-svc.yaml", WEB_SVC)
        with service(tmp) as svc:
            wait_for(lambda: _rolled(svc, "v1", replicas), 600, 0.2, what="v1 rolled out")
            ip = json.loads(svc.cli("get", "svc", "web", "-o", "json").stdout)["spec"]["clusterIP"]
            wait_for(lambda: http_answers(ip, 80), 60, 0.2, what="the cluster IP to answer")
            c = Client(lambda: [(ip, 80)])
            time.sleep(1.0)
            started = time.monotonic()
            write_atomic(svc.desired / "web.yaml", web("v2", replicas))
            wait_for(lambda: _rolled(svc, "v2", replicas), 900, 0.1, what="v2 rolled out")
            elapsed = time.monotonic() - started
            time.sleep(1.0)
            failed, note = c.failed, c.stop()
    return elapsed, failed, note


def _rolled(svc: Any, version: str, replicas: int) -> bool:
    """The store's Deployment is `version`'s and its status, of that generation, says every
    replica is updated and available: one read, so body and status are of one moment."""
    from reconciler.api.types import Key
    from reconciler.store.opener import open_reader

    store = open_reader(str(svc.state))
    try:
        o = store.get_object(Key("Deployment", "default", "web"))
    finally:
        store.close()
    if o is None or version not in json.dumps(o.body["spec"]["template"]):
        return False
    s = o.status or {}
    return (int(s.get("observedGeneration") or 0) >= o.generation
            and s.get("updatedReplicas") == s.get("replicas") == s.get("availableReplicas")
            == replicas)


def _compose_spec(version: str) -> dict[str, Any]:
    return {"version": "2.4", "services": {"web": {
        "image": BUSYBOX, "labels": {LABEL: "1"}, "network_mode": "bridge", "init": True,
        # Compose reads `$` as its own interpolation: `$$` is a shell's `$`.
        "environment": {"VERSION": version}, "command": ["sh", "-c", SERVE.replace("$", "$$")]}}}


def _compose(replicas: int) -> tuple[float, int, str]:
    # Its 60 s default per Docker request fails `up` on a loaded engine (and leaves `down`
    # half done): compose, like the service, may take its time, and is timed anyway.
    os.environ.setdefault("COMPOSE_HTTP_TIMEOUT", "600")
    dc = client(LOCAL)
    with workdir("rollout-compose") as tmp, contextlib.closing(dc):
        project = f"rbench{free_port()}"
        compose = Compose(tmp, project, _compose_spec("v1"))
        try:
            compose.run("up", "-d", "--scale", f"web={replicas}")

            def addresses() -> list[tuple[str, int]]:
                return _addresses(dc, {"label": f"com.docker.compose.project={project}"})

            wait_for(lambda: len(addresses()) == replicas
                     and all(http_answers(h, p) for h, p in addresses()), 120, 0.2,
                     what="compose's replicas")
            old = {c["Id"] for c in compose.containers(dc)}
            client_ = Client(addresses)
            time.sleep(1.0)
            started = time.monotonic()
            compose.file.write_text(json.dumps(_compose_spec("v2")))
            compose.run("up", "-d", "--scale", f"web={replicas}")
            wait_for(lambda: not old & {c["Id"] for c in compose.containers(dc)}
                     and len(addresses()) == replicas
                     and all(http_answers(h, p) for h, p in addresses()), 120, 0.1,
                     what="compose's new replicas")
            elapsed = time.monotonic() - started
            time.sleep(1.0)
            failed, note = client_.failed, client_.stop()
        finally:
            compose.down()
            # A loaded engine can outlast `down`'s own timeout: what is left goes by label.
            for c in dc.api.containers(all=True, filters={
                    "label": f"com.docker.compose.project={project}"}):
                with contextlib.suppress(Exception):
                    dc.api.remove_container(c["Id"], force=True, v=True)
    return elapsed, failed, note


def _docker(*args: str, timeout: float = 600) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True,
                          timeout=timeout).stdout


def _addresses(dc: Any, filters: dict[str, Any]) -> list[tuple[str, int]]:
    """(IP, HTTP port) of the running containers the filters find, on the default bridge."""
    out = []
    for c in dc.api.containers(filters={**filters, "status": "running"}):
        nets = (c.get("NetworkSettings") or {}).get("Networks") or {}
        out += [(n["IPAddress"], HTTP_PORT) for n in nets.values() if n.get("IPAddress")]
    return out


def _swarm(replicas: int) -> tuple[float, int, str]:
    state = _docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()
    if state != "inactive":
        raise RuntimeError(f"the engine is in a swarm already ({state}): not touched")
    had_bridge = bool(_docker("network", "ls", "-q", "--filter", "name=^docker_gwbridge$"))
    _docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    dc = client(LOCAL)
    try:
        # No published port: the tasks sit on the default bridge, as compose's and the
        # pods do, and the client asks them directly (the routing mesh does not answer
        # on 127.0.0.1 here).
        _docker("service", "create", "--detach=false", "--name", SWARM_SERVICE,
                "--replicas", str(replicas), "--no-resolve-image", "--label", f"{LABEL}=1",
                "--container-label", f"{LABEL}=1", "--env", "VERSION=v1", "--init",
                "--health-cmd", "cat /www/index.html", "--health-interval", "1s",
                "--health-retries", "1", "--health-start-period", "0s",
                "--update-parallelism", str(max(1, replicas // 4)), "--update-delay", "0s",
                "--update-order", "start-first", "--stop-grace-period", "5s",
                BUSYBOX, "sh", "-c", SERVE)
        tasks = {"label": f"com.docker.swarm.service.name={SWARM_SERVICE}"}
        wait_for(lambda: len(_addresses(dc, tasks)) == replicas, 120, 0.2,
                 what="swarm's replicas")
        c = Client(lambda: _addresses(dc, tasks))
        time.sleep(1.0)
        started = time.monotonic()
        _docker("service", "update", "--detach=false", "--env-add", "VERSION=v2",
                "--no-resolve-image", SWARM_SERVICE)
        elapsed = time.monotonic() - started
        time.sleep(1.0)
        failed, note = c.failed, c.stop()
    finally:
        dc.close()
        undo = [("service", "rm", SWARM_SERVICE), ("swarm", "leave", "--force")]
        if not had_bridge:  # `swarm init` made it; `swarm leave` keeps it
            undo.append(("network", "rm", "docker_gwbridge"))
        for args in undo:
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(["docker", *args], capture_output=True, check=False, timeout=600)
        if _docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() != "inactive":
            subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True,
                           check=False, timeout=600)
    return elapsed, failed, note


def run(args: Any = None) -> list[Row]:
    replicas = 4 if getattr(args, "quick", False) else REPLICAS
    rows: list[Row] = []
    times: dict[str, float] = {}
    for who, measure, text in (
            ("reconciler", _reconciler,
             f"Deployment, maxSurge 25% maxUnavailable 25%, readiness every 1 s; {DEFAULTS}"),
            ("docker-compose", _compose, "`up -d --scale` of a changed service, init: true"),
            ("docker swarm", _swarm, "one node, `service update`, parallelism 25%, "
                                     "start-first, health check every 1 s")):
        try:
            elapsed, failed, note = measure(replicas)
        except Exception as e:  # one peer failing still leaves the others' figures
            said = getattr(e, "stderr", None) or b""
            said = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
            rows.append(Row(NAME, f"{who}: rolling update", None,
                            note=f"{e} {said.strip()[-200:]}"[:400]))
            continue
        times[who] = elapsed
        rows.append(Row(NAME, f"{who}: {replicas} replicas to a new template", elapsed, "s",
                        note=f"{note}; {text}"))
        rows.append(Row(NAME, f"{who}: failed requests during it", failed, "",
                        Goal("max", 0) if who == "reconciler" else None, note))
    if "reconciler" in times and "docker swarm" in times:
        rows.append(Row(NAME, "reconciler / swarm rollout time", times["reconciler"]
                        / times["docker swarm"], "x", Goal("max", 1.0), "same 25% parallelism"))
    return rows
