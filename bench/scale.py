"""Benchmark 6, scale: N busybox sleep pods across 2 Docker hosts (`--pods N`, default 1,000).

Both hosts are declared as Nodes: the local engine and hostd, the benchmark's own
second host (scripts/hostd.sh: a /21 bridge, about 2,000 pod addresses; started
for the run and stopped after it, so no test that stops or partitions hostb
touches it). Each host's bridge must hold its share of the pods: the run stops
at once, saying so, when one cannot. One ReplicationController of N replicas is written and the
time until N app containers run across both engines is taken, with the
service's peak RSS (VmHWM) afterwards, the time of `reconciler get pods` on
that store (median of 3 runs, a user's whole command; right after the last
pod runs, and again once the service is quiet: the goal's figure), and the service's idle
CPU once quiet: CPU seconds over IDLE s (two periodic resyncs and the
heartbeats of both nodes fall in it), as a share of one core. The service runs
with its default configuration (harness.DEFAULTS).
"""

from __future__ import annotations

import contextlib
import ipaddress
import statistics
import time
from typing import Any

from bench.harness import (
    BUSYBOX,
    DEFAULTS,
    HOSTD,
    LOCAL,
    app_containers,
    bridge_subnet,
    client,
    cpu_seconds,
    host_script,
    leftovers,
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

# maxPods above the kubelet's 110: the bridges bound what each host holds (issue 20).
NODES = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: local}
spec: {engine: "unix:///var/run/docker.sock", address: 10.249.0.1, maxPods: 5000}
---
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: hostd}
spec: {engine: "unix:///var/run/docker-hostd.sock", address: 10.249.0.2, maxPods: 5000}
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


def capacity(subnet: str) -> int:
    """Addresses a bridge subnet gives containers (network, gateway and broadcast taken)."""
    try:
        return max(ipaddress.ip_network(subnet, strict=False).num_addresses - 3, 0)
    except ValueError:
        return 0


def run(args: Any = None) -> list[Row]:
    quick = getattr(args, "quick", False)  # a check that it works: the figures mean little
    pods = int(getattr(args, "pods", None) or (20 if quick else DEFAULT_PODS))
    idle_for = 10.0 if quick else IDLE
    if not host_script("hostd", "start"):
        return [Row(NAME, "second Docker host", None, note="scripts/hostd.sh start failed")]
    with contextlib.ExitStack() as stack, workdir("scale") as tmp:
        prefix = ""

        def stop_hostd() -> None:
            # Stopping a dockerd that still runs containers leaves them running without it
            # (orphaned shims): only an empty hostd is stopped.
            if not prefix or leftovers(HOSTD, prefix) <= 0:
                host_script("hostd", "stop")
            else:
                print(f"scale: hostd keeps containers of {prefix}; left running", flush=True)
        stack.callback(stop_hostd)
        subnets = {url: bridge_subnet(url) for url in (LOCAL, HOSTD)}
        # The scheduler spreads the pods evenly; a bridge that cannot hold its half (a /24
        # holds about 250) fails its pods' sandboxes, as the 2026-12-03 run did at 752.
        small = [f"{url} {net}" for url, net in subnets.items()
                 if capacity(net) < (pods + 1) // 2 + 50]
        if small:
            return [Row(NAME, "bridge address pools", None,
                        note=f"too small for {pods} pods: {', '.join(small)}")]
        local, hostd = client(LOCAL), client(HOSTD)
        stack.callback(local.close)
        stack.callback(hostd.close)
        (tmp / "desired").mkdir()
        write_atomic(tmp / "desired" / "nodes.yaml", NODES)
        try:
            with service(tmp, hosts=()) as svc:
                prefix = svc.prefix
                assert svc.proc is not None
                started = time.monotonic()
                write_atomic(svc.desired / "rc.yaml", RC.format(n=pods, image=BUSYBOX))

                def spread() -> tuple[int, int]:
                    return len(app_containers(local, prefix)), len(app_containers(hostd, prefix))
                wait_for(lambda: sum(spread()) >= pods, 60 + pods * 2, 1.0,
                         what=f"{pods} pods running")
                elapsed = time.monotonic() - started
                on_local, on_hostd = spread()
                peak = status_kb(svc.proc.pid) / 1024

                def get_pods() -> tuple[float, int]:
                    """The median of 3 `get pods` (a user's whole command), and its rows."""
                    times = []
                    for _ in range(3):
                        t0 = time.perf_counter()
                        out = svc.cli("get", "pods", timeout=120)
                        times.append(time.perf_counter() - t0)
                    return statistics.median(times), len(out.stdout.splitlines()) - 1
                # Right after the last pod runs the service still records statuses and
                # the engines are busy: a user's `get pods` then, and once settled.
                busy_get, listed = get_pods()
                settle = wait_quiet(svc.proc.pid, 60)  # a busy service: measured anyway
                quiet_get, _ = get_pods()
                c0, t0 = cpu_seconds(svc.proc.pid), time.monotonic()
                time.sleep(idle_for)
                idle = (cpu_seconds(svc.proc.pid) - c0) / (time.monotonic() - t0)
        finally:
            if prefix:
                for url in (LOCAL, HOSTD):
                    remove_prefix(url, prefix)
    return [
        Row(NAME, f"{pods} pods on 2 hosts: until all run", elapsed, "s",
            note=f"{pods / elapsed:.1f} pods/s; local {on_local}, hostd {on_hostd}; bridges "
                 f"{subnets[LOCAL]} and {subnets[HOSTD]}; {DEFAULTS}"),
        Row(NAME, "service peak RSS", peak, "MiB", Goal("max", 150), f"{pods} pods"),
        Row(NAME, "`reconciler get pods` (median of 3)", quiet_get * 1000, "ms",
            Goal("max", 300), f"{listed} rows, once the service is quiet"),
        Row(NAME, "`reconciler get pods` while converging (median of 3)", busy_get * 1000, "ms",
            note="right after the last pod runs: the service still records statuses"),
        Row(NAME, f"service idle CPU, {pods} pods", idle * 100, "% of a core", Goal("max", 1),
            f"over {idle_for:.0f} s (resync 30 s, heartbeat 5 s), after {settle:.0f} s to "
            "settle"),
    ]
