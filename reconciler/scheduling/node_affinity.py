"""Filter and score: spec.nodeSelector and spec.affinity.nodeAffinity against the node's labels.

The filter runs after the taint filter in `scheduler.py`; the score is summed with
the others. Mirrors kube-scheduler's NodeAffinity plugin: the filter requires the
nodeSelector map and any one of the requiredDuringSchedulingIgnoredDuringExecution
terms (ErrReasonPod); the score is the sum of the weights of the
preferredDuringSchedulingIgnoredDuringExecution terms a node matches, normalized
to 0-100 over the feasible nodes (DefaultNormalizeScore). The matching itself is
`reconciler.api.node_affinity`'s, shared with the DaemonSet planner. Node labels
include `kubernetes.io/hostname`, `kubernetes.io/os` and `kubernetes.io/arch` (and
the beta aliases) as a kubelet sets them (control/nodes.py, from the engine).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.api.node_affinity import preferred_weight, required_affinity_matches
from reconciler.api.records import PodRecord
from reconciler.scheduling.nodeinfo import NodeInfo

REASON = "node(s) didn't match Pod's node affinity/selector"
MAX_NODE_SCORE = 100


def fits(pod: PodRecord, info: NodeInfo) -> list[str]:
    """The nodeSelector and the required node affinity both hold for the node's labels."""
    if required_affinity_matches(pod.spec, info.labels, info.node.name):
        return []
    return [REASON]


def normalize(raw: Sequence[int], reverse: bool = False) -> list[int]:
    """DefaultNormalizeScore: scale to 0-100 by the highest; `reverse` for lower is better."""
    highest = max(raw, default=0)
    if highest <= 0:
        return [MAX_NODE_SCORE if reverse else 0] * len(raw)
    scaled = [MAX_NODE_SCORE * r // highest for r in raw]
    return [MAX_NODE_SCORE - s for s in scaled] if reverse else scaled


def scores(pod: PodRecord, infos: Sequence[NodeInfo]) -> list[int]:
    """Per node, the preferred terms' weights it matches, normalized (all 0 without terms)."""
    return normalize([preferred_weight(pod.spec, i.labels, i.node.name) for i in infos])
