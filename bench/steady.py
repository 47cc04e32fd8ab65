"""Benchmark 3, steady-state: 1,000 manifests, 100 running pods, nothing changed.

The service runs with its default configuration (harness.DEFAULTS: proxy, DNS, metrics,
dashboard, info logging, resync 30 s, heartbeat 5 s) against a counting proxy in front
of the engine (countproxy.py). A resync pass is asked for with a `resync` request row
(reconciler.service.requests.RESYNC: the periodic resync's work, now; SIGUSR1 and
`reconciler sync` run a full pass that bypasses what a periodic one skips) and measured
from the request until the process is quiet again (under 5% CPU for 1 s, at most 90 s):
its CPU seconds above the timers-only rate (measured in windows where only the
heartbeat's requests went out), and every Docker request sent meanwhile, heartbeats
included, divided by the passes the desired controller completed in the window (its
/metrics counter): a service whose periodic passes never leave it quiet runs more than
one. Then 20 one-line edits (an RC's `replicas: 0` -> `1`), each timed from the write to
the create of that RC's first pod container (identified by its name in the request), and
the next edit only once the pod runs and the service is quiet again; the first request
of any kind is shown beside it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import docker

from bench.countproxy import Call, CountingProxy, ops
from bench.harness import (
    BUSYBOX,
    DEFAULTS,
    app_containers,
    client,
    cpu_seconds,
    service,
    wait_for,
    wait_quiet,
    workdir,
    write_atomic,
)
from bench.report import Goal, Row, percentile
from reconciler.service.requests import RESYNC
from reconciler.store import Store
from tests.e2e.process_helpers import metric, scrape

NAME = "steady-state"
PODS, SERVICES, RCS = 100, 450, 450
PASSES = 5
IDLE = 5.0
EDITS = 20
# The requests of the timers (the heartbeat: the bridge inspect, /info once a minute; the
# event stream): a window with only these is idle.
TIMERS = {"GET /info", "GET /events", "GET /_ping", "GET /version", "GET /networks/bridge"}

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
NODE = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {{name: local}}
spec: {{engine: "{engine}", maxPods: {pods}}}
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


def timers_rate(pid: int, proxy: CountingProxy, tries: int = 12) -> float:
    """CPU seconds per second in a window of IDLE s in which only timers' requests went out
    (a periodic resync in the window spoils it: try again); the median of up to 3 such."""
    rates: list[float] = []
    for _ in range(tries):
        t0, c0 = time.monotonic(), cpu_seconds(pid)
        time.sleep(IDLE)
        rate = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        if all(c.op in TIMERS for c in proxy.since(t0)):
            rates.append(rate)
            if len(rates) == 3:
                break
    if not rates:
        raise RuntimeError(f"no {IDLE:.0f} s window without a pass in {tries} tries")
    return statistics.median(rates)


def desired_passes(address: str) -> float:
    """Passes the desired controller completed (one per resync, periodic or requested), from
    the service's /metrics."""
    return metric(scrape(address), "reconciler_reconcile_passes_total", controller="desired")


def one_pass(pid: int, proxy: CountingProxy, idle_rate: float, address: str,
             store: Store) -> tuple[float, float, Counter[str], float]:
    """A resync request, then until quiet (at most 90 s): (CPU seconds above the timers' rate, wall
    seconds, every Docker request sent meanwhile, heartbeats included, and the resync
    passes completed meanwhile). A service that is never quiet (the periodic passes
    following each other) runs several passes in the window: the caller divides by them."""
    p0 = desired_passes(address)
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    request = store.add_request(RESYNC, "bench")
    # Taken by the service's request listener, which then enqueues the pass's keys: only
    # from here can the service's quiet mean the pass is over.
    wait_for(lambda: (r := store.get_request(request)) is None or r.handled_by, 30, 0.01,
             what="the resync request taken")
    wait_quiet(pid)
    wall = time.monotonic() - t0 - 1.0  # the last quiet second is not part of the pass
    cpu = cpu_seconds(pid) - c0 - idle_rate * (wall + 1.0)
    passes = max(desired_passes(address) - p0, 1.0)
    return max(cpu, 0.0), wall, ops(proxy.since(t0, t0 + wall)), passes


@contextlib.contextmanager
def profiled(pid: int) -> Iterator[None]:
    """With BENCH_PROFILE=FILE set: py-spy samples the service (every thread, idle ones
    left out) while the passes run and writes collapsed stacks to FILE (not a figure)."""
    out = os.environ.get("BENCH_PROFILE")
    if not out:
        yield
        return
    spy = subprocess.Popen(["py-spy", "record", "-p", str(pid), "-r", "200", "-f", "raw",
                            "-o", out, "--nonblocking"], stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def run(args: object = None) -> list[Row]:
    if getattr(args, "quick", False):  # a check that it works: the figures mean little
        global PODS, SERVICES, RCS, PASSES, EDITS
        PODS, SERVICES, RCS, PASSES, EDITS = 10, 45, 45, 2, 3
    with contextlib.closing(client()) as dc, workdir("steady") as tmp:
        proxy = CountingProxy(tmp / "docker.sock").start()
        try:
            with service(tmp, start=False, extra_env={"DOCKER_HOST": proxy.url}) as svc:
                return _measure(dc, proxy, svc)
        finally:
            proxy.close()


def created_for(rc: str) -> re.Pattern[str]:
    """A create whose container name is one of `rc`'s pods: `<prefix>_<ctr>_<rc>-<x>_default_`."""
    return re.compile(rf"(?:^|&)name=[^&]*_{re.escape(rc)}-[a-z0-9]+_default_")


def first_match(proxy: CountingProxy, since: float, pattern: re.Pattern[str]) -> Call | None:
    return next((c for c in proxy.since(since)
                 if c.op == "POST /containers/create" and pattern.search(c.query)), None)


def _created(proxy: CountingProxy, since: float, rc: str) -> Callable[[], Call | None]:
    pattern = created_for(rc)
    return lambda: first_match(proxy, since, pattern)


def _pod_runs(dc: docker.DockerClient, prefix: str, rc: str) -> Callable[[], bool]:
    """True once an app container of one of `rc`'s pods runs."""
    return lambda: any(c["Labels"].get("io.reconciler.pod.name", "").startswith(f"{rc}-")
                       for c in app_containers(dc, prefix))


def _measure(dc: docker.DockerClient, proxy: CountingProxy, run: Any) -> list[Row]:
    # The one host, declared to hold the 100 pods and the 20 edits' pods: kubelet's
    # default of 110 pods per node (spec.maxPods) stopped the 11th edit's pod.
    (run.desired / "node.yaml").write_text(NODE.format(engine=proxy.url, pods=PODS + EDITS + 10))
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
    t_idle = time.monotonic()
    idle_rate = timers_rate(pid, proxy)
    idle_window = time.monotonic() - t_idle
    idle_calls = len(proxy.since(t_idle)) / idle_window * 60
    address = run.env["RECONCILER_METRICS_ADDRESS"]
    with profiled(pid), contextlib.closing(Store.open(str(run.state))) as store:
        windows = [one_pass(pid, proxy, idle_rate, address, store) for _ in range(PASSES)]
    # Per pass: the windows' sums over the passes completed in them (one each when the
    # service gets quiet between passes; more when the periodic passes never let it).
    done = sum(w[3] for w in windows)
    cpu_per_pass = sum(w[0] for w in windows) / done
    wall_per_pass = statistics.median(w[1] for w in windows)
    summed = Counter[str]()
    for w in windows:
        summed.update(w[2])
    lists = summed.get("GET /containers/json", 0) / done
    calls = sum(summed.values()) / done
    top = ", ".join(f"{k} {v / done:.1f}" for k, v in summed.most_common(3))

    delays, firsts = [], []
    for i in range(EDITS):
        name = f"rc-{i}"
        t0 = time.monotonic()
        write_atomic(run.desired / f"{name}.yaml", RC.format(i=i, n=1, image=BUSYBOX))
        create: Call = wait_for(_created(proxy, t0, name), 60, 0.005,
                                what=f"a create for {name}'s pod")
        delays.append(create.at - t0)
        firsts.append(proxy.since(t0)[0].at - t0)
        # The next edit only once this one's pod runs and the service is quiet again (or
        # 10 s: with 1,000 manifests the periodic passes may never leave it quiet for long).
        # A sample ends only at a create naming its own RC, so spacing is not what keeps
        # one edit's requests out of the next sample.
        wait_for(_pod_runs(dc, run.prefix, name), 60, 0.1, what=f"{name}'s pod")
        wait_quiet(pid, 10)
    config = f"{DEFAULTS}; {PODS + SERVICES + RCS} manifests, {PODS} pods"
    return [
        Row(NAME, f"start + converge {PODS} pods, {PODS + SERVICES + RCS} manifests", converge,
            "s", note=config),
        Row(NAME, "CPU per no-op resync pass", cpu_per_pass * 1000, "ms",
            Goal("max", 50), f"{PASSES} resync-request windows, {done:.0f} passes done in them "
            f"(/metrics); window {wall_per_pass:.1f} s (median); "
            f"timers alone {idle_rate * 100:.1f}% CPU, subtracted; {settle:.0f} s to settle"),
        Row(NAME, "Docker requests per no-op pass, all", calls, "", None,
            f"heartbeats included; {top}"),
        Row(NAME, "container list calls per pass (1 host)", lists, "", Goal("max", 1)),
        Row(NAME, "Docker requests per minute, idle (timers only)", idle_calls, ""),
        Row(NAME, "edit -> create of its pod, p50", percentile(delays, 50) * 1000, "ms",
            note=f"first request of any kind: p50 {percentile(firsts, 50) * 1000:.0f} ms"),
        Row(NAME, "edit -> create of its pod, p99", percentile(delays, 99) * 1000, "ms",
            Goal("max", 200), f"{EDITS} edits, each after the last one's pod runs and the "
            f"service is quiet; first request of any kind: p99 "
            f"{percentile(firsts, 99) * 1000:.0f} ms"),
    ]
