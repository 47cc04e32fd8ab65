"""Benchmark 3, steady-state: 1,000 manifests, 200 running containers, nothing changed.

The service runs against a counting proxy in front of the engine (countproxy.py),
with the periodic resync off; a resync pass is asked for with SIGUSR1 (what
`reconciler sync` sends). An idle window of the same length (heartbeats and
timers only) is subtracted, so the figures are those of the passes alone:
CPU seconds of the service process and Docker requests per pass, passes
counted by the service's own metric `reconciler_reconcile_passes{controller="desired"}`.
Then 20 one-line edits (an RC's `replicas: 0` -> `1`), each timed from the
write to the first Docker request the proxy sees afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
import urllib.request
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
PASSES = 8
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def desired_passes(metrics_url: str) -> float:
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    total = 0.0
    for m in re.finditer(r'^reconciler_reconcile_passes_total\{controller="desired"[^}]*\} (\S+)$',
                         text, re.M):
        total += float(m.group(1))
    return total


def _window(pid: int, proxy: CountingProxy, seconds: float, poke: bool,
            metrics_url: str) -> tuple[float, Counter[str], float]:
    """(CPU seconds, requests by operation, desired passes) over one window."""
    passes0, cpu0, t0 = desired_passes(metrics_url), cpu_seconds(pid), time.monotonic()
    step = seconds / PASSES
    for _ in range(PASSES):
        if poke:
            os.kill(pid, signal.SIGUSR1)
        time.sleep(step)
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    return cpu1 - cpu0, ops(proxy.since(t0, t1)), desired_passes(metrics_url) - passes0


def run(args: object = None) -> list[Row]:
    with contextlib.closing(client()) as dc, workdir("steady") as tmp:
        proxy = CountingProxy(tmp / "docker.sock").start()
        port = free_port()
        try:
            with service(tmp, start=False, extra_env={
                    "DOCKER_HOST": proxy.url, "RECONCILER_RESYNC_INTERVAL": "1h",
                    "RECONCILER_HEARTBEAT_INTERVAL": "5s",
                    "RECONCILER_METRICS_ADDRESS": f"127.0.0.1:{port}"}) as run:
                return _measure(dc, proxy, run, f"http://127.0.0.1:{port}/metrics")
        finally:
            proxy.close()


def _measure(dc: docker.DockerClient, proxy: CountingProxy, run: object,
             metrics_url: str) -> list[Row]:
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
    time.sleep(5)  # the last status writes and requeues settle
    idle_cpu, idle_ops, _ = _window(pid, proxy, 16, False, metrics_url)
    sync_cpu, sync_ops, passes = _window(pid, proxy, 16, True, metrics_url)
    passes = max(passes, 1)
    cpu_per_pass = max(0.0, sync_cpu - idle_cpu) / passes
    per_pass = Counter({k: (sync_ops[k] - idle_ops.get(k, 0)) / passes for k in sync_ops})
    lists = per_pass.get("GET /containers/json", 0.0)
    calls = sum(v for v in per_pass.values() if v > 0)
    top = ", ".join(f"{k} {v:.1f}" for k, v in per_pass.most_common(4) if v > 0)

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
        Row(NAME, "CPU per no-op resync pass", cpu_per_pass * 1000, "ms", Goal("max", 50),
            f"{passes:.0f} passes; idle window {idle_cpu:.2f} s CPU / 16 s"),
        Row(NAME, "Docker requests per no-op pass", calls, "", None, top),
        Row(NAME, "container list calls per pass (1 host)", lists, "", Goal("max", 1)),
        Row(NAME, "edit -> first Docker call, p50", percentile(delays, 50) * 1000, "ms"),
        Row(NAME, "edit -> first Docker call, p99", percentile(delays, 99) * 1000, "ms",
            Goal("max", 200), f"{EDITS} edits"),
    ]
