"""Benchmark 3, steady-state: 1,000 manifests, 200 running containers, nothing changed.

The service runs against a counting proxy in front of the engine (countproxy.py),
with the periodic resync off; a resync pass is asked for with SIGUSR1 (what
`reconciler sync` sends). The idle CPU rate (heartbeats and timers only) is
subtracted, and requests the service makes on its timers are left out, so the
figures are those of the passes alone: CPU seconds and Docker requests per pass,
measured from SIGUSR1 until the process is quiet again (under 5% CPU for 1 s).
Then 20 one-line edits (an RC's `replicas: 0` -> `1`), each timed from the
write to the first Docker request the proxy sees afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import time
from collections import Counter

import docker

from bench.countproxy import CountingProxy, ops
from bench.harness import (
    BUSYBOX,
    app_containers,
    client,
    cpu_seconds,
    service,
    wait_for,
    workdir,
    write_atomic,
)
from bench.report import Goal, Row, percentile

NAME = "steady-state"
PODS, SERVICES, RCS = 100, 450, 450
PASSES = 5
IDLE = 5.0
EDITS = 20
# Requests the service makes on its own timers, not because of a pass or an edit.
BACKGROUND = {"GET /info", "GET /events", "GET /_ping", "GET /version"}

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: idle-{i}, labels: {{app: idle}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: main, image: {image}, command: ["sleep", "86400"]}}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {{name: svc-{i}}}
spec:
  selector: {{app: svc-{i}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {{name: rc-{i}}}
spec:
  replicas: {n}
  selector: {{app: rc-{i}}}
  template:
    metadata: {{labels: {{app: rc-{i}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {{name: main, image: {image}, command: ["sleep", "86400"]}}
"""


def wait_quiet(pid: int, limit: float = 90.0, busy: float = 0.05) -> float:
    """Wait until the service used under `busy` CPU seconds per second for 1 s; the wait."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - c0 < busy:
            break
    return time.monotonic() - t0


def one_pass(pid: int, proxy: CountingProxy, idle_rate: float) -> tuple[float, float, Counter[str]]:
    """SIGUSR1, then until quiet: (CPU seconds above idle, wall seconds, Docker requests)."""
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    os.kill(pid, signal.SIGUSR1)
    wait_quiet(pid)
    wall = time.monotonic() - t0 - 1.0  # the last quiet second is not part of the pass
    cpu = cpu_seconds(pid) - c0 - idle_rate * (wall + 1.0)
    calls = Counter({k: v for k, v in ops(proxy.since(t0)).items() if k not in BACKGROUND})
    return max(cpu, 0.0), wall, calls


def run(args: object = None) -> list[Row]:
    with contextlib.closing(client()) as dc, workdir("steady") as tmp:
        proxy = CountingProxy(tmp / "docker.sock").start()
        try:
            with service(tmp, start=False, extra_env={
                    "DOCKER_HOST": proxy.url, "RECONCILER_RESYNC_INTERVAL": "1h",
                    "RECONCILER_HEARTBEAT_INTERVAL": "5s"}) as run:
                return _measure(dc, proxy, run)
        finally:
            proxy.close()


def _measure(dc: docker.DockerClient, proxy: CountingProxy, run: object) -> list[Row]:
    from tests.e2e.service import ServiceRun
    assert isinstance(run, ServiceRun)
    for i in range(PODS):
        (run.desired / f"pod-{i}.yaml").write_text(POD.format(i=i, image=BUSYBOX))
    for i in range(SERVICES):
        (run.desired / f"svc-{i}.yaml").write_text(SERVICE.format(i=i))
    for i in range(RCS):
        (run.desired / f"rc-{i}.yaml").write_text(RC.format(i=i, n=0, image=BUSYBOX))
    started = time.monotonic()
    run.start(timeout=180)
    wait_for(lambda: len(app_containers(dc, run.prefix)) >= PODS, 300, 0.5,
             what=f"{PODS} pods running")
    converge = time.monotonic() - started
    assert run.proc is not None
    pid = run.proc.pid
    settle = wait_quiet(pid, 120)
    c0 = cpu_seconds(pid)
    time.sleep(IDLE)
    idle_rate = (cpu_seconds(pid) - c0) / IDLE
    passes = [one_pass(pid, proxy, idle_rate) for _ in range(PASSES)]
    cpu_per_pass = statistics.median(p[0] for p in passes)
    wall_per_pass = statistics.median(p[1] for p in passes)
    summed = Counter[str]()
    for _, _, got in passes:
        summed.update(got)
    lists = summed.get("GET /containers/json", 0) / PASSES
    calls = sum(summed.values()) / PASSES
    top = ", ".join(f"{k} {v / PASSES:.1f}" for k, v in summed.most_common(3))

    delays = []
    for i in range(EDITS):
        path = run.desired / f"rc-{i}.yaml"
        t0 = time.monotonic()
        write_atomic(path, RC.format(i=i, n=1, image=BUSYBOX))
        first = wait_for(lambda t0=t0: next(  # type: ignore[misc]
            (c for c in proxy.since(t0) if c.op not in BACKGROUND), None), 10, 0.005,
            what="the first Docker call after an edit")
        delays.append(first.at - t0)
        time.sleep(1.0)
    return [
        Row(NAME, f"start + converge {PODS} pods, {PODS + SERVICES + RCS} manifests", converge,
            "s"),
        Row(NAME, "CPU per no-op resync pass (median)", cpu_per_pass * 1000, "ms",
            Goal("max", 50), f"{PASSES} passes; wall {wall_per_pass:.2f} s each; "
            f"idle {idle_rate * 100:.1f}% CPU after {settle:.0f} s to settle"),
        Row(NAME, "Docker requests per no-op pass", calls, "", None, top),
        Row(NAME, "container list calls per pass (1 host)", lists, "", Goal("max", 1)),
        Row(NAME, "edit -> first Docker call, p50", percentile(delays, 50) * 1000, "ms"),
        Row(NAME, "edit -> first Docker call, p99", percentile(delays, 99) * 1000, "ms",
            Goal("max", 200), f"{EDITS} edits"),
    ]
