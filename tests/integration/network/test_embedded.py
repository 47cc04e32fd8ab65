"""The proxies follow the store's change feed: writes of another process reach them without polls.

An `EmbeddedProxy` (what `reconciler run` embeds) and a `reconciler proxy`
subprocess, each with its safety-net poll set to an hour, on SQLite and
PostgreSQL. Another process writes the store; the test waits (generously) for the
proxy's table, its DNS answer and its acknowledgement row, and prints the
latency it saw (docs/network.md reports it; nothing asserts it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dnslib import DNSRecord

from reconciler.api.records import PodRecord
from reconciler.network import dnsproc
from reconciler.network.embedded import EmbeddedProxy
from reconciler.store import Store
from tests.support.machine_lock import MACHINE_NETWORK, proxy_lock

WAIT = 60.0  # generous: the machine is shared; the feed answers in milliseconds
RECONCILER = str(Path(sys.executable).with_name("reconciler"))

# A loaded machine: each writer is a new Python process.
pytestmark = [pytest.mark.timeout(300), MACHINE_NETWORK]
DNS_ADDR = "127.0.0.79"
DNS_PORT = 5399
CIP = "10.96.201.20"

WRITE_POD = """
import sys, time
from datetime import UTC, datetime
from reconciler.api.records import PodRecord
from reconciler.store import Store
s = Store.open(sys.argv[1])
s.upsert_pod(PodRecord(uid=sys.argv[2], namespace="default", name="p-" + sys.argv[2], spec={},
                       spec_hash="h", created_at=datetime.now(UTC), node_name="local",
                       pod_ip=sys.argv[3]))
print(time.time())
s.close()
"""

WRITE_SERVICE = """
import sys, time
from reconciler.api.types import DesiredObject, Key, Position
from reconciler.planning.diff import diff
from reconciler.store import Store
s = Store.open(sys.argv[1])
key = Key("Service", "default", "web")
body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
s.apply_plan(diff([DesiredObject(key, body, Position("web.yaml", 1), "h1")], s.recorded()))
s.set_status(key, {"type": "ClusterIP", "clusterIP": sys.argv[2], "ports": [{"port": 80}]})
print(time.time())
s.close()
"""

WRITE_ENDPOINTS = """
import sys, time
from reconciler.store import Store
s = Store.open(sys.argv[1])
s.set_endpoints("default", "web", [{"addresses": [{"ip": sys.argv[2]}], "ports": [{"port": 80}]}])
at = time.time()
print(s.endpoints_revision(), at)
s.close()
"""


def writer(script: str, *args: str) -> subprocess.Popen[str]:
    """Start `script` in a new Python process (its own store connection)."""
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            text=True)


def output(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    return out


def other_process(script: str, *args: str) -> str:
    """Run `script` in a new Python process to its end; its output."""
    return output(writer(script, *args))


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> float:
    """The wall-clock time `check()` was first seen to hold; fails after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
    return time.time()


def written(output: str) -> tuple[int, float]:
    """(endpoints revision, wall-clock time of the commit) a WRITE_ENDPOINTS printed."""
    revision, at = output.split()
    return int(revision), float(at)


def ask(name: str) -> list[str]:
    try:
        reply = DNSRecord.parse(DNSRecord.question(name, "A").send(DNS_ADDR, DNS_PORT,
                                                                   timeout=2))
    except OSError:
        return []
    return [str(rr.rdata) for rr in reply.rr]


def acked(store: Store, node: str) -> int:
    return next((a.revision for a in store.proxy_acks() if a.node == node), -1)


@pytest.fixture
def rundir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A run folder of the test's own, under the machine lock; its DNS servers ended."""
    folder = tmp_path / "run"
    monkeypatch.setenv("RECONCILER_RUN_DIR", str(folder))
    with proxy_lock():
        try:
            yield folder
        finally:
            if folder.exists():
                dnsproc.stop_all(folder)


class TestEmbeddedFeed:
    def test_writes_of_another_process_reach_table_dns_and_ack(
        self, store_url: str, rundir: Path
    ) -> None:
        """A pod, a Service and its Endpoints written elsewhere reach the proxy, DNS and its ack."""
        store = Store.open(store_url)
        embedded = EmbeddedProxy(store, "local", "userspace", dns_ip=DNS_ADDR,
                                 dns_port=DNS_PORT, interval=3600)
        try:
            assert embedded.table is not None and embedded.table.pod_hosts == ()
            before = acked(store, "local")
            # The proxy is watched while the writer runs: its exit is no part of the figure.
            proc = writer(WRITE_POD, store_url, "u1", "172.17.0.99")
            seen = wait_until(lambda: embedded.table is not None and embedded.table.pod_hosts
                              == (("172.17.0.99", "local", ""),), "the pod in the table")
            pod_s = seen - float(output(proc))
            proc = writer(WRITE_SERVICE, store_url, CIP)
            seen = wait_until(lambda: ask("web.default.svc.cluster.local") == [CIP],
                              "the service's name in DNS")
            dns_s = seen - float(output(proc))
            proc = writer(WRITE_ENDPOINTS, store_url, "172.17.0.99")
            seen = wait_until(lambda: acked(store, "local") > before, "the endpoints acknowledged")
            revision, committed = written(output(proc))
            assert acked(store, "local") >= revision
            ack_s = seen - committed
            # From the writer's commit to what the test saw (the test's own checks add up
            # to a few ms); the figures are reported in docs/network.md, never asserted.
            print(f"\n[{store.engine.url.get_backend_name()}] embedded, commit to: table "
                  f"{pod_s * 1000:.0f} ms, DNS answer {dns_s * 1000:.0f} ms, "
                  f"ack {ack_s * 1000:.0f} ms")
            assert embedded.errors == 0
        finally:
            embedded.cleanup()
            store.close()

    def test_close_forgets_the_acknowledgement(self, store_url: str, rundir: Path) -> None:
        """A proxy stopped on purpose removes its ack row: no drain waits for it."""
        store = Store.open(store_url)
        embedded = EmbeddedProxy(store, "local", "userspace", dns_ip="", interval=3600)
        try:
            assert acked(store, "local") >= 0
            embedded.close()
            assert acked(store, "local") == -1
        finally:
            embedded.cleanup()
            store.close()

    def test_only_changed_topics_are_read(
        self, store_url: str, rundir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Pod status writes read nothing; an Endpoints write reads the endpoints, not the pods."""
        store = Store.open(store_url)
        embedded = EmbeddedProxy(store, "local", "userspace", dns_ip="", interval=3600)
        try:
            store.upsert_pod(PodRecord(uid="u2", namespace="default", name="p2", spec={},
                                       spec_hash="h", created_at=datetime.now(UTC),
                                       node_name="local", pod_ip="172.17.0.98"))
            wait_until(lambda: embedded.table is not None and len(embedded.table.pod_hosts) == 1,
                       "the pod in the table")
            reads: list[str] = []

            def counted(name: str, real: Callable[..., object]) -> Callable[..., object]:
                def read(*args: object, **kwargs: object) -> object:
                    reads.append(name)
                    return real(*args, **kwargs)
                return read

            for name in ("list_pods", "list_endpoints", "list_nodes", "objects"):
                monkeypatch.setattr(store, name, counted(name, getattr(store, name)))
            pod = store.get_pod_by_uid("u2")
            assert pod is not None
            for phase in ("Running", "Succeeded", "Running"):
                pod.phase = phase
                store.patch_pod(pod, "status")
            store.set_endpoints("default", "web", [])  # a change it does read, after them
            wait_until(lambda: acked(store, "local") >= store.endpoints_revision(),
                       "the endpoints acknowledged")
            assert reads == ["list_endpoints"]
        finally:
            embedded.cleanup()
            store.close()


class TestProxyProcess:
    def test_reconciler_proxy_follows_and_acknowledges(self, store_url: str, rundir: Path) -> None:
        """`reconciler proxy` acknowledges each endpoints revision written by another process."""
        store = Store.open(store_url)
        store.close()
        log = rundir.parent / "proxy.log"
        rundir.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [RECONCILER, "proxy", "--node", "hostz", "--state", store_url,
                 "--mode", "userspace", "--dns-ip", "", "--service-cidr", "",
                 "--interval", "3600"],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
        store = Store.open(store_url)
        try:
            wait_until(lambda: acked(store, "hostz") >= 0 or proc.poll() is not None,
                       "the proxy's first acknowledgement")
            assert proc.poll() is None, log.read_text()
            latencies = []
            for ip in ("172.17.0.31", "172.17.0.32", "172.17.0.33"):
                before = acked(store, "hostz")
                job = writer(WRITE_ENDPOINTS, store_url, ip)
                seen = wait_until(lambda b=before: acked(store, "hostz") > b,  # type: ignore[misc]
                                  "the proxy's acknowledgement")
                revision, committed = written(output(job))
                assert acked(store, "hostz") >= revision
                latencies.append(seen - committed)
            print(f"\n[{store.engine.url.get_backend_name()}] reconciler proxy, commit to ack: "
                  + ", ".join(f"{s * 1000:.0f}" for s in latencies) + " ms")
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            assert acked(store, "hostz") == -1  # stopped on purpose: forgotten
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            store.close()
