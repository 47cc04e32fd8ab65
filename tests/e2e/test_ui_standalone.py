"""The web dashboard end to end, with services of their own: `reconciler ui` alone, two hosts.

Beside test_ui.py (one shared service): `reconciler ui --state` on the store of
a service that has stopped, and a service on two real Docker engines (the
second in the hostb network namespace), both seen in headless Chromium.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.process_helpers import pod_yaml, rc_yaml
from tests.e2e.service import RECONCILER, ServiceRun, free_port, wait_until
from tests.e2e.ui_kit import Watched, chromium, is_up, table_keys

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


class TestStandalone:
    def test_ui_command_on_a_stopped_service(self, svc_factory: list[ServiceRun],
                                             browser: Any, tmp_path: Path) -> None:
        """`reconciler ui --state` serves the store of a service that has stopped."""
        run = ServiceRun(tmp_path, extra_env={"RECONCILER_NETWORK_PROXY_MODE": "off"})
        svc_factory.append(run)
        run.write("lonely.yaml",
                  pod_yaml("lonely", ["sh", "-c", "echo lonely-log; sleep 3600"], "app: l"))
        run.start()
        wait_until(lambda: run.running(), timeout=60, what="lonely running")
        assert run.stop() == 0
        address = f"127.0.0.1:{free_port()}"
        proc = subprocess.Popen([RECONCILER, "ui", "--state", str(run.state),
                                 "--address", address],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: is_up(f"http://{address}/healthz"), timeout=15, what="ui up")
            w = Watched(browser)
            w.page.goto(f"http://{address}/")
            assert "default/lonely" in table_keys(w.page, "main section tr[data-key]")
            w.page.goto(f"http://{address}/pods/default/lonely")
            # Pods outlive the service, so their logs are still there to show.
            assert "lonely-log" in w.page.locator("pre.logs").inner_text()
            w.shot("standalone-pod")
            assert w.errors == []
        finally:
            proc.terminate()
            proc.wait(10)

    def test_missing_store_is_an_error(self, tmp_path: Path) -> None:
        """`reconciler ui` on a store that does not exist fails at once, naming it."""
        run = subprocess.run([RECONCILER, "ui", "--state", str(tmp_path / "none.db"),
                              "--address", f"127.0.0.1:{free_port()}"],
                             capture_output=True, text=True, timeout=20, check=False)
        assert run.returncode != 0 and "none.db" in run.stderr


NODES = """\
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: local}
spec:
  engine: unix:///var/run/docker.sock
  address: 10.250.0.1
  capacity: {cpu: "2", memory: 2Gi}
---
apiVersion: reconciler.dev/v1
kind: Node
metadata: {name: hostb, labels: {disk: ssd}}
spec:
  engine: unix:///var/run/docker-hostb.sock
  address: 10.250.0.2
  capacity: {cpu: "2", memory: 2Gi}
"""


@pytest.mark.twohosts
class TestTwoHosts:
    def test_overview_bars_and_logs_across_hosts(self, svc_factory: list[ServiceRun],
                                                tmp_path: Path, hostb: Any,
                                                browser: Any) -> None:
        """Both nodes show Ready with their pods' CPU requests; a pod on hostb shows its logs."""
        run = ServiceRun(tmp_path, ui=True, extra_env={"RECONCILER_NETWORK_PROXY_MODE": "off"})
        svc_factory.append(run)
        run.write("nodes.yaml", NODES)
        rc = rc_yaml("spread", 4, ["sh", "-c", "echo spread-on-$(hostname); sleep 3600"]).replace(
            "        command:", "        resources: {requests: {cpu: 250m, memory: 64Mi}}\n"
                               "        command:")
        run.write("spread.yaml", rc)
        run.start()
        wait_until(lambda: len(run.running()) == 4, timeout=60, what="4 pods running")
        on_b = next(p["metadata"]["name"] for p in run.running()
                    if p["spec"]["nodeName"] == "hostb")
        w = Watched(browser)
        w.page.goto(run.ui_url + "/")
        cards = {n: w.page.locator(f"[data-node={n}]").inner_text() for n in ("local", "hostb")}
        for text in cards.values():
            assert "Ready" in text and "500m / 2000m" in text and "128Mi / 2048Mi" in text, cards
        assert w.page.locator(".fill.w25").count() == 2
        w.shot("overview-two-hosts")
        w.page.goto(run.ui_url + f"/pods/default/{on_b}")
        assert f"spread-on-{on_b}" in w.page.locator("pre.logs").inner_text()
        w.shot("pod-on-hostb")
        assert w.errors == []
