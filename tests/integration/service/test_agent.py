"""`reconciler agent` as systemd runs it: its unit file verifies, it notifies, it stops cleanly.

The agent runs in a network namespace of its own (`unshare --net`), so its proxy
touches no rule or address of this machine; its notifications reach a socket of
the test's by path. Its behaviour against PostgreSQL going away and coming back is
proven with real machines in tests/e2e/test_multihost.py.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.store import Store

REPO = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).parent / "reconciler"


def receive_until(sock: socket.socket, field: str) -> list[str]:
    """Notification lines up to the first datagram carrying `field` (5 s per datagram)."""
    lines: list[str] = []
    while True:
        datagram = sock.recv(4096).decode().split("\n")
        lines += datagram
        if field in datagram:
            return lines


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
class TestAgentUnit:
    def test_unit_file_verifies(self, tmp_path: Path) -> None:
        """systemd/reconciler-agent.service passes `systemd-analyze verify`."""
        text = (REPO / "systemd" / "reconciler-agent.service").read_text()
        unit = tmp_path / "reconciler-agent.service"
        unit.write_text(text.replace("/usr/local/bin/reconciler", str(SCRIPT)))
        done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == ""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare absent")
class TestAgentProcess:
    def test_ready_status_and_stopping(self, tmp_path: Path) -> None:
        """READY=1 with a status naming the store reachable; SIGTERM: STOPPING=1, exit 0."""
        state = tmp_path / "state.db"
        Store.open(str(state)).close()
        path = str(tmp_path / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(30)
            proc = subprocess.Popen(
                ["unshare", "--net", str(SCRIPT), "agent", "--node", "n1", "--state", str(state),
                 "--mode", "userspace", "--dns-ip", "", "--service-cidr", ""],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": path})
            try:
                lines = receive_until(sock, "READY=1")
                assert "STATUS=node n1: userspace mode, 0 services, store reachable" in lines
                proc.send_signal(signal.SIGTERM)
                assert "STOPPING=1" in receive_until(sock, "STOPPING=1")
                assert proc.wait(30) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)

    def test_missing_sqlite_store_is_an_error_not_a_wait(self, tmp_path: Path) -> None:
        """A store file that does not exist is a mistake: exit 1 at once, nothing created."""
        done = subprocess.run(
            ["unshare", "--net", str(SCRIPT), "agent", "--node", "n1",
             "--state", str(tmp_path / "nope.db"), "--dns-ip", ""],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "nope.db" in done.stderr
        assert not (tmp_path / "nope.db").exists()
