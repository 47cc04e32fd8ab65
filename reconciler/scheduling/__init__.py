"""The scheduler: feasibility filters, then scores, then one node per pod.

Pure, like kube-scheduler's framework and Nomad's feasibility/rank iterators: the
pod lifecycle controller calls `place` / `place_many` with the pod, the nodes and
the pods already placed, and acts on the returned `Placement` (bind, or record a
FailedScheduling event with `Placement.message`).
"""

from reconciler.scheduling.scheduler import (
    Inputs,
    Placement,
    bound_pods_for,
    fit_error,
    needs_bound_pods,
    place,
    place_many,
    place_on,
)

__all__ = [
    "Inputs", "Placement", "bound_pods_for", "fit_error", "needs_bound_pods", "place",
    "place_many", "place_on",
]
