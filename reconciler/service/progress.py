"""The first convergence's progress on a terminal: `converging: 3/10 pods running, 7 to create`.

Started by the composition root (reconciler.service.app) after the first pass,
only when `reconciler run` has a terminal on stderr: a person waiting for a
fresh cluster sees how far it is; journald and log files never get these lines.
It prints a line when the figures change (not a rewritten line: log records
share the stream and would land in the middle of one) and a last line when
every wanted pod runs, then stops; the service's own work never waits on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from reconciler.service.kube_metrics import ClusterView

# Kinds whose pods `spec.replicas` counts; a Deployment's are its ReplicaSets'.
REPLICATED = ("ReplicationController", "ReplicaSet", "StatefulSet")


@dataclass(frozen=True)
class Progress:
    """Pods running (or finished), pods created, pods wanted."""

    running: int
    created: int
    wanted: int

    @property
    def done(self) -> bool:
        return self.running >= self.wanted

    def line(self) -> str:
        left = max(0, self.wanted - self.created)
        return (f"converging: {self.running}/{self.wanted} pods running, "
                f"{self.created} created, {left} to create")


def progress(view: ClusterView) -> Progress:
    """How far the pods of `view` are: wanted counts replicas of what is not created yet."""
    running = sum(1 for p in view.pods if p.phase == "Succeeded"
                  or (p.phase == "Running" and p.ready and p.deletion_timestamp is None))
    live = [p for p in view.pods if p.deletion_timestamp is None]
    wanted = 0
    for kind in REPLICATED:
        for o in view.objects.get(kind) or ():
            replicas = (o.body.get("spec") or {}).get("replicas", 1)
            wanted += replicas if isinstance(replicas, int) else 0
    for o in view.objects.get("DaemonSet") or ():
        desired = (o.status or {}).get("desiredNumberScheduled")
        wanted += desired if isinstance(desired, int) else len(view.nodes)
    # Bare pods and pods of kinds counted above by nothing (Jobs): each is wanted as it is.
    wanted += sum(1 for p in live if p.owner is None or p.owner.kind not in
                  (*REPLICATED, "DaemonSet"))
    return Progress(running, len(live), max(wanted, running))


class FirstConvergence:
    """A daemon thread printing `progress(source())` on `stream` until done or stopped."""

    def __init__(self, source: Callable[[], ClusterView], stream: TextIO, stop: threading.Event,
                 interval: float = 1.0, limit: float = 900.0) -> None:
        self.source = source
        self.stream = stream
        self.stop = stop
        self.interval = interval
        self.limit = limit
        self.thread = threading.Thread(target=self._run, name="first-convergence", daemon=True)

    def start(self) -> FirstConvergence:
        self.thread.start()
        return self

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _run(self) -> None:
        started = time.monotonic()
        last: Progress | None = None
        while not self.stop.is_set():
            now: Progress | None
            try:
                now = progress(self.source())
            except Exception:
                now = last  # a store hiccup: try again at the next tick
            if now is not None and now != last:
                last = now
                if now.done:
                    took = time.monotonic() - started
                    self._write(f"converged: {now.running}/{now.wanted} pods running "
                                f"({took:.1f}s after ready)")
                    return
                self._write(now.line())
            if time.monotonic() - started > self.limit:
                self._write("still converging; `reconciler get pods` shows where it stands")
                return
            self.stop.wait(self.interval)
