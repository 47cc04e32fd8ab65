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
    """One figure of one benchmark, with the goal it is held to (if any) and a note."""

    bench: str
    metric: str
    value: float | None
    unit: str = ""
    goal: Goal | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
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
