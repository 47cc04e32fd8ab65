"""Failures that belong to a node, fed back to the scheduler: the pod controller's side.

Used by `control/pods.py` after each sync of a bound pod: a Warning event the
node is to blame for (`scheduling.node_failures.node_fault`: address pool
exhausted, the engine refusing the sandbox, an image of another platform) counts
one try; the next try waits for a growing back-off; after the last try the pod's
containers on that node are removed and the pod is unbound (Pending, event
`NodeFailure`), and the scheduler places it again avoiding that node for a
while (`avoided`). A pod whose claim is bound to the node stays (its volume is
there) and keeps backing off. See docs/scheduling.md.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

from reconciler.api.records import ClaimRecord, Condition, NodeRecord, PodRecord
from reconciler.control.context import Context
from reconciler.control.loop import Result
from reconciler.runtime import spans
from reconciler.runtime.types import HostUnreachable, PodSync
from reconciler.scheduling import node_failures

SCHEDULER = "default-scheduler"
REASON = "NodeFailure"


class NodeFailureFeedback:
    """Counts a pod's node failures and gives the pod back when they are exhausted."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.failures = node_failures.NodeFailures()

    def avoided(self, uid: str) -> dict[str, str]:
        """The nodes the pod is not to be placed on now, with the cause."""
        return self.failures.avoided(uid, time.monotonic())

    def forget(self, uid: str) -> None:
        self.failures.forget(uid)

    def after_sync(self, pod: PodRecord, node: NodeRecord, sync: PodSync,
                   claims: Iterable[ClaimRecord]) -> Result | None:
        """Count the sync's outcome; a Result when the pod was given back (nothing else to do)."""
        fault = next((cause for ev in sync.events if ev.type == "Warning"
                      and (cause := node_failures.node_fault(ev.reason, ev.message))), "")
        if not fault:
            if sync.pod_ip:
                self.failures.succeeded(pod.uid, node.name)
            return None
        if any(c.node_name == node.name for c in claims):
            return None
        tries = self.failures.failed(pod.uid, node.name)
        if self.failures.exhausted(tries):
            return self._unbind(pod, node, fault, tries, sync)
        sync.requeue_after = max(sync.requeue_after or 0.0, node_failures.backoff(tries))
        return None

    def _unbind(self, pod: PodRecord, node: NodeRecord, fault: str, tries: int,
                sync: PodSync) -> Result:
        """Give the pod back to the scheduler, which then avoids the node.

        What the node made of the pod is removed first (a dead sandbox would hold an
        address, or be taken for the pod's); an unreachable node's leftovers go as
        orphans when it answers again (node-gc removes containers of pods bound elsewhere).
        """
        ctx = self.ctx
        with contextlib.suppress(HostUnreachable):
            ctx.agent(node).kill_pod(pod.uid, 0)
        self.failures.unbound(pod.uid, node.name, fault, time.monotonic())
        detail = next((ev.message for ev in sync.events if ev.type == "Warning"), fault)
        message = (f"Pod could not be started on node {node.name} after {tries} tries "
                   f"({fault}: {detail}); placing it again, avoiding {node.name} for "
                   f"{self.failures.avoid_seconds:.0f} s")
        pod.node_name = pod.host_ip = pod.pod_ip = ""
        pod.ports, pod.start_time = {}, None
        pod.phase, pod.reason, pod.message = "Pending", "", ""
        pod.containers, pod.init_containers = [], []
        pod.conditions = [Condition("PodScheduled", False, REASON, message, ctx.clock())]
        with ctx.store.batch():
            patched = ctx.store.patch_pod(pod, "schedule", "status")
            ctx.event("Pod", pod.namespace, pod.name, "Warning", REASON, message,
                      SCHEDULER, uid=pod.uid, host=node.name)
        spans.cancel(pod.uid)
        if patched:
            ctx.enqueue_related(pod, pod.labels)
        return Result.after(0) if patched else Result.done()
