"""Benchmark 4, drift-repair: `docker rm -f` one replica's containers until a replacement answers.

An RC of 3 busybox httpd replicas runs under the service; 20 times, the infra
and app containers of one replica are force-removed behind the service's back
(as `docker rm -f` does) and the time until a new pod sandbox answers HTTP is
taken. The service (default configuration) hears of it from Docker's event
stream; the periodic resync (30 s) is the fallback, so a p99 near 30 s means an
event was lost.
"""

from __future__ import annotations

import contextlib
import time

import docker
from docker.errors import NotFound

from bench.harness import (
    BUSYBOX,
    DEFAULTS,
    PREFIX_LABEL,
    client,
    http_answers,
    service,
    wait_for,
    workdir,
    write_atomic,
)
from bench.peers import HTTP_PORT
from bench.report import Goal, Row, percentile

NAME = "drift-repair"
REPLICAS = 3
TRIES = 20

RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {{name: drift}}
spec:
  replicas: {n}
  selector: {{app: drift}}
  template:
    metadata: {{labels: {{app: drift}}}}
    spec:
      containers:
      - name: web
        image: {image}
        command: ["httpd", "-f", "-p", "{port}"]
"""


def sandboxes(dc: docker.DockerClient, prefix: str) -> dict[str, tuple[str, str]]:
    """Running infra container id -> (pod uid, IP)."""
    out = {}
    for c in dc.api.containers(filters={"label": [f"{PREFIX_LABEL}={prefix}",
                                                  "io.reconciler.container.name=POD"],
                                        "status": "running"}):
        nets = (c.get("NetworkSettings") or {}).get("Networks") or {}
        ip = next((n["IPAddress"] for n in nets.values() if n.get("IPAddress")), "")
        out[c["Id"]] = (c["Labels"].get("io.reconciler.pod.uid", ""), ip)
    return out


def answering(dc: docker.DockerClient, prefix: str) -> set[str]:
    return {cid for cid, (_, ip) in sandboxes(dc, prefix).items()
            if ip and http_answers(ip, HTTP_PORT, 0.2)}


def remove_pod_containers(dc: docker.DockerClient, prefix: str, uid: str) -> None:
    for c in dc.api.containers(all=True, filters={"label": [f"{PREFIX_LABEL}={prefix}",
                                                            f"io.reconciler.pod.uid={uid}"]}):
        with contextlib.suppress(NotFound):
            dc.api.remove_container(c["Id"], force=True)


def run(args: object = None) -> list[Row]:
    times: list[float] = []
    with contextlib.closing(client()) as dc, workdir("drift") as tmp, service(tmp) as svc:
        write_atomic(svc.desired / "rc.yaml",
                     RC.format(n=REPLICAS, image=BUSYBOX, port=HTTP_PORT))
        wait_for(lambda: len(answering(dc, svc.prefix)) == REPLICAS, 120, 0.1,
                 what=f"{REPLICAS} replicas answering")
        for i in range(TRIES):
            before = answering(dc, svc.prefix)
            victim = sorted(before)[i % len(before)]
            uid = sandboxes(dc, svc.prefix)[victim][0]
            t0 = time.monotonic()
            remove_pod_containers(dc, svc.prefix, uid)
            wait_for(lambda before=before: answering(dc, svc.prefix) - before,  # type: ignore[misc]
                     60, 0.02, what="a replacement replica to answer")
            times.append(time.monotonic() - t0)
            # the next victim is taken among replicas that all answer
            wait_for(lambda: len(answering(dc, svc.prefix)) == REPLICAS, 60, 0.1,
                     what=f"{REPLICAS} replicas answering again")
    return [
        Row(NAME, f"rm -f -> replacement answers, p50 ({TRIES} tries)", percentile(times, 50),
            "s", note=DEFAULTS),
        Row(NAME, f"rm -f -> replacement answers, p99 ({TRIES} tries)", percentile(times, 99),
            "s", Goal("max", 1.0), f"max {max(times):.2f} s"),
    ]
