"""Longest test files first: the suite's wall time on pytest-xdist workers, a file per worker.

`make test` runs `--dist loadfile`: xdist hands whole files to workers in collection
order, so a slow file collected last runs alone at the end while the other workers
idle. This plugin sorts the files by the time they took in an earlier run (longest
first, the classic longest-processing-time rule), keeping the order of the tests
inside each file. xdist's own reordering (files with the most tests first) must be
off for it to count: `--no-loadscope-reorder`. Under `--dist loadfile` this module's
scheduler replaces xdist's: files as above, except that the files marked
machine-network (tests/support/machine_lock.py) form one unit, first, on one worker.
The times live in tests/data/file_durations.json, written by `make test-durations`
from a run's per-test reports (the controller process sees every worker's); a file
missing from it counts as `UNKNOWN` seconds, so a new slow file is not pushed to the
very end.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from tests.support.machine_lock import marked_file

DURATIONS = Path(__file__).resolve().parent.parent / "data" / "file_durations.json"
UNKNOWN = 20.0  # seconds assumed for a file with no recorded time
_measured: Counter[str] = Counter()


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _known() -> dict[str, float]:
    try:
        data = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _grouped(item: pytest.Item) -> bool:
    return marked_file(str(item.path))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stable sort by file: the machine-network files first (they are one serial chain, it
    must start at once), then the longest recorded file first; tests within a file unmoved."""
    known = _known()
    first_seen = {f: i for i, f in reversed(list(enumerate(_file(it.nodeid) for it in items)))}
    items.sort(key=lambda it: (not _grouped(it), -known.get(_file(it.nodeid), UNKNOWN),
                               first_seen[_file(it.nodeid)]))


class FilesAndOneChain(LoadScopeScheduling):
    """`--dist loadfile`, except that every machine-network file goes to one worker: one
    unit of work, so that no other worker ever waits for the machine lock."""

    def __init__(self, config: pytest.Config, log: Any, rootdir: Path) -> None:
        super().__init__(config, log)
        self._rootdir = rootdir

    def _split_scope(self, nodeid: str) -> str:
        path = _file(nodeid)
        return "machine-network" if marked_file(str(self._rootdir / path)) else path


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    """Our scheduler for `--dist loadfile`; xdist's own for every other mode."""
    if config.getvalue("dist") != "loadfile":
        return None
    return FilesAndOneChain(config, log, config.rootpath)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Sum every phase's time per file (on the controller, reports come from all workers)."""
    _measured[_file(report.nodeid)] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the per-file times where RECONCILER_TEST_DURATIONS points, if it does."""
    target = os.environ.get("RECONCILER_TEST_DURATIONS")
    if not target or hasattr(session.config, "workerinput") or not _measured:
        return
    ordered = dict(sorted(((f, round(s, 1)) for f, s in _measured.items()),
                          key=lambda kv: -kv[1]))
    Path(target).write_text(json.dumps(ordered, indent=1) + "\n")
