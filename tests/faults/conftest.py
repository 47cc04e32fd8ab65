"""The fault suite's session report: how many crash points were exercised.

tests/faults/test_crash_points.py appends one entry per fired point to
`EXERCISED`; the summary prints the total and the count per controller and
fault, the number issue 14 asks for (with 0 violations, or the run has failed).
"""

from __future__ import annotations

from collections import Counter

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the crash points exercised in this session, when any were."""
    from tests.faults.test_crash_points import EXERCISED

    if not EXERCISED:
        return
    by = Counter(" ".join(point.split()[:2]) for point in EXERCISED)
    detail = ", ".join(f"{k}: {n}" for k, n in sorted(by.items()))
    terminalreporter.write_sep("-", "crash points")
    terminalreporter.write_line(f"{len(EXERCISED)} crash points exercised ({detail})")
