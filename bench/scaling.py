"""Benchmark 2, replica-scale: an RC's replicas 0 -> 20 -> 40 -> 20, by editing its manifest.

Each step is timed from the write of the manifest until the engine shows the
target: that many pods whose app container runs (scaling up), or only that
many pods' containers left (scaling down). The peer is `docker-compose up -d
--scale web=N` of the same busybox httpd, timed until the command returns and
the engine shows the same. Both run the busybox httpd under Docker's init
(the service always does; compose has `init: true`), so a graceful stop is quick
for both; the service makes two containers per pod (pause + app) against
compose's one. The service runs with its default configuration. The SDK floor (a
bare script: 8 threads, pause + httpd per pod) makes the same scale-ups, to show what
two containers a pod cost the engine against compose's one with nothing of ours
around them: the bound of the goal `compose time / service time >= 1`.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker

from bench.harness import (
    BUSYBOX,
    DEFAULTS,
    PREFIX_LABEL,
    app_containers,
    cleanup_label,
    client,
    service,
    wait_for,
    workdir,
    write_atomic,
)
from bench.peers import COMPOSE_REPLICAS, HTTP_PORT, SDK_FLOOR, Compose, compose_replicas, sdk_pod
from bench.report import Goal, Row, ratio

NAME = "replica-scale"
STEPS = (20, 40, 20)

RC = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: {replicas}
  selector: {{app: scale}}
  template:
    metadata:
      labels: {{app: scale}}
    spec:
      containers:
      - name: web
        image: {image}
        command: ["httpd", "-f", "-p", "{port}"]
"""


def rc_manifest(replicas: int) -> str:
    return RC.format(replicas=replicas, image=BUSYBOX, port=HTTP_PORT)


def _service_at(dc: docker.DockerClient, prefix: str, n: int) -> bool:
    """Exactly n pods: n running app containers and no other container of the prefix."""
    running = len(app_containers(dc, prefix))
    total = len(dc.api.containers(all=True, filters={"label": f"{PREFIX_LABEL}={prefix}"}))
    return running == n and total == 2 * n


def service_steps(dc: docker.DockerClient) -> list[float]:
    times = []
    with workdir("scale") as tmp, service(tmp) as run:
        path = run.desired / "web-rc.yaml"
        write_atomic(path, rc_manifest(0))
        time.sleep(1.0)  # let the RC of 0 be recorded: the steps time scaling, not creation
        for n in STEPS:
            started = time.monotonic()
            write_atomic(path, rc_manifest(n))
            wait_for(lambda n=n: _service_at(dc, run.prefix, n), 180, 0.05,  # type: ignore[misc]
                     what=f"{n} replicas")
            times.append(time.monotonic() - started)
    return times


def compose_steps(dc: docker.DockerClient) -> list[float]:
    times = []
    with workdir("compose") as tmp:
        comp = Compose(tmp, f"benchscale{uuid.uuid4().hex[:6]}", compose_replicas())
        try:
            for n in STEPS:
                started = time.monotonic()
                comp.run("up", "-d", "--scale", f"web={n}")
                wait_for(lambda n=n: len(comp.containers(dc)) == n  # type: ignore[misc]
                         and len(comp.containers(dc, running=False)) == n, 180, 0.05,
                         what=f"compose at {n}")
                times.append(time.monotonic() - started)
        finally:
            comp.down()
            cleanup_label()
    return times


def floor_steps(dc: docker.DockerClient) -> list[float]:
    """The scale-ups made by the SDK floor: 8 threads, each pod a pause container and the
    httpd joined to it (peers.sdk_pod), timed until every call returned. What two
    containers per pod cost the engine with nothing of ours around them."""
    tag, times, made = uuid.uuid4().hex[:6], [], 0
    try:
        for n in STEPS[:2]:
            names = [f"bench-scale-{tag}-{i}" for i in range(made, n)]
            started = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda name: sdk_pod(dc, name), names))
            times.append(time.monotonic() - started)
            made = n
    finally:
        cleanup_label()
    return times


def run(args: object = None) -> list[Row]:
    if getattr(args, "quick", False):  # a check that it works: the figures mean little
        global STEPS
        STEPS = (4, 8, 4)
    with contextlib.closing(client()) as dc:
        svc = service_steps(dc)
        comp = compose_steps(dc)
        floor = floor_steps(dc)
    first, second, third = STEPS
    labels = (f"0 -> {first}", f"{first} -> {second}", f"{second} -> {third}")
    rows = [Row(NAME, "configuration", None, note=f"service: {DEFAULTS}, 2 containers per "
                f"pod; peer: {COMPOSE_REPLICAS}")]
    for label, s, c in zip(labels, svc, comp, strict=True):
        rows.append(Row(NAME, f"{label}: service", s, "s", note=f"compose {c:.2f} s"))
    rows.append(Row(NAME, f"up {labels[0]}: compose time / service time",
                    ratio(comp[0], svc[0]), "x", Goal("min", 1.0)))
    rows.append(Row(NAME, f"up {labels[1]}: compose time / service time",
                    ratio(comp[1], svc[1]), "x", Goal("min", 1.0)))
    # The bound of the goal above: the same two containers a pod, made by a bare script.
    for label, f, c in zip(labels[:2], floor, comp, strict=False):
        rows.append(Row(NAME, f"up {label}: compose time / SDK floor time", ratio(c, f), "x",
                        note=f"floor {f:.2f} s ({SDK_FLOOR}, 8 threads)"))
    # No goal in issue 23 for scaling down (issue 8's 5x came from compose waiting out its
    # 10 s stop timeout per container, without init); the figure stays, for information.
    rows.append(Row(NAME, f"down {labels[2]}: compose time / service time",
                    ratio(comp[2], svc[2]), "x"))
    return rows
