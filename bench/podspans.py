"""Benchmark pod-spans: where one pod's start goes, span by span (issue 23, "cheaper pod start").

The service (default configuration, but with debug logging: the spans' one line
per pod start is a debug line, and the service has almost no other debug
output) runs pause + busybox httpd pods written to its folder, first one at a
time (each after the last answered HTTP and its trace ended), then a burst of
20 at once. Every first start of a pod is traced by reconciler/runtime/spans.py
from the store write to the status write; the benchmark parses those lines from
the service's log and prints p50/p99 per span for each shape, the share of the
trace that is Docker creating and starting containers, the sandbox's share (what
a warm pool of infrastructure containers could save), and the manifest write ->
HTTP answer time around it (what the spans do not cover: the folder watch, the
desired pass, the app's own start).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

from bench.coldstart import pod_manifest, wait_pods
from bench.harness import DEFAULTS, PodWatch, client, service, wait_for, workdir, write_atomic
from bench.report import Row, percentile
from reconciler.runtime.spans import SPANS, parse_spans
from tests.e2e.service import ServiceRun

NAME = "pod-spans"
PODS = 20
# Docker's own work on a pod's critical path; the rest is ours (store, queue, checks).
DOCKER = ("sandbox_create", "sandbox_start", "app_create", "app_start")
SANDBOX = ("sandbox_create", "sandbox_start")
CONFIG = DEFAULTS.replace("info log", "debug log (for the span lines)")


def traces(run: ServiceRun) -> dict[str, dict[str, float]]:
    """uid -> spans (seconds) of every pod start the service has logged so far."""
    out: dict[str, dict[str, float]] = {}
    for line in run.output().splitlines():
        parsed = parse_spans(line)
        if parsed is not None:
            out[parsed[0]] = parsed[1]
    return out


def _shape(run: ServiceRun, names: list[str], at_once: bool) -> tuple[list[dict[str, float]],
                                                                       list[float]]:
    """Start `names` (all at once or one by one); their traces and write -> HTTP seconds."""
    before = set(traces(run))
    http: list[float] = []
    with contextlib.closing(client()) as dc, \
            contextlib.closing(PodWatch.of_service(dc, run.prefix)) as watch:
        for batch in [names] if at_once else [[n] for n in names]:
            started = time.monotonic()
            for name in batch:
                write_atomic(run.desired / f"{name}.yaml", pod_manifest(name))
            http.extend(wait_pods(watch, batch, started, 120).values())
            # The trace ends at the status write, which may come after the HTTP answer.
            want = len(before) + len(http)
            wait_for(lambda w=want: len(traces(run)) >= w, 60, 0.05,
                     what="the pods' span lines")
    found = traces(run)
    return [spans for uid, spans in found.items() if uid not in before], http


def span_rows(shape: str, found: Sequence[dict[str, float]], http: list[float]) -> list[Row]:
    """p50/p99 of each span, the Docker and sandbox shares, and write -> HTTP."""
    rows = []
    for span in SPANS:
        values = [t.get(span, 0.0) * 1000 for t in found]
        if not any(values):
            continue
        rows.append(Row(NAME, f"{shape}: {span}, p50", percentile(values, 50), "ms",
                        note=f"p99 {percentile(values, 99):.1f} ms, {len(values)} pods"))
    totals = [t.get("total", 0.0) for t in found]
    docker = [sum(t.get(s, 0.0) for s in DOCKER) for t in found]
    sandbox = [sum(t.get(s, 0.0) for s in SANDBOX) for t in found]
    if sum(totals) > 0:
        rows.append(Row(NAME, f"{shape}: Docker create/start share of total", 100 * sum(docker)
                        / sum(totals), "%", note="sandbox and app container create + start"))
        rows.append(Row(NAME, f"{shape}: sandbox create/start share of total", 100 * sum(sandbox)
                        / sum(totals), "%", note="what a warm pool could take off the path"))
    rows.append(Row(NAME, f"{shape}: manifest write -> HTTP, p50", percentile(http, 50) * 1000,
                    "ms", note=f"p99 {percentile(http, 99) * 1000:.0f} ms; {CONFIG}"))
    return rows


def run(args: Any = None) -> list[Row]:
    pods = 5 if getattr(args, "quick", False) else PODS
    with workdir("spans") as tmp, service(
            tmp, extra_env={"RECONCILER_LOG_LEVEL": "debug"}) as svc:
        one, one_http = _shape(svc, [f"one-{i}" for i in range(pods)], at_once=False)
        burst, burst_http = _shape(svc, [f"burst-{i}" for i in range(pods)], at_once=True)
    return [*span_rows("one at a time", one, one_http),
            *span_rows(f"burst of {pods}", burst, burst_http)]
