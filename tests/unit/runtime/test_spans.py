"""Pod start spans (reconciler/runtime/spans.py): marks, the end report, the log line."""

from __future__ import annotations

import logging

import pytest

from reconciler.runtime import spans
from reconciler.runtime.spans import Tracer, format_spans, parse_spans
from tests.support.clock import ManualClock


@pytest.fixture
def observed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    got: list[tuple[str, float]] = []
    monkeypatch.setattr(spans, "OBSERVERS", [lambda name, s: got.append((name, s))])
    return got


class TestTracer:
    def test_each_mark_takes_the_time_since_the_last(self, observed: list[tuple[str, float]]
                                                     ) -> None:
        """A mark closes the step since the previous mark; end adds queued and total."""
        clock = ManualClock(100.0)
        tracer = Tracer(clock)
        tracer.begin("u1", queued=0.5)
        clock.now += 0.1
        tracer.mark("u1", "schedule")
        clock.now += 0.25
        tracer.mark("u1", "sandbox_start")
        clock.now += 0.05
        got = tracer.end("u1", "status_write")
        assert got == pytest.approx({"queued": 0.5, "schedule": 0.1, "sandbox_start": 0.25,
                                     "status_write": 0.05, "total": 0.9})
        assert dict(observed) == pytest.approx(got)

    def test_a_repeated_span_adds_up(self, observed: list[tuple[str, float]]) -> None:
        """Two marks of one span (two lists in one sync) are summed."""
        clock = ManualClock(100.0)
        tracer = Tracer(clock)
        tracer.begin("u1")
        for _ in range(2):
            clock.now += 0.2
            tracer.mark("u1", "list")
        got = tracer.end("u1", "status_write")
        assert got is not None and got["list"] == pytest.approx(0.4)

    def test_marks_without_a_trace_are_ignored(self, observed: list[tuple[str, float]]) -> None:
        """A pod not being started (no begin) records nothing and reports nothing."""
        tracer = Tracer(ManualClock(100.0))
        tracer.mark("other", "list")
        assert tracer.end("other", "status_write") is None
        assert observed == [] and tracer.open_count() == 0

    def test_cancel_drops_the_trace(self, observed: list[tuple[str, float]]) -> None:
        """A start that waits (unschedulable, node down) is not reported."""
        tracer = Tracer(ManualClock(100.0))
        tracer.begin("u1")
        tracer.cancel("u1")
        assert tracer.end("u1", "status_write") is None and observed == []

    def test_open_traces_are_bounded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Starts that never end cannot grow the table past MAX_OPEN (oldest dropped)."""
        monkeypatch.setattr(spans, "MAX_OPEN", 3)
        tracer = Tracer(ManualClock(100.0))
        for i in range(5):
            tracer.begin(f"u{i}")
        assert tracer.open_count() == 3
        assert tracer.end("u0", "x") is None and tracer.end("u4", "x") is not None

    def test_end_logs_one_debug_line(self, observed: list[tuple[str, float]],
                                     caplog: pytest.LogCaptureFixture) -> None:
        """The finished trace is one debug line that parse_spans reads back."""
        clock = ManualClock(100.0)
        tracer = Tracer(clock)
        tracer.begin("u1", queued=0.002)
        clock.now += 0.7
        with caplog.at_level(logging.DEBUG, logger="reconciler.runtime.spans"):
            got = tracer.end("u1", "sandbox_start")
        [line] = [r.getMessage() for r in caplog.records]
        parsed = parse_spans(line)
        assert parsed is not None and parsed[0] == "u1"
        assert parsed[1] == pytest.approx(got, abs=1e-6)


class TestFormat:
    def test_spans_in_start_order(self) -> None:
        """The line lists spans in the order a start runs through them, total last."""
        text = format_spans({"total": 1.0, "app_start": 0.25, "queued": 0.001})
        assert text == "queued=1.000ms app_start=250.000ms total=1000.000ms"

    @pytest.mark.parametrize("line", ["INFO something else", "pod start spans",
                                      "DEBUG x: pod start spans u1 junk=12 list=abcms"])
    def test_parse_skips_what_is_not_a_span(self, line: str) -> None:
        """Other lines are None; malformed pairs are skipped."""
        parsed = parse_spans(line)
        assert parsed is None or parsed[1] == {}
