"""Shared fixtures: a Docker client for the local engine, the second Docker host, clean-up.

`docker_client` skips a test when no engine answers; `hostb` starts the second
engine in the `hostb` network namespace (scripts/hostb.sh) once per session and
skips with the reason when this machine cannot; `test_prefix` gives a test its
own container-name prefix, and everything labelled with it (or with
`reconciler.test=1` and that prefix) is removed after the test, on every engine
the test touched. `store_url` / `any_store` run a store test on SQLite and on a
PostgreSQL database of its own (`postgres_server`: one cluster per session).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException, NotFound

from reconciler.store import Store
from tests.support import machine_lock
from tests.support.postgres import Cluster, start_cluster

pytest_plugins = ["tests.support.file_order"]

ROOT = Path(__file__).resolve().parent.parent
TEST_LABEL = "reconciler.test"
LOCAL_URL = "unix:///var/run/docker.sock"
HOSTB_URL = "unix:///var/run/docker-hostb.sock"
HOSTB_ADDRESS = "10.250.0.2"


@dataclass(frozen=True)
class Host:
    """A Docker engine the tests can use: its URL and the address its ports publish on."""

    url: str
    address: str


def _client(url: str) -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=url, version="1.41", timeout=30)
        client.ping()
        return client
    except (DockerException, OSError):
        return None


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """The local engine; the test is skipped when none answers."""
    client = _client(LOCAL_URL)
    if client is None:
        pytest.skip("no Docker engine answers on " + LOCAL_URL)
    yield client
    client.close()


@pytest.fixture(scope="session")
def local_images(docker_client: docker.DockerClient) -> None:
    """reconciler/busybox:1 and reconciler/pause:1, built offline when missing."""
    from reconciler.runtime import images

    try:
        images.ensure_busybox_image(docker_client)
        images.ensure_infra_image(docker_client)
    except images.ImageBuildError as e:
        pytest.skip(str(e))


HOSTS_LOCK = "/tmp/reconciler-test-hosts.lock"


def host_script(script: str, action: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a test host's start/stop script under a machine-wide lock: the suite's workers
    (pytest-xdist) each have their own session and may start the same host at once."""
    fd = os.open(HOSTS_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return subprocess.run([script, action], capture_output=True, text=True,
                              timeout=timeout, check=False)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@pytest.fixture(scope="session")
def hostb(docker_client: docker.DockerClient, local_images: None) -> Iterator[Host]:
    """The second Docker host (network namespace hostb, 10.250.0.2), started by the suite."""
    run = host_script(str(ROOT / "scripts" / "hostb.sh"), "start", timeout=90)
    if run.returncode != 0:
        pytest.skip(f"second Docker host unavailable: {run.stderr.strip() or run.stdout.strip()}")
    client = _client(HOSTB_URL)
    if client is None:
        pytest.skip("second Docker host started but does not answer")
    client.close()
    yield Host(HOSTB_URL, HOSTB_ADDRESS)


def remove_labelled(url: str, labels: list[str]) -> int:
    """Force-remove the containers and volumes carrying all `labels` on one engine."""
    client = _client(url)
    if client is None:
        return 0
    removed = 0
    try:
        for c in client.containers.list(all=True, sparse=True, filters={"label": labels}):
            with contextlib.suppress(NotFound):
                client.api.remove_container(c.id, force=True, v=True)
                removed += 1
        for vol in client.api.volumes(filters={"label": labels}).get("Volumes") or []:
            with contextlib.suppress(NotFound):
                client.api.remove_volume(vol["Name"], force=True)
    finally:
        client.close()
    return removed


@pytest.fixture
def test_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A container-name prefix of this test's own; its containers are removed afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield prefix
    for url in (LOCAL_URL, HOSTB_URL):
        if Path(url[len("unix://"):]).exists():
            remove_labelled(url, [f"{TEST_LABEL}=1", f"io.reconciler.prefix={prefix}"])


HOSTC_SOCKET_URL = "unix:///var/run/docker-hostc.sock"
HOSTC_TLS_URL = "tcp://10.251.0.2:2376"
HOSTC_ADDRESS = "10.251.0.2"
HOSTC_TLS_DIR = Path("/var/lib/reconciler-test/hostc-tls")
HOSTC_SSH_BIN = Path("/var/lib/reconciler-test/hostc-ssh/bin")


@dataclass(frozen=True)
class TlsHost:
    """The third Docker host: its TLS engine URL, its address, its unix socket, the certs,
    and the folder of an `ssh` configured for ssh://root@ADDRESS ("" without an sshd)."""

    url: str
    address: str
    socket_url: str
    ca: str
    cert: str
    key: str
    ssh_bin: str = ""

    def tls(self) -> dict[str, object]:
        """The NodeRecord.tls of a client holding the client certificate."""
        return {"ca": self.ca, "cert": self.cert, "key": self.key, "verify": True}


@pytest.fixture(scope="session")
def hostc(docker_client: docker.DockerClient, local_images: None) -> Iterator[TlsHost]:
    """The TLS host (network namespace hostc, tcp://10.251.0.2:2376 with --tlsverify);
    started by the suite for the TLS tests only, stopped at the session's end."""
    script = str(ROOT / "scripts" / "hostc.sh")
    run = host_script(script, "start", timeout=90)
    if run.returncode != 0:
        pytest.skip(f"TLS Docker host unavailable: {run.stderr.strip() or run.stdout.strip()}")
    try:
        client = _client(HOSTC_SOCKET_URL)
        if client is None:
            pytest.skip("TLS Docker host started but does not answer")
        client.close()
        yield TlsHost(HOSTC_TLS_URL, HOSTC_ADDRESS, HOSTC_SOCKET_URL,
                      str(HOSTC_TLS_DIR / "ca.pem"), str(HOSTC_TLS_DIR / "client.pem"),
                      str(HOSTC_TLS_DIR / "client-key.pem"),
                      str(HOSTC_SSH_BIN) if (HOSTC_SSH_BIN / "ssh").exists() else "")
    finally:
        host_script(script, "stop", timeout=60)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Cluster]:
    """A PostgreSQL 15 cluster of this session (tests/support/postgres.py), stopped at the end.

    Skipped only when PostgreSQL is not installed; under `make test`
    (scripts/ensure-postgres.sh, RECONCILER_TEST_REQUIRE_POSTGRES=1) that fails instead.
    """
    cluster = start_cluster()
    if isinstance(cluster, str):
        if os.environ.get("RECONCILER_TEST_REQUIRE_POSTGRES"):  # set by `make test`
            pytest.fail(cluster)
        pytest.skip(cluster)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_server: Cluster) -> Iterator[str]:
    """The URL of an empty PostgreSQL database of this test's own, dropped afterwards."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives, once per database: a SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def any_store(store_url: str) -> Iterator[Store]:
    """An open store on each database in turn (`store_url`)."""
    s = Store.open(store_url)
    yield s
    s.close()


# The fault suite's report: how many crash points tests/faults/test_crash_points.py fired
# (issue 14 asks for the number, with 0 violations or the run has failed). Under
# pytest-xdist each worker sends its list to the controller, which prints the total.
_CRASH_POINTS: list[str] = []


def _exercised() -> list[str]:
    module = sys.modules.get("tests.faults.test_crash_points")
    return list(getattr(module, "EXERCISED", []))


_LOCK_HOLDS: list[tuple[str, float, float]] = []


# The machine-network chain is the suite's critical path (one worker, one test after
# another) on a machine whose two cores the other workers keep busy: their tests, and
# the services and CLIs they start, run at a lower CPU priority so the chain is never
# starved. Linux priorities are per thread and inherited by the processes it starts.
OTHER_TESTS_NICE = 5


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test: whether it may take the machine-wide network lock,
    and (under xdist) the CPU priority of its worker."""
    machine_lock.note_test(item)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        chain = machine_lock.marked_file(str(item.path))
        with contextlib.suppress(OSError):  # lowering it back needs CAP_SYS_NICE
            os.setpriority(os.PRIO_PROCESS, 0, 0 if chain else OTHER_TESTS_NICE)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker hands its exercised crash points and machine-lock times to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["crash_points"] = _exercised()
        workeroutput["lock_holds"] = [h.row() for h in machine_lock.HOLDS]


def pytest_testnodedown(node: object, error: object) -> None:
    """The controller gathers each worker's crash points and lock times (pytest-xdist hook)."""
    output = getattr(node, "workeroutput", {})
    _CRASH_POINTS.extend(output.get("crash_points", []))
    _LOCK_HOLDS.extend(tuple(hold) for hold in output.get("lock_holds", []))


def _lock_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The machine lock is the suite's one serial chain: how long it was held, and by whom."""
    holds = _LOCK_HOLDS + [h.row() for h in machine_lock.HOLDS]
    if not holds:
        return
    held = sum(h for _, _, h in holds if h > 0)
    waited = sum(w for _, w, _ in holds)
    terminalreporter.write_sep("-", "machine-wide network lock")
    terminalreporter.write_line(
        f"held {held:.0f} s in {len(holds)} takes, waited for {waited:.0f} s; longest holds:")
    for test, _, hold in sorted(holds, key=lambda h: -h[2])[:5]:
        terminalreporter.write_line(f"  {hold:6.1f} s  {test}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the crash points exercised in this run, when any were, and the lock's times."""
    _lock_summary(terminalreporter)
    points = _CRASH_POINTS + _exercised()
    if not points:
        return
    by = Counter(" ".join(point.split()[:2]) for point in points)
    detail = ", ".join(f"{k}: {n}" for k, n in sorted(by.items()))
    terminalreporter.write_sep("-", "crash points")
    terminalreporter.write_line(f"{len(points)} crash points exercised ({detail})")
