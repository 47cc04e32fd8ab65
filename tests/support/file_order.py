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
very end. Beside each run's times goes each file's CPU (`*.cpu.json`): the test process's
and that of the processes it waited for (services, CLI calls), not the Docker engine's.
On two cores the suite is bound by CPU, so that is the figure to cut.
"""

from __future__ import annotations

import json
import os
import resource
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from tests.support.machine_lock import marked_file

DURATIONS = Path(__file__).resolve().parent.parent / "data" / "file_durations.json"
UNKNOWN = 20.0  # seconds assumed for a file with no recorded time
_measured: defaultdict[str, float] = defaultdict(float)
_cpu: defaultdict[str, float] = defaultdict(float)
_cpu_mark = [0.0]  # this process's CPU (and its waited-for children's) at its last report


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


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime


def pytest_collection_finish(session: pytest.Session) -> None:
    """The CPU of start-up and collection is nobody's file."""
    _cpu_mark[0] = _cpu_seconds()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Each phase's report carries the CPU spent since the previous one, in the worker that
    ran it (user_properties travel to the controller under xdist)."""
    outcome = yield
    now = _cpu_seconds()
    outcome.get_result().user_properties.append(("cpu_s", now - _cpu_mark[0]))
    _cpu_mark[0] = now


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Sum every phase's time and CPU per file (on the controller, reports come from all
    workers)."""
    _measured[_file(report.nodeid)] += report.duration
    spent = [v for k, v in report.user_properties if k == "cpu_s" and isinstance(v, float)]
    _cpu[_file(report.nodeid)] += sum(spent)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the per-file times where RECONCILER_TEST_DURATIONS points, if it does."""
    target = os.environ.get("RECONCILER_TEST_DURATIONS")
    if not target or hasattr(session.config, "workerinput") or not _measured:
        return
    tables: tuple[tuple[Path, dict[str, float]], ...] = (
        (Path(target), dict(_measured)), (Path(target).with_suffix(".cpu.json"), _cpu))
    for path, table in tables:
        ordered = dict(sorted(((f, round(s, 1)) for f, s in table.items()), key=lambda kv: -kv[1]))
        path.write_text(json.dumps(ordered, indent=1) + "\n")
