"""Rows of figures, goals and verdicts; percentiles; the printed table and the JSON file.

The pure half of the benchmarks: every benchmark module returns `Row`s, and
`bench/__main__.py` prints them with `table()` and writes them with `write_json()`.
Nothing here touches Docker or the service, so it is unit-tested in tests/unit.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class Goal:
    """A limit a figure must respect: `max` (at most) or `min` (at least)."""

    kind: Literal["max", "min"]
    limit: float

    def verdict(self, value: float | None) -> str:
        """"met", "missed by N%" (relative to the limit), or "not measured"."""
        if value is None or math.isnan(value):
            return "not measured"
        ok = value <= self.limit if self.kind == "max" else value >= self.limit
        if ok:
            return "met"
        if self.limit == 0:
            return "missed"
        off = abs(value - self.limit) / abs(self.limit) * 100
        return f"missed by {off:.0f}%"

    def text(self, unit: str) -> str:
        sign = "<=" if self.kind == "max" else ">="
        if unit == "x":
            return f"{sign} {fmt(self.limit)}x"
        return f"{sign} {fmt(self.limit)} {unit}".strip()


@dataclass(frozen=True)
class Row:
    """One figure of one benchmark, with the goal it is held to (if any) and a note.

    `failed` names a condition the figure needs and did not get (a command's non-zero
    exit, errors where none may be): the verdict is then "missed", whatever the value.
    """

    bench: str
    metric: str
    value: float | None
    unit: str = ""
    goal: Goal | None = None
    note: str = ""
    failed: str = ""

    @property
    def verdict(self) -> str:
        if self.goal and self.failed:
            return f"missed: {self.failed}"
        return self.goal.verdict(self.value) if self.goal else ""

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        return out


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def fmt(value: float | None) -> str:
    """A figure with about three significant digits; "-" for nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 100:
        return f"{value:,.0f}"
    if mag >= 10:
        return f"{value:.1f}"
    if mag >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(rows: Iterable[Row]) -> str:
    """The rows as an aligned text table (also valid Markdown)."""
    header = ("benchmark", "metric", "value", "goal", "verdict", "note")
    body = [(r.bench, r.metric, f"{fmt(r.value)} {r.unit}".strip(),
             r.goal.text(r.unit) if r.goal else "", r.verdict, r.note) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(b) for b in body)])


@dataclass(frozen=True)
class Target:
    """One figure of a goal table: the benchmark row that measures it (by metric prefix)."""

    figure: str
    bench: str
    prefix: str
    unit: str
    goal: Goal


# Issue 23's goal table, in its order; `summary` prints the rows of a run side by side.
ISSUE_23 = (
    Target("CPU per no-op resync pass, 1,000 manifests, 100 pods", "steady-state",
           "CPU per no-op resync pass", "ms", Goal("max", 50)),
    Target("edit -> first Docker call (its pod's create), p99 of 20", "steady-state",
           "edit -> create of its pod, p99", "ms", Goal("max", 200)),
    Target("burst of 20 pods to HTTP, pods/s vs SDK floor", "pod-cold-start",
           "burst: service pods/s vs floor", "x", Goal("min", 0.95)),
    Target("one pod at a time, p99 to HTTP", "pod-cold-start", "one at a time: p99", "ms",
           Goal("max", 400)),
    Target("RC 0 -> 20, compose time / ours", "replica-scale", "up 0 -> ", "x",
           Goal("min", 1.0)),
    Target("RC 20 -> 40, compose time / ours", "replica-scale", "up 20 -> ", "x",
           Goal("min", 1.0)),
    Target("SQL statements per new pod's first sync", "sql-per-pod",
           "SQL statements, a new pod's first sync", "", Goal("max", 4)),
    Target("1,000 pods on 2 hosts: peak RSS", "scale", "service peak RSS", "MiB",
           Goal("max", 150)),
    Target("1,000 pods on 2 hosts: `get pods`", "scale", "`reconciler get pods` (median", "ms",
           Goal("max", 300)),
    Target("idle CPU of the service with 1,000 pods", "scale", "service idle CPU",
           "% of a core", Goal("max", 1)),
)


def summary(rows: Sequence[Row], targets: Sequence[Target] = ISSUE_23) -> list[Row]:
    """One row per target, with the goal's figure and limit and the value of the first row
    of `rows` that measures it; a figure this run did not measure is "not measured"."""
    out = []
    for t in targets:
        found = next((r for r in rows if r.bench == t.bench and r.metric.startswith(t.prefix)
                      and r.value is not None), None)
        if found is None:
            out.append(Row("goal", t.figure, None, t.unit, t.goal,
                           f"no {t.bench} row '{t.prefix}...' in this run"))
        else:
            out.append(Row("goal", t.figure, found.value, t.unit, t.goal,
                           f"{found.bench}: {found.metric}", failed=found.failed))
    return out


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version()}


def write_json(rows: Sequence[Row], directory: Path, extra: dict[str, Any]) -> Path:
    """bench/results/<timestamp>.json and latest.json; returns the timestamped path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    doc = {"time": stamp, "machine": machine(), **extra, "rows": [r.as_json() for r in rows]}
    text = json.dumps(doc, indent=2)
    path = directory / f"{stamp}.json"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path
