"""End to end: `reconciler run --log-format json` writes one JSON object per line (issue 21)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.service import ServiceRun

pytestmark = [pytest.mark.docker]


class TestLogFormat:
    @pytest.mark.timeout(120)
    def test_json_lines(self, svc_factory: list[ServiceRun], tmp_path: Path) -> None:
        """Every line logged from start to stop parses as an object with level and message."""
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off", "--log-format", "json"))
        svc_factory.append(run)
        run.start()
        run.stop()
        lines = [ln for ln in run.output().splitlines() if ln.strip()]
        records = [json.loads(ln) for ln in lines]
        assert records and all({"time", "level", "logger", "message"} <= r.keys()
                               for r in records)
        assert any(r["message"].startswith("ready in") for r in records)
        assert any(r["message"].startswith("stopping") for r in records)

    @pytest.mark.timeout(120)
    def test_text_stays_the_default(self, svc_factory: list[ServiceRun], tmp_path: Path) -> None:
        """Without the flag the lines are text: LEVEL logger: message."""
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off"))
        svc_factory.append(run)
        run.start()
        run.stop()
        ready = [ln for ln in run.output().splitlines() if "ready in" in ln]
        assert ready and " reconciler.service: ready in" in ready[0]
        assert not ready[0].lstrip().startswith("{")
