"""Benchmark 1, pod-cold-start: manifests written to the folder until each pod answers HTTP.

Two shapes, each measured for the service and for the floor (a bare docker SDK
script; 8 threads for the burst): a burst of 20 pods written at once (total
time, pods/s, per-pod time from the write to the first HTTP answer), and 20
pods one after another (per-pod p50/p99: the latency a user sees for one pod).
docker-compose (Debian's 1.29) runs the same burst: 20 pause + httpd pairs.
The service runs with its default configuration (harness.DEFAULTS); every
peer's app container runs under Docker's init, as the service's do (peers.py).
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
    PodWatch,
    cleanup_label,
    client,
    http_answers,
    service,
    wait_for,
    workdir,
    write_atomic,
)
from bench.peers import (
    COMPOSE_PODS,
    HTTP_PORT,
    SDK_FLOOR,
    Compose,
    compose_pods,
    container_ip,
    sdk_pod,
)
from bench.report import Goal, Row, percentile, ratio

NAME = "pod-cold-start"
PODS = 20

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: cold}}
spec:
  containers:
  - name: web
    image: {image}
    command: ["httpd", "-f", "-p", "{port}"]
    ports: [{{containerPort: {port}}}]
"""


def pod_manifest(name: str) -> str:
    return POD.format(name=name, image=BUSYBOX, port=HTTP_PORT)


def _answered(addresses: dict[str, str], pending: set[str], started: float,
              done: dict[str, float]) -> bool:
    """Probe the pending pods that have an address; record when each first answers."""
    for name in list(pending):
        ip = addresses.get(name)
        if ip and http_answers(ip, HTTP_PORT, 0.2):
            done[name] = time.monotonic() - started
            pending.discard(name)
    return not pending


def wait_pods(watch: PodWatch, names: list[str], started: float,
              timeout: float) -> dict[str, float]:
    """Pod name -> seconds from `started` until it first answered HTTP (its address from
    `watch`, opened before the pods were written)."""
    pending, done = set(names), dict[str, float]()
    wait_for(lambda: _answered(watch.known, pending, started, done), timeout,
             what=f"{len(names)} pod(s) to answer")
    return done


def service_burst(dc: docker.DockerClient) -> tuple[float, list[float], list[float]]:
    """(total seconds of the burst, per-pod seconds of the burst, per-pod seconds one by one)."""
    with workdir("cold") as tmp, service(tmp) as run, \
            contextlib.closing(PodWatch.of_service(dc, run.prefix)) as watch:
        names = [f"cold-{i}" for i in range(PODS)]
        started = time.monotonic()
        for name in names:
            write_atomic(run.desired / f"{name}.yaml", pod_manifest(name))
        done = wait_pods(watch, names, started, 120)
        total = max(done.values())
        single = []
        for i in range(PODS):
            name = f"one-{i}"
            started = time.monotonic()
            write_atomic(run.desired / f"{name}.yaml", pod_manifest(name))
            single.append(wait_pods(watch, [name], started, 60)[name])
        return total, list(done.values()), single


def _sdk_one(dc: docker.DockerClient, name: str, started: float) -> float:
    infra = sdk_pod(dc, name)
    ip = container_ip(dc, infra)
    wait_for(lambda: http_answers(ip, HTTP_PORT, 0.2), 60, what=f"{name} to answer")
    return time.monotonic() - started


def floor_burst(dc: docker.DockerClient) -> tuple[float, list[float], list[float]]:
    """The same with the docker SDK directly: 8 threads for the burst, one at a time after."""
    tag = uuid.uuid4().hex[:6]
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            per = list(pool.map(lambda i: _sdk_one(dc, f"bench-floor-{tag}-{i}", started),
                                range(PODS)))
        total = max(per)
        single = [_sdk_one(dc, f"bench-floor1-{tag}-{i}", time.monotonic()) for i in range(PODS)]
        return total, per, single
    finally:
        cleanup_label()


def compose_burst(dc: docker.DockerClient) -> tuple[float, list[float]]:
    with workdir("compose") as tmp:
        comp = Compose(tmp, f"benchcold{uuid.uuid4().hex[:6]}", compose_pods(PODS))
        try:
            with contextlib.closing(comp.watch(dc)) as watch:
                started = time.monotonic()
                comp.run("up", "-d")
                done = wait_pods(watch, [f"infra{i}" for i in range(PODS)], started, 120)
            return max(done.values()), list(done.values())
        finally:
            comp.down()
            cleanup_label()


def run(args: object = None) -> list[Row]:
    if getattr(args, "quick", False):  # a check that it works: the figures mean little
        global PODS
        PODS = 5
    with contextlib.closing(client()) as dc:
        f_total, f_per, f_single = floor_burst(dc)
        s_total, s_per, s_single = service_burst(dc)
        c_total, _ = compose_burst(dc)
    s_rate, f_rate, c_rate = PODS / s_total, PODS / f_total, PODS / c_total
    rows = [
        Row(NAME, f"burst of {PODS}: total, service", s_total, "s", note=DEFAULTS),
        Row(NAME, f"burst of {PODS}: total, SDK floor (8 threads)", f_total, "s",
            note=SDK_FLOOR),
        Row(NAME, f"burst of {PODS}: total, docker-compose", c_total, "s", note=COMPOSE_PODS),
        Row(NAME, "burst: service pods/s vs floor", ratio(s_rate, f_rate), "x", Goal("min", 0.95),
            f"{s_rate:.1f} vs {f_rate:.1f} pods/s"),
        Row(NAME, "burst: service pods/s vs compose", ratio(s_rate, c_rate), "x", None,
            f"compose {c_rate:.1f} pods/s"),
        Row(NAME, "burst: per-pod p50 / p99, service", percentile(s_per, 50), "s", None,
            f"p99 {percentile(s_per, 99):.2f} s; floor p50 {percentile(f_per, 50):.2f} s"),
        Row(NAME, "one at a time: p50, service", percentile(s_single, 50) * 1000, "ms", None,
            f"floor p50 {percentile(f_single, 50) * 1000:.0f} ms"),
        Row(NAME, "one at a time: p99, service", percentile(s_single, 99) * 1000, "ms",
            Goal("max", 400), f"floor p99 {percentile(f_single, 99) * 1000:.0f} ms"),
    ]
    return rows
