"""EmbeddedProxy on a real store: `wake` makes it read the store now, not at its next poll."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from reconciler.api.records import PodRecord
from reconciler.network.embedded import EmbeddedProxy
from reconciler.store import Store
from tests.support.machine_lock import proxy_lock


class TestWake:
    def test_wake_reads_the_store_now(self, tmp_path: Path) -> None:
        """With a poll of a minute, a woken proxy sees a new pod within a second."""
        store = Store.open(str(tmp_path / "state.db"))
        with proxy_lock():
            embedded = EmbeddedProxy(store, "local", "userspace", dns_ip="", interval=60)
            try:
                store.upsert_pod(PodRecord(
                    uid="u1", namespace="default", name="p", spec={}, spec_hash="h",
                    created_at=datetime.now(UTC), node_name="local", pod_ip="172.17.0.99"))
                time.sleep(0.3)
                assert embedded.table is not None and embedded.table.pod_hosts == ()
                embedded.wake()
                deadline = time.monotonic() + 2
                while embedded.table.pod_hosts == () and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert embedded.table.pod_hosts == (("172.17.0.99", "local", ""),)
            finally:
                embedded.cleanup()
                store.close()
