"""`reconciler top pods|nodes`: usage figures from Docker's stats, as kubectl top prints them.

Part of the read side's presentation (`reconciler.views`); `reconciler.cli.top`
fetches one stats sample per container (`docker stats --no-stream`'s call) and
these pure functions turn samples into kubectl's cells: CPU in millicores from
the delta between the sample and the one before it, memory as the working set
(usage minus inactive file cache, as the kubelet and `docker stats` count it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.api.types import JSON


@dataclass(frozen=True)
class Usage:
    """What one container (or a sum of them) uses: millicores and working-set bytes."""

    cpu_milli: int = 0
    memory: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu_milli + other.cpu_milli, self.memory + other.memory)


def cpu_milli(stats: JSON) -> int:
    """Millicores over the sample's interval; 0 without a previous sample (a one-shot read)."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - \
        (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [1])
    if used <= 0 or system <= 0 or not pre.get("system_cpu_usage"):
        return 0
    return round(float(used) / float(system) * int(cpus) * 1000)


def working_set(stats: JSON) -> int:
    """Memory usage minus inactive file cache (cgroup v2 `inactive_file`, v1 `total_...`)."""
    mem = stats.get("memory_stats") or {}
    usage = int(mem.get("usage", 0))
    detail = mem.get("stats") or {}
    inactive = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    return max(0, usage - int(inactive)) if inactive < usage else usage


def usage(stats: JSON) -> Usage:
    return Usage(cpu_milli(stats), working_set(stats))


def total(usages: Iterable[Usage]) -> Usage:
    return sum(usages, Usage())


def cpu_text(milli: int) -> str:
    """CPU(cores): `12m`."""
    return f"{milli}m"


def memory_text(n: int) -> str:
    """MEMORY(bytes): `34Mi`, as kubectl rounds a quantity to Mi."""
    return f"{n // (1024 * 1024)}Mi"


def percent(part: int, whole: int) -> str:
    """`CPU%`/`MEMORY%`: whole percent; `<unknown>` without a capacity."""
    return f"{part * 100 // whole}%" if whole > 0 else "<unknown>"
