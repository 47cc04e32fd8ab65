"""End to end: the running service forgets what it should and rotates container logs.

The real `reconciler run` (proxy off) on a store seeded with events older than the
TTL and more revisions than kept: its compaction job (every second here) deletes
them while a recent event stays; a pod's container logs to json-file with kubelet's
rotation (10 MiB x 5), as Docker reports it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import pytest

from reconciler.api.records import EventRecord
from reconciler.runtime import naming
from reconciler.store import Store
from tests.e2e.process_helpers import pod_yaml
from tests.e2e.service import ServiceRun, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(400)]


def event(name: str) -> EventRecord:
    return EventRecord("default", "Pod", name, "Normal", "Pulled", "seeded", "kubelet")


class TestRetentionInTheService:
    def test_compaction_runs_and_logs_rotate(
        self, svc_factory: list[ServiceRun], tmp_path: Path, docker_client: docker.DockerClient
    ) -> None:
        """Expired events and extra revisions go, a recent event stays, logs rotate."""
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off"), extra_env={
            "RECONCILER_RETENTION__INTERVAL": "1s",
            "RECONCILER_RETENTION__EVENT_TTL": "1h",
            "RECONCILER_RETENTION__REVISIONS": "3",
        })
        svc_factory.append(run)
        now = datetime.now(UTC)
        with Store.open(str(run.state)) as store:
            store.record_events([event(f"old-{i}") for i in range(50)],
                                now=now - timedelta(hours=2))
            store.record_event(event("recent"), now=now - timedelta(minutes=5))
            for i in range(10):
                store.set_revision(f"{i:040x}", "seeded", now=now - timedelta(hours=3))
        run.write("logger.yaml", pod_yaml("logger"))
        run.start(timeout=120)

        with Store.open(str(run.state), create=False) as store:

            def compacted() -> bool:
                names = {e.name for e in store.list_events() if e.message == "seeded"}
                return names == {"recent"} and len(store.revisions(100)) <= 3

            wait_until(compacted, timeout=120, what="the seeded events and revisions compacted")

        def log_config() -> dict[str, object] | None:
            for c in docker_client.containers.list(
                    all=True, filters={"label": f"{naming.PREFIX}={run.prefix}"}):
                if c.labels.get(naming.CONTAINER) == "main":
                    config: dict[str, object] = c.attrs["HostConfig"]["LogConfig"]
                    return config
            return None

        config = wait_until(log_config, timeout=120, what="the pod's container")
        assert config == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "5"}}
