"""Logging set-up: the readable stderr format, journald priorities, idempotent set-up."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.service.logs import ReadableFormatter, set_log_level, setup_logging, under_journald


def record(level: int = logging.WARNING, msg: str = "pod %s crashed", **extra: object) -> \
        logging.LogRecord:
    r = logging.LogRecord("reconciler.control", level, __file__, 1, msg, ("web-1",), None)
    r.__dict__.update(extra)
    return r


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class TestReadableFormatter:
    def test_terminal_line_has_time_level_logger_and_extras(self) -> None:
        """In a terminal: HH:MM:SS LEVEL logger: message  key=value."""
        line = ReadableFormatter(journald=False).format(record(node="local"))
        time_, rest = line.split(" ", 1)
        assert len(time_) == 8 and time_.count(":") == 2
        assert rest == "WARNING reconciler.control: pod web-1 crashed  node=local"

    @pytest.mark.parametrize(("level", "prio"), [
        (logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3),
        (logging.CRITICAL, 2),
    ])
    def test_journald_lines_carry_syslog_priority(self, level: int, prio: int) -> None:
        """Under journald each line starts with <N> and has no timestamp of its own."""
        line = ReadableFormatter(journald=True).format(record(level))
        assert line.startswith(f"<{prio}>{logging.getLevelName(level)}")

    def test_traceback_lines_all_prefixed(self) -> None:
        """A traceback spans lines; under journald each keeps the priority."""
        try:
            raise ValueError("boom")
        except ValueError:
            r = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
            r.exc_info = sys.exc_info()
        lines = ReadableFormatter(journald=True).format(r).splitlines()
        assert len(lines) > 2 and all(ln.startswith("<3>") for ln in lines)
        assert lines[-1] == "<3>ValueError: boom"


class TestSetupLogging:
    def test_idempotent_and_level(self, restore_logging: None) -> None:
        """Calling it twice leaves one console handler; set_log_level changes only the level."""
        out = io.StringIO()
        setup_logging("warning", stream=out)
        setup_logging("info", stream=out)
        root = logging.getLogger()
        ours = [h for h in root.handlers if getattr(h, "_reconciler", False)]
        assert len(ours) == 1 and root.level == logging.INFO
        logging.getLogger("reconciler.x").info("hello")
        assert out.getvalue().count("hello") == 1
        set_log_level("error")
        logging.getLogger("reconciler.x").warning("quiet")
        assert "quiet" not in out.getvalue()
        assert [h for h in root.handlers if getattr(h, "_reconciler", False)] == ours

    def test_unknown_level(self, restore_logging: None) -> None:
        """A level name logging does not know is a ValueError."""
        with pytest.raises(ValueError, match="loud"):
            setup_logging("loud", stream=io.StringIO())

    def test_journal_stream_detection(self, tmp_path: Path) -> None:
        """JOURNAL_STREAM naming our stream's device:inode means journald."""
        with (tmp_path / "f").open("w") as f:
            st = os.fstat(f.fileno())
            assert under_journald(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
            assert not under_journald(f, {"JOURNAL_STREAM": f"{st.st_dev}:1"})
            assert not under_journald(f, {})
        assert not under_journald(io.StringIO(), {"JOURNAL_STREAM": "1:2"})
