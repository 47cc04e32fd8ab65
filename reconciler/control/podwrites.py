"""Pod records a controller writes for pods it owns: new ones under generated names, deletions.

Shared by the controllers that make pods one by one with `<owner>-xxxxx` names
and no expectations (`daemonsets.py`, `jobs.py`): the records are written
synchronously, so the owner's next sync sees them, and each written pod's key
is enqueued for the pod controller, which runs or stops it.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.api.records import PodRecord
from reconciler.control.context import Context
from reconciler.planning.names import generate_name


def fresh_name(base: str, taken: set[str]) -> str:
    """A generated `<base>-xxxxx` not in `taken`, which it joins."""
    name = generate_name(base)
    while name in taken:
        name = generate_name(base)
    taken.add(name)
    return name


def create_pods(ctx: Context, fresh: list[PodRecord],
                report: Callable[[str, str, str], None]) -> None:
    """Write `fresh` and start them; `report(type, reason, message)` for each outcome.

    A generated name another pod holds is not written: the owner's next sync draws another.
    """
    held = {(p.namespace, p.name) for p in ctx.store.create_pods(fresh)}
    for pod in fresh:
        if (pod.namespace, pod.name) in held:
            report("Warning", "FailedCreate", f'Error creating: pods "{pod.name}" already exists')
            continue
        ctx.enqueue_pod(pod.uid)
        report("Normal", "SuccessfulCreate", f"Created pod: {pod.name}")


def delete_pods(ctx: Context, doomed: list[PodRecord],
                report: Callable[[str, str, str], None]) -> None:
    """Mark `doomed` deleted (the pod controller stops them with their grace period)."""
    now_ = ctx.clock()
    for pod in doomed:
        pod.deletion_timestamp = now_
    ctx.store.patch_pods(doomed, ["deletion"])
    for pod in doomed:
        ctx.enqueue_pod(pod.uid)
        report("Normal", "SuccessfulDelete", f"Deleted pod: {pod.name}")
