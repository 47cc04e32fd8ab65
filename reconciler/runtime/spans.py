"""Where one pod's start goes: monotonic spans per pod start, cheap enough to be always on.

The pod controller (control/pods.py) opens a trace when it first takes a pod that
has no container status yet (`begin`, with the time since the pod was written to
the store), then the controller and the node agent (agent.py, sandbox.py) each
close the step they just did with `mark(uid, span)`: the time since the previous
mark of that pod. The controller ends the trace after the status write of that
first sync (`end`). A finished trace goes to the `OBSERVERS` the composition root
registered (the /metrics histogram `reconciler_pod_start_span_seconds{span}`)
and to the debug log as one line that bench/podspans.py reads. A pod with no open
trace costs one dict lookup per mark; nothing here does I/O.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# The steps of a pod's first start, in the order they happen. "queued" is the store
# write to the controller picking the pod up; "total" covers queued to status write.
SPANS = (
    "queued", "schedule", "status_creating", "env", "list", "volumes", "sandbox_create",
    "sandbox_start", "sandbox_inspect", "image_check", "app_create", "app_start",
    "app_inspect", "status_write", "total",
)
# Open traces beyond this are dropped oldest first: a pod whose first sync never ends
# (its controller crashed mid-way) must not make the table grow for ever.
MAX_OPEN = 10_000

# Called with (span, seconds) for every span of every finished trace.
OBSERVERS: list[Callable[[str, float], None]] = []


class _Trace:
    __slots__ = ("last", "queued", "spans", "started")

    def __init__(self, queued: float, now: float) -> None:
        self.started = now
        self.last = now
        self.queued = queued
        self.spans: dict[str, float] = {}


class Tracer:
    """The open traces by pod uid; thread-safe (marks come from the loop's worker threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open: dict[str, _Trace] = {}
        self._lock = threading.Lock()

    def begin(self, uid: str, queued: float = 0.0) -> None:
        """Open the trace of a pod's first start; `queued`: seconds since its store write."""
        with self._lock:
            if len(self._open) >= MAX_OPEN:
                self._open.pop(next(iter(self._open)))
            self._open[uid] = _Trace(max(queued, 0.0), self._clock())

    def mark(self, uid: str, span: str) -> None:
        """Close step `span` of the pod's open trace (the time since its last mark), if any."""
        with self._lock:
            trace = self._open.get(uid)
            if trace is None:
                return
            now = self._clock()
            trace.spans[span] = trace.spans.get(span, 0.0) + now - trace.last
            trace.last = now

    def cancel(self, uid: str) -> None:
        """Drop an open trace: the start waits on something else (unschedulable, node down)."""
        with self._lock:
            self._open.pop(uid, None)

    def end(self, uid: str, span: str) -> dict[str, float] | None:
        """Mark `span`, close the trace and report it; its spans, or None when none was open."""
        with self._lock:
            trace = self._open.pop(uid, None)
            if trace is None:
                return None
            now = self._clock()
            trace.spans[span] = trace.spans.get(span, 0.0) + now - trace.last
        spans = {"queued": trace.queued, **trace.spans,
                 "total": trace.queued + now - trace.started}
        for name, seconds in spans.items():
            for observe in OBSERVERS:
                observe(name, seconds)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("pod start spans %s %s", uid, format_spans(spans))
        return spans

    def open_count(self) -> int:
        with self._lock:
            return len(self._open)


def format_spans(spans: dict[str, float]) -> str:
    """`name=1.234ms ...` in SPANS order (the debug line bench/podspans.py parses)."""
    order = {name: i for i, name in enumerate(SPANS)}
    ranked = sorted(spans.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    return " ".join(f"{name}={seconds * 1000:.3f}ms" for name, seconds in ranked)


def parse_spans(line: str) -> tuple[str, dict[str, float]] | None:
    """The uid and spans (seconds) of one `pod start spans` log line; None for other lines."""
    _, found, rest = line.partition("pod start spans ")
    if not found:
        return None
    uid, _, pairs = rest.strip().partition(" ")
    spans: dict[str, float] = {}
    for pair in pairs.split():
        name, _, value = pair.partition("=")
        if not value.endswith("ms"):
            continue
        try:
            spans[name] = float(value[:-2]) / 1000
        except ValueError:
            continue
    return uid, spans


# The service's one tracer: the controller and the agents of one process share it.
TRACER = Tracer()
begin = TRACER.begin
mark = TRACER.mark
cancel = TRACER.cancel
end = TRACER.end
