"""The dashboard's Deployment pages end to end: `reconciler run` on the real engine, in Chromium.

A service of its own (proxy off) runs the `web` Deployment of
tests/e2e/deployments_kit.py, rolled v1 -> v2 before the pages are opened;
test_ui.py's module keeps its own objects and counts. The pages are driven in
headless Chromium (ui_kit.py), one screenshot each in tests/artifacts/ui/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.e2e.deployments_kit import complete, sizes, web
from tests.e2e.service import ServiceRun, remove_all, wait_until
from tests.e2e.ui_kit import Watched, chromium, table_keys

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


def full_set(run: ServiceRun, replicas: int) -> str:
    """The ReplicaSet holding every replica of a completed rollout ("" before)."""
    full = [n for n, size in sizes(run).items() if size == replicas]
    return full[0] if complete(run, replicas) and len(full) == 1 else ""


@pytest.fixture(scope="module")
def rolled(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
           local_images: None) -> Iterator[tuple[ServiceRun, str, str]]:
    """The service with its dashboard; web rolled from v1 to v2 (the two sets' names)."""
    run = ServiceRun(tmp_path_factory.mktemp("ui-deploy"), ui=True,
                     args=("--proxy-mode", "off"))
    run.write("web.yaml", web("v1", 2))
    try:
        run.start()
        first = wait_until(lambda: full_set(run, 2), 120, 0.5, what="v1 rolled out")
        run.write("web.yaml", web("v2", 2))
        second = wait_until(lambda: (n := full_set(run, 2)) != first and n, 120, 0.5,
                            what="v2 rolled out")
        yield run, first, second
    finally:
        if run.proc is not None:
            run.stop()
        remove_all(run.prefix)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


class TestDeploymentPages:
    def test_list_and_overview(self, rolled: tuple[ServiceRun, str, str], browser: Any) -> None:
        """/deployments has kubectl's columns; the overview counts it among the controllers."""
        run, _, _ = rolled
        w = Watched(browser)
        w.page.goto(run.ui_url + "/deployments")
        headers = w.page.locator("main table thead th").all_inner_texts()
        # Every namespace is listed (no filter): NAMESPACE comes first, as with `get -A`.
        assert headers[:6] == ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        row = w.page.locator("tr[data-key='default/web']").inner_text().split()
        assert row[:5] == ["default", "web", "2/2", "2", "2"]
        w.shot("deployments")
        w.page.goto(run.ui_url + "/")
        row = w.page.locator("tr[data-key='Deployment/default/web']")
        assert [row.locator(c).inner_text() for c in (".desired", ".current", ".ready")] == \
            ["2", "2", "2"]
        assert w.errors == []

    def test_detail_shows_rollout_sets_and_pods(self, rolled: tuple[ServiceRun, str, str],
                                                browser: Any) -> None:
        """web's page: the finished rollout, both sets (new one first and marked), its pods."""
        run, first, second = rolled
        w = Watched(browser)
        w.page.goto(run.ui_url + "/deployments/default/web")
        status = w.page.locator("#rollout .rollout-status")
        assert status.inner_text() == 'deployment "web" successfully rolled out'
        assert "ok" in (status.get_attribute("class") or "")
        assert "2 of 2 updated" in w.page.locator("#rollout").inner_text()
        assert table_keys(w.page, "#replicasets tr[data-key]") == [f"default/{second}",
                                                                   f"default/{first}"]
        new_row = w.page.locator(f"#replicasets tr[data-key='default/{second}']").inner_text()
        assert new_row.split()[1:5] == ["2", "new", "2", "2"]
        pods = [k for k in table_keys(w.page) if k.startswith(f"default/{second}-")]
        assert len(pods) == 2
        assert "NewReplicaSet:   " + second in w.page.locator("pre.describe").inner_text()
        w.shot("deployment")
        # A set's page links back to its Deployment.
        w.page.click(f"#replicasets a[href$='/{first}']")
        w.page.wait_for_url(f"**/replicasets/default/{first}")
        w.page.click(".owners a")
        w.page.wait_for_url("**/deployments/default/web")
        assert w.errors == []

    def test_rollout_updates_without_reload(self, rolled: tuple[ServiceRun, str, str],
                                            browser: Any) -> None:
        """A new template while the page is open: a third set appears and completes live."""
        run, first, second = rolled
        w = Watched(browser)
        w.page.goto(run.ui_url + "/deployments/default/web")
        w.page.evaluate("window.notReloaded = 'still here'")
        run.write("web.yaml", web("v3", 2))
        w.page.wait_for_function(
            """() => document.querySelectorAll('#replicasets tr[data-key]').length === 3
                && document.querySelector('#rollout .rollout-status').textContent
                   === 'deployment "web" successfully rolled out'""", timeout=120_000)
        assert w.page.evaluate("window.notReloaded") == "still here"
        keys = table_keys(w.page, "#replicasets tr[data-key]")
        assert keys[1:] == [f"default/{second}", f"default/{first}"]
        w.shot("deployment-rolled")
        assert w.errors == []
