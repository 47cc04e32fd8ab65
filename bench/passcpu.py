"""Benchmark pass-cpu: the control plane's own CPU for a no-op resync pass and for an edit.

In process, no Docker: the control plane of tests/integration/control/harness.py
(every registered controller, a real SQLite store, the cache, fake hosts) with
steady-state's manifests (100 Pods, 450 Services, 450 RCs of 0 replicas) on
one declared node. Converged first; then the thread CPU time (`time.thread_time`,
comparable under load where wall time is not) of:

- a no-op resync pass: every key the periodic resync enqueues, reconciled until
  the queue is empty (the median of PASSES passes), and how many keys it ran;
- an edit: one RC's manifest `replicas: 0` -> `1`, from the desired pass to the
  first `sync_pod` of its new pod (the control plane's share of "edit -> first
  Docker call"; the folder watcher's debounce and Docker's own time are not in it),
  the median of EDITS edits.

It reconciles on one thread, so it is the CPU of the work, without the service's
eight workers' switching, the proxy, DNS or the metrics scrapes: `steady-state`
measures those with the real service. Cheap and steady enough to compare two
commits side by side: run it with PYTHONPATH set to a worktree of the other one.
"""

from __future__ import annotations

import logging
import statistics
import time

from bench.harness import workdir
from bench.report import Row
from bench.steady import POD, RC, SERVICE
from reconciler.api.records import PodRecord
from reconciler.control.registry import REGISTRY
from reconciler.runtime.fake import FakeAgent
from reconciler.runtime.types import PodEnv, PodSync
from tests.integration.control.harness import Cluster

NAME = "pass-cpu"
PODS, SERVICES, RCS = 100, 450, 450
PASSES, EDITS = 9, 9
IMAGE = "reconciler/busybox:1"
NODE = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: a}
spec: {engine: "unix:///fake/a.sock", address: 10.250.0.1, maxPods: 200}
"""


def drain(c: Cluster) -> int:
    """Reconcile until nothing is due now (delayed requeues are left); the keys run."""
    ran = 0
    while (key := c.queue.get(timeout=0)) is not None:
        try:
            c.loop.process(key)
        finally:
            c.queue.done(key)
        ran += 1
    return ran


def resync_pass(c: Cluster) -> tuple[float, int]:
    """One periodic resync's keys, reconciled: (thread CPU seconds, keys run)."""
    t0 = time.thread_time()
    REGISTRY.resync(c.ctx)
    ran = drain(c)
    return time.thread_time() - t0, ran


def edit_to_sync(c: Cluster, i: int) -> float | None:
    """Thread CPU seconds from rc-i's edit to its new pod's first `sync_pod` (None: never)."""
    first: list[float] = []
    real = FakeAgent.sync_pod

    def sync_pod(agent: FakeAgent, pod: PodRecord, env: PodEnv) -> PodSync:
        if not first and pod.name.startswith(f"rc-{i}-"):
            first.append(time.thread_time())
        return real(agent, pod, env)

    FakeAgent.sync_pod = sync_pod  # type: ignore[method-assign,assignment]
    try:
        c.write(f"rc-{i}.yaml", RC.format(i=i, n=1, image=IMAGE))
        t0 = time.thread_time()
        c.ctx.enqueue("desired", "all")
        drain(c)
    finally:
        FakeAgent.sync_pod = real  # type: ignore[method-assign]
    return first[0] - t0 if first else None


def run(args: object = None) -> list[Row]:
    passes, edits = (3, 3) if getattr(args, "quick", False) else (PASSES, EDITS)
    logging.disable(logging.WARNING)  # the fake hosts' events would flood the output
    try:
        with workdir("passcpu") as tmp:
            c = Cluster(tmp)
            try:
                return _measure(c, passes, edits)
            finally:
                c.store.close()
    finally:
        logging.disable(logging.NOTSET)


def _measure(c: Cluster, passes: int, edits: int) -> list[Row]:
    c.write("node.yaml", NODE)
    for i in range(PODS):
        c.write(f"pod-{i}.yaml", POD.format(i=i, image=IMAGE))
    for i in range(SERVICES):
        c.write(f"svc-{i}.yaml", SERVICE.format(i=i))
    for i in range(RCS):
        c.write(f"rc-{i}.yaml", RC.format(i=i, n=0, image=IMAGE))
    for _ in range(3):  # converge: the first passes create, schedule and start
        resync_pass(c)
    runs = [resync_pass(c) for _ in range(passes)]
    cpu = statistics.median(r[0] for r in runs)
    keys = statistics.median(r[1] for r in runs)
    delays = [d for i in range(edits) if (d := edit_to_sync(c, i)) is not None]
    size = f"{PODS} pods, {SERVICES} Services, {RCS} RCs; in process (SQLite, fake hosts)"
    return [
        Row(NAME, "control-plane CPU per no-op resync pass", cpu * 1000, "ms", None,
            f"median of {passes}; {keys:.0f} keys per pass; {size}; issue 23's goal "
            "(<= 50 ms) is the service's: steady-state"),
        Row(NAME, "control-plane CPU, edit -> first sync_pod", statistics.median(delays) * 1000
            if delays else None, "ms", None,
            f"median of {len(delays)} of {edits} edits (replicas 0 -> 1); no debounce, no Docker"),
    ]
