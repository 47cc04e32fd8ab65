"""Benchmark 9, reaction: the durations the tests used to assert, measured here instead.

Tests assert behaviour, never durations (issue 23); the figures they printed or
held to a limit are worth keeping, so they are taken here, with no goal:
- folder watch: a manifest written -> the folder source's `on_change` call
  (in process, reconciler/sources/folder.py), 20 edits a second apart;
- fluentd down: the slowest of 200 `FluentShipper.emit` calls while nothing
  listens (emit must only queue);
- SIGTERM: the service (default configuration, 3 running pods) signalled ->
  its exit, and `docker rm -f` of a pod's app container -> a new one running
  (the event stream, not the 30 s resync, must bring it back).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path

from bench.harness import (
    BUSYBOX,
    DEFAULTS,
    app_containers,
    client,
    service,
    wait_for,
    workdir,
    write_atomic,
)
from bench.report import Row, percentile
from reconciler.service.fluent import FluentShipper
from reconciler.sources.folder import FolderSource
from tests.support.fluent_receiver import free_port

NAME = "reaction"
EDITS = 20

RC = """\
apiVersion: v1
kind: ReplicationController
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{app: web}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - {{name: main, image: {image}, command: ["sleep", "86400"]}}
"""


def folder_latencies(tmp: Path, edits: int) -> list[float]:
    """Seconds from each write to the on_change call naming the file."""
    root = tmp / "watched"
    root.mkdir()
    root = root.resolve()  # the source reports resolved paths
    seen: dict[Path, float] = {}
    changed = threading.Event()

    def on_change(paths: frozenset[Path]) -> None:
        now = time.monotonic()
        for p in paths:
            seen.setdefault(p, now)
        changed.set()

    source = FolderSource(root, on_change)
    source.start()
    try:
        out = []
        for i in range(edits):
            path = root / f"pod-{i}.yaml"
            t0 = time.monotonic()
            path.write_text(f"kind: Pod\nmetadata: {{name: p{i}}}\n")
            wait_for(lambda p=path: p in seen, 30, 0.001,  # type: ignore[misc]
                     what=f"on_change for {path.name}")
            out.append(seen[path] - t0)
            time.sleep(1.0)  # the next write in a new burst
        return out
    finally:
        source.stop()


def slowest_emit(records: int = 200) -> float:
    """Seconds of the slowest emit while fluentd is down."""
    shipper = FluentShipper(f"127.0.0.1:{free_port()}", bound=1000, timeout=0.5).start()
    try:
        slowest = 0.0
        for i in range(records):
            t = time.perf_counter()
            shipper.emit("log", {"i": i})
            slowest = max(slowest, time.perf_counter() - t)
        return slowest
    finally:
        shipper.close(timeout=0.2)


def service_reactions(tmp: Path) -> tuple[float, float, int]:
    """(`docker rm -f` of an app container -> a new one running, SIGTERM -> exit, exit code)."""
    with contextlib.closing(client()) as dc, service(tmp) as svc:
        write_atomic(svc.desired / "rc.yaml", RC.format(image=BUSYBOX))
        wait_for(lambda: len(app_containers(dc, svc.prefix)) == 3, 120, 0.1, what="3 pods")
        victim = app_containers(dc, svc.prefix)[0]["Id"]
        t0 = time.monotonic()
        dc.api.remove_container(victim, force=True)
        wait_for(lambda: len([c for c in app_containers(dc, svc.prefix)
                              if c["Id"] != victim]) == 3, 120, 0.02,
                 what="a new app container running")
        repaired = time.monotonic() - t0
        assert svc.proc is not None
        t0 = time.monotonic()
        svc.proc.send_signal(signal.SIGTERM)
        code = svc.proc.wait(120)
        return repaired, time.monotonic() - t0, code


def run(args: object = None) -> list[Row]:
    quick = getattr(args, "quick", False)
    with workdir("react") as tmp:
        folder = folder_latencies(tmp, 5 if quick else EDITS)
        emit = slowest_emit()
        repaired, stopped, code = service_reactions(tmp)
    n = len(folder)
    return [
        Row(NAME, f"folder edit -> on_change, p50 ({n} edits)", percentile(folder, 50) * 1000,
            "ms", note="in process, FolderSource"),
        Row(NAME, f"folder edit -> on_change, p99 ({n} edits)", percentile(folder, 99) * 1000,
            "ms", note=f"max {max(folder) * 1000:.0f} ms"),
        Row(NAME, "fluentd down: slowest of 200 emits", emit * 1e6, "us",
            note="emit only queues; the sender thread connects"),
        Row(NAME, "docker rm -f of an app container -> a new one running", repaired, "s",
            note=DEFAULTS),
        Row(NAME, "SIGTERM -> exit, 3 running pods", stopped, "s", note=f"exit code {code}"),
    ]
