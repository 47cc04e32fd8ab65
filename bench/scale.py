"""Benchmark 6, scale: N busybox sleep pods across 2 Docker hosts (`--pods N`, default 1,000).

Both hosts are declared as Nodes (the local engine and hostb, started with
scripts/hostb.sh); one ReplicationController of N replicas is written and the
time until N app containers run across both engines is taken, with the
service's peak RSS (VmHWM) afterwards, the time of `reconciler get pods` on
that store (median of 3 runs, a user's whole command), and the service's idle
CPU once quiet: CPU seconds over IDLE s (two periodic resyncs and the
heartbeats of both nodes fall in it), as a share of one core. The service runs
with its default configuration (harness.DEFAULTS).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any

from bench.harness import (
    BUSYBOX,
    DEFAULTS,
    HOSTB,
    LOCAL,
    app_containers,
    client,
    cpu_seconds,
    hostb_up,
    remove_prefix,
    service,
    status_kb,
    wait_for,
    wait_quiet,
    workdir,
    write_atomic,
)
from bench.report import Goal, Row

NAME = "scale"
DEFAULT_PODS = 1000
IDLE = 60.0

NODES = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: local}
spec: {engine: "unix:///var/run/docker.sock", address: 10.250.0.1}
---
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: hostb}
spec: {engine: "unix:///var/run/docker-hostb.sock", address: 10.250.0.2}
"""
RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {{name: many}}
spec:
  replicas: {n}
  selector: {{app: many}}
  template:
    metadata: {{labels: {{app: many}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - {{name: main, image: {image}, command: ["sleep", "86400"]}}
"""


def run(args: Any = None) -> list[Row]:
    quick = getattr(args, "quick", False)  # a check that it works: the figures mean little
    pods = int(getattr(args, "pods", None) or (20 if quick else DEFAULT_PODS))
    idle_for = 10.0 if quick else IDLE
    if not hostb_up():
        return [Row(NAME, "second Docker host", None, note="scripts/hostb.sh start failed")]
    with contextlib.ExitStack() as stack, workdir("scale") as tmp:
        local, hostb = client(LOCAL), client(HOSTB)
        stack.callback(local.close)
        stack.callback(hostb.close)
        (tmp / "desired").mkdir()
        write_atomic(tmp / "desired" / "nodes.yaml", NODES)
        prefix = ""
        try:
            with service(tmp, hosts=()) as svc:
                prefix = svc.prefix
                assert svc.proc is not None
                started = time.monotonic()
                write_atomic(svc.desired / "rc.yaml", RC.format(n=pods, image=BUSYBOX))

                def spread() -> tuple[int, int]:
                    return len(app_containers(local, prefix)), len(app_containers(hostb, prefix))
                wait_for(lambda: sum(spread()) >= pods, 60 + pods * 2, 1.0,
                         what=f"{pods} pods running")
                elapsed = time.monotonic() - started
                on_local, on_hostb = spread()
                peak = status_kb(svc.proc.pid) / 1024
                gets = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    out = svc.cli("get", "pods", timeout=120)
                    gets.append(time.perf_counter() - t0)
                listed = len(out.stdout.splitlines()) - 1
                settle = wait_quiet(svc.proc.pid, 60)  # a busy service: measured anyway
                c0, t0 = cpu_seconds(svc.proc.pid), time.monotonic()
                time.sleep(idle_for)
                idle = (cpu_seconds(svc.proc.pid) - c0) / (time.monotonic() - t0)
        finally:
            if prefix:
                for url in (LOCAL, HOSTB):
                    remove_prefix(url, prefix)
    return [
        Row(NAME, f"{pods} pods on 2 hosts: until all run", elapsed, "s",
            note=f"{pods / elapsed:.1f} pods/s; local {on_local}, hostb {on_hostb}; {DEFAULTS}"),
        Row(NAME, "service peak RSS", peak, "MiB", Goal("max", 150), f"{pods} pods"),
        Row(NAME, "`reconciler get pods` (median of 3)", statistics.median(gets) * 1000, "ms",
            Goal("max", 300), f"{listed} rows"),
        Row(NAME, f"service idle CPU, {pods} pods", idle * 100, "% of a core", Goal("max", 1),
            f"over {idle_for:.0f} s (resync 30 s, heartbeat 5 s), after {settle:.0f} s to "
            "settle"),
    ]
