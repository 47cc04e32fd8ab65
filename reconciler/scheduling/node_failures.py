"""Failures that belong to a node, fed back to the scheduler: tries, unbinding, avoidance.

The pod controller (`control/pods.py`) tells `NodeFailures` each time a bound
pod's sandbox could not be made on its node for a reason of the node's (its
address pool exhausted, the engine refusing, an image built for another
platform: `node_fault`). After `MAX_TRIES` such failures in a row, with
back-off between them (`backoff`), the controller unbinds the pod and the
scheduler places it again with that node filtered out (`fits`, reason
`REASON`) for `AVOID_SECONDS`. Kubernetes has no such loop (a kubelet never
gives a pod back); without it a pod bound to a full host is retried there
forever while another host has room (issue 20). Pure: the caller passes the
time; memory only (a restarted service starts counting again, which costs at
most `MAX_TRIES` more tries per pod).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.api.records import PodRecord
from reconciler.scheduling.nodeinfo import NodeInfo

MAX_TRIES = 3
AVOID_SECONDS = 300.0
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 10.0

REASON = "node(s) could not run the pod recently"

# What the engine says -> the cause named in the event. The order matters: the first
# match names the cause; a sandbox failure matching none is "the engine refused".
_CAUSES: tuple[tuple[str, str], ...] = (
    ("no available ipv4 addresses", "address pool exhausted"),
    ("no available ipv6 addresses", "address pool exhausted"),
    ("does not match the detected host platform", "image platform mismatch"),
    ("exec format error", "image platform mismatch"),
    ("no matching manifest for", "image platform mismatch"),
)
SANDBOX_FAILED = "FailedCreatePodSandBox"


def node_fault(reason: str, message: str) -> str:
    """The node's cause for an event (its reason and message), or "" when it is the pod's own."""
    text = message.lower()
    for needle, cause in _CAUSES:
        if needle in text:
            return cause
    if reason == SANDBOX_FAILED:
        return "the engine refused the pod sandbox"
    return ""


def backoff(tries: int) -> float:
    """Seconds before try `tries + 1`: 1, 2, 4 ... up to BACKOFF_MAX."""
    return float(min(BACKOFF_INITIAL * 2 ** max(tries - 1, 0), BACKOFF_MAX))


@dataclass
class NodeFailures:
    """Failures per (pod uid, node) and the nodes each pod avoids until when; thread-safe."""

    max_tries: int = MAX_TRIES
    avoid_seconds: float = AVOID_SECONDS
    _tries: dict[tuple[str, str], int] = field(default_factory=dict)
    _avoid: dict[str, dict[str, tuple[float, str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, uid: str, node: str) -> int:
        """Count one more failure of the pod on the node; the count so far."""
        with self._lock:
            count = self._tries.get((uid, node), 0) + 1
            self._tries[(uid, node)] = count
            return count

    def exhausted(self, tries: int) -> bool:
        """Whether the pod is to be given back after this many failures in a row."""
        return tries >= self.max_tries

    def succeeded(self, uid: str, node: str) -> None:
        """The pod's sandbox is up: failures before it no longer count."""
        with self._lock:
            self._tries.pop((uid, node), None)

    def unbound(self, uid: str, node: str, cause: str, now: float) -> None:
        """The pod left the node: avoid it for `avoid_seconds` from `now`."""
        with self._lock:
            self._tries.pop((uid, node), None)
            self._avoid.setdefault(uid, {})[node] = (now + self.avoid_seconds, cause)

    def avoided(self, uid: str, now: float) -> dict[str, str]:
        """The nodes the pod avoids at `now`, with the cause; expired ones are dropped."""
        with self._lock:
            nodes = self._avoid.get(uid)
            if not nodes:
                return {}
            live = {n: v for n, v in nodes.items() if v[0] > now}
            if live:
                self._avoid[uid] = live
            else:
                del self._avoid[uid]
            return {n: cause for n, (_until, cause) in live.items()}

    def forget(self, uid: str) -> None:
        """The pod is gone."""
        with self._lock:
            self._avoid.pop(uid, None)
            for key in [k for k in self._tries if k[0] == uid]:
                del self._tries[key]


def fits(pod: PodRecord, info: NodeInfo, avoided: Mapping[str, str] | Iterable[str]) -> list[str]:
    """A node the pod failed on lately is not tried again until its avoidance ends."""
    return [REASON] if info.node.name in avoided else []
