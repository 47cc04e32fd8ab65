"""Unit tests of the benchmark helpers: goals, percentiles, table, request and wrk parsing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.countproxy import Call, ops, parse_requests
from bench.proxy import parse_wrk
from bench.report import Goal, Row, Target, fmt, percentile, ratio, summary, table, write_json


class TestGoal:
    @pytest.mark.parametrize(("goal", "value", "verdict"), [
        (Goal("max", 3.0), 2.0, "met"),
        (Goal("max", 3.0), 3.0, "met"),
        (Goal("max", 3.0), 4.5, "missed by 50%"),
        (Goal("min", 0.9), 0.95, "met"),
        (Goal("min", 0.9), 0.45, "missed by 50%"),
        (Goal("min", 0.9), None, "not measured"),
        (Goal("max", 1.0), float("nan"), "not measured"),
    ])
    def test_verdict(self, goal: Goal, value: float | None, verdict: str) -> None:
        """A figure within the limit is met; otherwise the miss is relative to the limit."""
        assert goal.verdict(value) == verdict

    @pytest.mark.parametrize(("goal", "unit", "text"), [
        (Goal("min", 0.9), "x", ">= 0.9x"),
        (Goal("max", 300), "ms", "<= 300 ms"),
        (Goal("max", 1), "", "<= 1.00"),
    ])
    def test_text(self, goal: Goal, unit: str, text: str) -> None:
        """The goal column reads like the issue's goals."""
        assert goal.text(unit) == text


class TestPercentile:
    @pytest.mark.parametrize(("values", "q", "expected"), [
        ([1.0], 99, 1.0),
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([float(i) for i in range(1, 21)], 99, 20.0),
        ([float(i) for i in range(1, 21)], 50, 10.0),
    ])
    def test_nearest_rank(self, values: list[float], q: float, expected: float) -> None:
        """Nearest-rank: the value at ceil(q% of n), never an interpolation."""
        assert percentile(values, q) == expected

    def test_empty_is_nan(self) -> None:
        """No samples: NaN, which the table shows as "-"."""
        assert math.isnan(percentile([], 50))

    @given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1),
           st.floats(min_value=0, max_value=100))
    def test_is_a_sample_within_bounds(self, values: list[float], q: float) -> None:
        """The percentile is one of the samples, between the minimum and the maximum."""
        p = percentile(values, q)
        assert p in values and min(values) <= p <= max(values)


class TestRatioAndFormat:
    @pytest.mark.parametrize(("a", "b", "expected"), [
        (1.0, 2.0, 0.5), (1.0, 0.0, None), (None, 1.0, None), (float("nan"), 1.0, None)])
    def test_ratio(self, a: float | None, b: float | None, expected: float | None) -> None:
        """A ratio needs two real figures and a non-zero divisor."""
        assert ratio(a, b) == expected

    @pytest.mark.parametrize(("value", "text"), [
        (None, "-"), (0.0, "0"), (0.0703, "0.0703"), (2.02, "2.02"), (20.6, "20.6"),
        (5770.0, "5,770")])
    def test_fmt(self, value: float | None, text: str) -> None:
        """About three significant figures, thousands separated."""
        assert fmt(value) == text


class TestFailedRow:
    def test_failed_condition_misses_whatever_the_value(self) -> None:
        """A row whose condition failed (a non-zero exit) is missed even within its limit."""
        row = Row("validation", "validate", 1.0, "s", Goal("max", 3.0), failed="exit 1")
        assert row.verdict == "missed: exit 1"
        assert row.as_json()["verdict"] == "missed: exit 1"


class TestSummary:
    TARGETS = (Target("first figure", "a", "x p99", "ms", Goal("max", 200)),
               Target("second figure", "b", "y", "x", Goal("min", 1.0)))

    def test_goal_rows_side_by_side(self) -> None:
        """Each target takes the first row measuring it, under the goal's figure and limit."""
        rows = [Row("a", "x p50", 1.0, "ms"), Row("a", "x p99, 20 edits", 300.0, "ms"),
                Row("b", "y", 2.0, "x")]
        got = summary(rows, self.TARGETS)
        assert [(r.metric, r.value, r.verdict) for r in got] == [
            ("first figure", 300.0, "missed by 50%"), ("second figure", 2.0, "met")]

    def test_figure_not_run_is_not_measured(self) -> None:
        """A target no row of the run measures is printed as not measured, never dropped."""
        got = summary([Row("a", "x p99", 1.0, "ms")], self.TARGETS)
        assert got[1].metric == "second figure" and got[1].verdict == "not measured"

    def test_failed_condition_carries_over(self) -> None:
        """A measured row whose condition failed is missed in the summary too."""
        got = summary([Row("a", "x p99", 1.0, "ms", failed="exit 1")], self.TARGETS[:1])
        assert got[0].verdict == "missed: exit 1"


class TestTable:
    def test_columns_and_verdicts(self) -> None:
        """Every row is one line with its value, goal and verdict, under one header."""
        rows = [Row("validation", "load", 2.0, "s", Goal("max", 3.0)),
                Row("proxy", "userspace", 0.4, "x", Goal("min", 0.65), "33k vs 85k")]
        lines = table(rows).splitlines()
        assert lines[0].split("|")[1].strip() == "benchmark"
        assert len(lines) == 4
        assert "met" in lines[2] and "missed by 38%" in lines[3] and "33k vs 85k" in lines[3]

    def test_json_files(self, tmp_path: Path) -> None:
        """The timestamped file and latest.json hold the same rows, with their verdicts."""
        path = write_json([Row("b", "m", 1.0, "s", Goal("max", 2.0))], tmp_path, {"engine": "x"})
        doc = json.loads((tmp_path / "latest.json").read_text())
        assert json.loads(path.read_text()) == doc
        assert doc["rows"][0]["verdict"] == "met" and doc["engine"] == "x"


class TestParseRequests:
    def test_keep_alive_segment(self) -> None:
        """Several requests in one segment are each counted; the API version is dropped."""
        data = (b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                b"POST /v1.41/containers/" + b"a" * 64 + b"/stop?t=1 HTTP/1.1\r\n\r\n")
        calls = parse_requests(data, 1.0)
        assert [(c.method, c.path) for c in calls] == [
            ("GET", "/containers/json"), ("POST", "/containers/" + "a" * 64 + "/stop")]
        assert ops(calls) == {"GET /containers/json": 1, "POST /containers/{id}/stop": 1}

    def test_body_is_not_a_request(self) -> None:
        """A JSON body in the middle of a line is not taken for a request line."""
        assert parse_requests(b'{"Cmd": ["GET /x HTTP/1.1"]}', 0.0) == []

    def test_op_keeps_short_names(self) -> None:
        """Only id-like path parts (32+ hex digits) are folded into {id}."""
        assert Call(0.0, "GET", "/containers/web/json").op == "GET /containers/web/json"


class TestParseWrk:
    SAMPLE = """Running 3s test @ http://10.96.0.5:80/
  2 threads and 8 connections
  Latency Distribution
     50%  100.00us
     75%  150.00us
     90%  200.00us
     99%    2.79ms
  226473 requests in 3.00s, 17.28MB read
Requests/sec:  75491.20
Transfer/sec:      5.76MB
"""

    def test_fields(self) -> None:
        """Requests/s, p99 in ms and MiB/s come out of wrk's --latency report."""
        got = parse_wrk(self.SAMPLE)
        assert got.rps == pytest.approx(75491.2)
        assert got.p99_ms == pytest.approx(2.79)
        assert got.mb_s == pytest.approx(5.76)

    @pytest.mark.parametrize(("line", "ms"), [("99%  850.00us", 0.85), ("99%    1.20s", 1200.0)])
    def test_latency_units(self, line: str, ms: float) -> None:
        """us, ms and s are all converted to milliseconds."""
        text = self.SAMPLE.replace("99%    2.79ms", line)
        assert parse_wrk(text).p99_ms == pytest.approx(ms)
