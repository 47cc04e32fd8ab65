"""End to end: a folder source reports its applied revision (a content hash) in `get revision`
and the reconciler_applied_revision_* metrics, as a git source reports its SHA (issue 21)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.process_helpers import metric, scrape
from tests.e2e.service import ServiceRun, wait_until
from tests.support.fluent_receiver import free_port

pytestmark = [pytest.mark.docker]


def config_map(value: str) -> str:
    return ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
            f"data:\n  mode: {value!r}\n")


def applied(address: str) -> list[dict[str, str]]:
    """The labels of the reconciler_applied_revision_info samples of one scrape ([] while the
    endpoint does not answer yet)."""
    try:
        samples = scrape(address)
    except OSError:
        return []
    return [labels for labels, _ in samples.get("reconciler_applied_revision_info", [])]


class TestFolderRevision:
    @pytest.mark.timeout(150)
    def test_content_hash_as_revision(self, svc_factory: list[ServiceRun],
                                      tmp_path: Path) -> None:
        """The folder's hash is the applied revision; an edit gives a new one, a restart none."""
        address = f"127.0.0.1:{free_port()}"
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off"),
                         extra_env={"RECONCILER_METRICS_ADDRESS": address})
        svc_factory.append(run)
        run.write("settings.yaml", config_map("first"))
        run.start()
        first = wait_until(lambda: applied(address), 60, 0.5, what="a revision series")
        [labels] = first
        assert labels["revision"].startswith("folder:")
        assert labels["source"] == str(run.desired)
        assert metric(scrape(address), "reconciler_applied_revision_timestamp_seconds") > 1.7e9
        shown: dict[str, Any] = run.get_json("revision")
        assert shown["revision"] == labels["revision"]

        run.write("settings.yaml", config_map("second"))

        def changed() -> str | None:
            now = applied(address)
            return now[0]["revision"] if now and now[0] != labels else None

        second = wait_until(changed, 60, 0.5, what="a new revision after the edit")
        assert second.startswith("folder:") and second != labels["revision"]
        before = run.get_json("revision")
        assert before["revision"] == second

        # The same folder after a restart is the same revision, applied when it was.
        run.stop()
        run.start()
        wait_until(lambda: applied(address), 60, 0.5, what="the revision series again")
        assert run.get_json("revision") == before
