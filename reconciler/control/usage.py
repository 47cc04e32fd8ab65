"""Per-node sums of what the placed pods use, kept up to date one pod at a time.

Part of `reconciler.control.cache`: every pod the cache takes in or lets go
adds or subtracts its `Contribution` to its node's `NodeUsage`, so the
scheduler reads a node's requested cpu/memory, pod count, host ports and
owners without summing every pod per placement (today `scheduling.nodeinfo.
build_node_infos` does that sum; `node_info` gives the same `NodeInfo` from
the running totals). Which pods count, and how much, is the scheduler's own
rule: `counts_against_node`, `pod_requests` and its defaults, `host_ports`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reconciler.api.quantity import pod_requests
from reconciler.api.records import NodeRecord, PodRecord
from reconciler.api.taints import node_labels
from reconciler.scheduling.nodeinfo import (
    DEFAULT_MEMORY_REQUEST,
    DEFAULT_MILLI_CPU_REQUEST,
    HostPort,
    NodeInfo,
    counts_against_node,
    host_ports,
)


@dataclass(frozen=True)
class Contribution:
    """What one pod adds to its node's usage; None-equivalent pods contribute `ZERO`."""

    node: str = ""
    cpu: int = 0
    memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    ports: tuple[HostPort, ...] = ()
    owner: str = ""  # owner uid counted for spreading; "" when not counted
    pods: int = 0


ZERO = Contribution()


def contribution(pod: PodRecord) -> Contribution:
    """The pod's share of its node's usage, by the scheduler's rules (NodeInfo.add)."""
    if not counts_against_node(pod):
        return ZERO
    try:
        cpu, memory = pod_requests(pod.spec)
    except ValueError:
        # A quantity the validator should have refused: the cache must not fail a
        # write-through over it; the scheduler's own parse reports it.
        cpu = memory = 0
    # nonzero_requests, without parsing the spec a second time.
    nz_cpu, nz_memory = cpu or DEFAULT_MILLI_CPU_REQUEST, memory or DEFAULT_MEMORY_REQUEST
    owner = pod.owner.uid if pod.owner is not None and pod.deletion_timestamp is None else ""
    return Contribution(
        pod.node_name, cpu, memory, nz_cpu, nz_memory, tuple(host_ports(pod.spec)), owner, 1
    )


@dataclass(frozen=True)
class NodeUsage:
    """A snapshot of one node's totals (the cache hands out copies, never its own)."""

    requested_cpu: int = 0
    requested_memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    pods: int = 0
    used_ports: Counter[HostPort] = field(default_factory=Counter)
    owners: Counter[str] = field(default_factory=Counter)

    def node_info(self, node: NodeRecord) -> NodeInfo:
        """The scheduler's NodeInfo of `node` from these totals (what build_node_infos gives)."""
        return NodeInfo(
            node=node,
            labels=node_labels(node),
            requested_cpu=self.requested_cpu,
            requested_memory=self.requested_memory,
            nonzero_cpu=self.nonzero_cpu,
            nonzero_memory=self.nonzero_memory,
            used_ports=sorted(self.used_ports.elements()),
            owners=Counter(self.owners),
            pods=self.pods,
        )


class UsageTotals:
    """The running totals of every node; not thread-safe (the cache's lock covers it)."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Totals] = {}

    def apply(self, old: Contribution, new: Contribution) -> None:
        """Replace a pod's contribution `old` with `new` (ZERO for a pod added or removed)."""
        if old == new:
            return
        if old.pods:
            self._add(old, -1)
        if new.pods:
            self._add(new, +1)

    def clear(self) -> None:
        self._nodes.clear()

    def get(self, node: str) -> NodeUsage:
        totals = self._nodes.get(node)
        return NodeUsage() if totals is None else totals.snapshot()

    def all(self) -> dict[str, NodeUsage]:
        return {name: t.snapshot() for name, t in self._nodes.items()}

    def _add(self, c: Contribution, sign: int) -> None:
        totals = self._nodes.setdefault(c.node, _Totals())
        totals.cpu += sign * c.cpu
        totals.memory += sign * c.memory
        totals.nonzero_cpu += sign * c.nonzero_cpu
        totals.nonzero_memory += sign * c.nonzero_memory
        totals.pods += sign * c.pods
        for port in c.ports:
            _count(totals.ports, port, sign)
        if c.owner:
            _count(totals.owners, c.owner, sign)
        if not totals.pods:
            # The last pod left: drop the node so names of removed nodes do not pile up.
            del self._nodes[c.node]


def _count(counter: Counter[Any], item: object, sign: int) -> None:
    counter[item] += sign
    if not counter[item]:
        # A Counter keeps zero entries after subtraction; snapshots must not show them.
        del counter[item]


@dataclass
class _Totals:
    cpu: int = 0
    memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    pods: int = 0
    ports: Counter[HostPort] = field(default_factory=Counter)
    owners: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> NodeUsage:
        return NodeUsage(
            self.cpu, self.memory, self.nonzero_cpu, self.nonzero_memory, self.pods,
            Counter(self.ports), Counter(self.owners),
        )
